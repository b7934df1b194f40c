"""The command line: one module per command, each parsing options, calling the library and formatting
the result; ``common`` holds what they share (errors as one line, the config, exit codes).

Exit codes: 0 success, 1 any provscan error (one line naming the file and line at fault), 2 usage.
"""

from __future__ import annotations

import click

from provscan._version import __version__
from provscan.cli.diff import diff
from provscan.cli.hash import hash_command
from provscan.cli.merge import merge
from provscan.cli.report import report
from provscan.cli.sample import format_estimates, sample_command
from provscan.cli.scan import scan
from provscan.cli.show import show
from provscan.cli.verify import verify
from provscan.io.nopandas import keep_pandas_out
from provscan.machine import fit_pyarrow_pool

__all__ = ["cli", "main", "format_estimates"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="provscan")
def cli() -> None:
    """Dataset provenance scanner for image-text training corpora."""


for _command in (scan, show, merge, sample_command, hash_command, verify, report, diff):
    cli.add_command(_command)


def main() -> None:
    keep_pandas_out()
    fit_pyarrow_pool()
    cli(prog_name="provscan")
