"""A matcher stage in 20 lines: flag rows whose host is under a risky top-level domain.

To add it to provscan: save it as ``src/provscan/stages/tld.py`` and add one line to
``stages/plan.py``'s ``PLAN``:  ``Step("tld", "provscan.stages.tld:TldStage", lambda c, lists: True)``.
tests/test_stage_contract.py runs this file as written.
"""

from provscan.stages.base import BaseStage, BuildEnv, ShardContext


class TldStage(BaseStage):
    name = "tld"
    reads = ("raw",)  # the shard's rows with canonical host/path/query
    writes = ("hits",)  # it adds findings
    temp = ("tld_rows",)  # scratch, dropped by the runner after each shard
    stats = ("rows_risky_tld",)  # a counter in the shard's manifest entry
    TLDS = ("zip", "mov")

    @classmethod
    def build(cls, env: BuildEnv) -> "TldStage":
        return cls()

    def run(self, ctx: ShardContext) -> None:
        tlds = ", ".join(f"'{t}'" for t in self.TLDS)
        ctx.db.execute(f"CREATE TEMP TABLE tld_rows AS SELECT row, host FROM raw "
                       f"WHERE split_part(host, '.', -1) IN ({tlds})")
        ctx.add_findings("SELECT row, host AS entry FROM tld_rows", list="risky-tld", kind="domain", action="flag")
        ctx.stats.add("rows_risky_tld", int(ctx.db.scalar("SELECT count(*) FROM tld_rows")))
