"""``provscan sample`` (issue 10): range reads over loopback, the fake Hub, the estimators' coverage,
and equivalence with ``scan`` when every row is sampled."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import provscan
from provscan.cli import cli
from provscan.errors import ConfigError, OutputError, ShardError
from provscan.io.sparse import chunk_ranges
from provscan.net.ranged import FOOTER_PROBE, RangeNotSupported
from provscan.sampling.estimate import cluster_interval, rows_interval, t_quantile, wilson
from provscan.sampling.hub import parse_hub_path
from provscan.sampling.plan import Frame, plan_row_groups, plan_rows
from provscan.sampling.run import sample

from range_fixtures import HUB_SHA, serve

LOOPBACK = {"allow_cidrs": ("127.0.0.0/8",)}
ROWS, GROUP = 24_000, 2_000


def _dataset(n: int = ROWS, seed: int = 0) -> pa.Table:
    """LAION-like rows: 3 % on bad.example, a fifth CC-BY-NC, and a large incompressible caption
    column that a sample never needs (so range reads must stay far below the file size)."""
    rng = np.random.default_rng(seed)
    bad = rng.random(n) < 0.03
    urls = [f"http://{'bad' if b else 'ok'}.example/{i}/{rng.integers(1 << 30)}.jpg" for i, b in enumerate(bad)]
    return pa.table(
        {
            "URL": urls,
            "key": [f"{i:09d}" for i in range(n)],
            "LICENSE": np.where(rng.random(n) < 0.2, "CC-BY-NC-4.0", "CC-BY-4.0").tolist(),
            "TEXT": [rng.bytes(150).hex() for _ in range(n)],
        }
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, pa.Table]:
    root = tmp_path_factory.mktemp("ds")
    table = _dataset()
    path = root / "part-0.parquet"
    pq.write_table(table, path, compression="zstd", row_group_size=GROUP)
    return path, path.read_bytes(), table


@pytest.fixture
def blocklist(tmp_path: Path) -> Path:
    path = tmp_path / "bad.txt"
    path.write_text("# provscan-list: kind=domain name=bad\nbad.example\n", encoding="utf-8")
    return path


def _config(blocklist: Path, **kw) -> provscan.ScanConfig:
    return provscan.ScanConfig(
        lists=(provscan.ListSpec(blocklist),),
        licenses=provscan.LicenseConfig(flag=("CC-BY-NC-*",)),
        fetch_options=LOOPBACK,
        **kw,
    )


def _needed_bytes(meta: pq.FileMetaData, groups, columns=("URL", "key", "LICENSE")) -> int:
    return sum(n for _, n in chunk_ranges(meta, groups, columns))


def _check_rows(out: Path, table: pa.Table) -> pa.Table:
    """sample.parquet holds exactly the source's values at the rows it names."""
    got = pq.read_table(out / "sample.parquet")
    rows = got.column("row").to_numpy()
    assert got.column("URL").to_pylist() == table.column("URL").take(pa.array(rows)).to_pylist()
    assert got.column("LICENSE").to_pylist() == table.column("LICENSE").take(pa.array(rows)).to_pylist()
    assert "TEXT" not in got.column_names
    return got


# -- range reads ------------------------------------------------------------------------------


def test_row_group_sample_reads_only_footer_and_needed_chunks(data, blocklist, tmp_path) -> None:
    path, raw, table = data
    meta = pq.read_metadata(path)
    with serve() as srv:
        srv.files["part-0.parquet"] = raw
        result = sample(
            [f"{srv.base}/files/part-0.parquet"], _config(blocklist), row_groups=2, seed=3, output=tmp_path / "out"
        )
        sent = srv.bytes_sent
        ranges = [r for _, r, _ in srv.requests]
    est = result.estimates
    groups = sorted(
        {int(g) for g in np.unique(pq.read_table(tmp_path / "out/sample.parquet").column("row").to_numpy() // GROUP)}
    )
    assert len(groups) == 2 and est["sampled_rows"] == 2 * GROUP
    assert all(r is not None for r in ranges)  # never an unranged GET
    assert est["bytes_read"] == sent == est["sources"][0]["bytes_read"]
    assert sent <= FOOTER_PROBE + _needed_bytes(meta, groups)
    assert sent < len(raw) / 10
    assert est["sources"][0]["size"] == len(raw) and est["sources"][0]["etag"]
    assert result.manifest["sources"][0]["unplanned_reads"] == 0  # pyarrow read only what was prefetched
    assert result.manifest["sources"][0]["requests"] <= 1 + 2 * 3  # footer + (URL, key, LICENSE) x 2 groups
    _check_rows(tmp_path / "out", table)


def test_a_footer_larger_than_the_probe_is_fetched_once(tmp_path, blocklist) -> None:
    table = _dataset(3000, seed=1)
    path = tmp_path / "many.parquet"
    pq.write_table(table, path, row_group_size=5)  # 600 row groups: a footer of several hundred kB
    meta = pq.read_metadata(path)
    assert meta.serialized_size > FOOTER_PROBE
    with serve() as srv:
        srv.files["m.parquet"] = path.read_bytes()
        result = sample(
            [f"{srv.base}/files/m.parquet"], _config(blocklist), row_groups=3, seed=2, output=tmp_path / "out"
        )
        sent = srv.bytes_sent
    source = result.manifest["sources"][0]
    assert (
        source["unplanned_reads"] == 0 and source["requests"] == 2 + 3
    )  # two footer reads, then one merged range per row group (contiguous chunks)
    groups = sorted(set((pq.read_table(tmp_path / "out/sample.parquet").column("row").to_numpy() // 5).tolist()))
    assert sent <= meta.serialized_size + 8 + FOOTER_PROBE + _needed_bytes(meta, groups)
    _check_rows(tmp_path / "out", table)


def test_row_sample_reads_touched_row_groups_only(data, blocklist, tmp_path) -> None:
    path, raw, table = data
    meta = pq.read_metadata(path)
    with serve() as srv:
        srv.files["p.parquet"] = raw
        result = sample([f"{srv.base}/files/p.parquet"], _config(blocklist), rows=5, seed=1, output=tmp_path / "out")
        sent = srv.bytes_sent
    got = _check_rows(tmp_path / "out", table)
    groups = sorted(set((got.column("row").to_numpy() // GROUP).tolist()))
    assert got.num_rows == 5 and result.estimates["sampled_row_groups"] == len(groups)
    assert sent <= FOOTER_PROBE + _needed_bytes(meta, groups)
    assert sent < len(raw) / 3


def test_many_windows_over_several_sources(data, blocklist, tmp_path, monkeypatch) -> None:
    """One row group per window: the pipelined fetch (next window in flight) keeps every row right."""
    import provscan.sampling.read as read

    path, raw, table = data
    monkeypatch.setattr(read, "WINDOW_BYTES", 1)
    with serve() as srv:
        srv.files["a.parquet"] = srv.files["b.parquet"] = raw
        urls = [f"{srv.base}/files/a.parquet", str(path), f"{srv.base}/files/b.parquet"]
        result = sample(urls, _config(blocklist), rows=60, seed=8, output=tmp_path / "out")
    got = pq.read_table(tmp_path / "out/sample.parquet")
    assert got.num_rows == 60 and set(got.column("source").to_pylist()) == set(urls)
    rows = got.column("row").to_numpy()
    assert got.column("URL").to_pylist() == table.column("URL").take(pa.array(rows)).to_pylist()
    assert [s["unplanned_reads"] for s in result.manifest["sources"]] == [0, 0, 0]
    assert result.manifest["sources"][1]["requests"] is None and result.manifest["sources"][1]["bytes_read"] > 0


def test_redirects_keep_the_range_header(data, blocklist, tmp_path) -> None:
    path, raw, table = data
    with serve() as srv:
        srv.files["r.parquet"] = raw
        sample([f"{srv.base}/redirect/r.parquet"], _config(blocklist), row_groups=1, seed=0, output=tmp_path / "out")
        hops = [(p, r) for p, r, _ in srv.requests]
        sent = srv.bytes_sent
    assert any(p.startswith("/redirect/") for p, _ in hops)
    final = [r for p, r in hops if p.startswith("/files/")]
    assert final and all(r and r.startswith("bytes=") for r in final)
    assert sent < len(raw) / 5
    _check_rows(tmp_path / "out", table)


def test_server_ignoring_range_is_a_clear_error_unless_allowed(data, blocklist, tmp_path) -> None:
    _, raw, table = data
    with serve() as srv:
        srv.files["n.parquet"] = raw
        url = f"{srv.base}/norange/n.parquet"
        with pytest.raises(RangeNotSupported, match="ignores HTTP Range.*--allow-full-download"):
            sample([url], _config(blocklist), rows=10, output=tmp_path / "a")
        assert not (tmp_path / "a" / "manifest.json").exists()
        result = sample([url], _config(blocklist), rows=10, output=tmp_path / "b", allow_full_download=True)
    assert result.estimates["bytes_read"] == len(raw)
    assert result.manifest["allow_full_download"] is True and result.manifest["sources"][0]["full_download"]
    assert not (tmp_path / "b/.provscan/downloads").exists()  # the whole copy is not kept
    _check_rows(tmp_path / "b", table)


def test_cli_reports_range_refusal_in_one_line(data, blocklist, tmp_path) -> None:
    _, raw, _ = data
    with serve() as srv:
        srv.files["n.parquet"] = raw
        res = CliRunner().invoke(
            cli,
            [
                "sample",
                f"{srv.base}/norange/n.parquet",
                "--rows",
                "5",
                "-b",
                str(blocklist),
                "--allow-addresses",
                "127.0.0.0/8",
                "-o",
                str(tmp_path / "o"),
            ],
        )
    assert res.exit_code == 1
    assert "ignores HTTP Range" in res.output and "--allow-full-download" in res.output


def test_retries_429_and_5xx_with_backoff(data, blocklist, tmp_path, monkeypatch) -> None:
    import provscan.net.ranged as ranged

    monkeypatch.setattr(ranged, "BACKOFF", 0.01)
    _, raw, table = data
    with serve() as srv:
        srv.files["f.parquet"] = raw
        srv.flaky = 2
        sample([f"{srv.base}/flaky/f.parquet"], _config(blocklist), rows=3, output=tmp_path / "out")
        paths = [p for p, _, _ in srv.requests]
    assert len(paths) >= 3 and srv.flaky < 0  # a 429 and a 503 were answered, then the reads went through
    _check_rows(tmp_path / "out", table)


def test_a_server_that_keeps_failing_is_a_clear_error(data, blocklist, tmp_path, monkeypatch) -> None:
    import provscan.net.ranged as ranged

    _, raw, _ = data
    monkeypatch.setattr(ranged, "BACKOFF", 0.01)
    with serve() as srv:
        srv.files["f.parquet"] = raw
        srv.flaky = 100
        with pytest.raises(ShardError, match=r"HTTP (429|503) after 5 attempts"):
            sample([f"{srv.base}/flaky/f.parquet"], _config(blocklist), rows=3, output=tmp_path / "out")


def test_private_addresses_are_refused_without_allow(data, blocklist, tmp_path) -> None:
    _, raw, _ = data
    with serve() as srv:
        srv.files["p.parquet"] = raw
        config = provscan.ScanConfig(lists=(provscan.ListSpec(blocklist),))
        with pytest.raises(ShardError, match="refused.*--allow-addresses"):
            sample([f"{srv.base}/files/p.parquet"], config, rows=3, output=tmp_path / "out")
        assert srv.requests == []  # refused before connecting


def test_a_name_resolving_to_a_private_address_is_refused(tmp_path, blocklist) -> None:
    """The guard judges the resolved address, not the name (stub resolver: no real DNS)."""

    class Stub:
        async def resolve(self, host: str, port: int) -> list[str]:
            return ["10.1.2.3"]

    config = provscan.ScanConfig(lists=(provscan.ListSpec(blocklist),))
    with pytest.raises(ShardError, match="refused.*10.1.2.3 is private"):
        sample(["https://data.example/part-0.parquet"], config, rows=3, output=tmp_path / "o", resolver=Stub())


# -- the fake Hub ----------------------------------------------------------------------------


def _hub_env(monkeypatch: pytest.MonkeyPatch, srv, tmp_path: Path, token: str | None = "hf_secret") -> None:
    """Point huggingface_hub at the loopback Hub: HF_ENDPOINT for provscan, and the library's
    import-time ENDPOINT too (it fetches an agent registry from there), HF_HOME in tmp."""
    pytest.importorskip("huggingface_hub", reason="the hf extra (pip install 'provscan[hf]') is not installed")
    import huggingface_hub.constants

    monkeypatch.setenv("HF_ENDPOINT", srv.base)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", srv.base)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    else:
        monkeypatch.delenv("HF_TOKEN", raising=False)


def test_hf_dataset_is_listed_resolved_and_range_read(data, blocklist, tmp_path, monkeypatch) -> None:
    _, raw, table = data
    with serve() as srv:
        srv.files["a.parquet"] = raw
        srv.files["b.parquet"] = raw
        srv.hub_files = {
            "data/train-0.parquet": "a.parquet",
            "data/train-1.parquet": "b.parquet",
            "README.md": "a.parquet",
        }
        _hub_env(monkeypatch, srv, tmp_path)
        result = sample(
            ["hf://datasets/org/name/data/*.parquet"], _config(blocklist), row_groups=2, seed=5, output=tmp_path / "out"
        )
        requests = list(srv.requests)
        sent = srv.bytes_sent
    names = [s["source"] for s in result.estimates["sources"]]
    assert names == [
        f"hf://datasets/org/name@{HUB_SHA}/data/train-0.parquet",
        f"hf://datasets/org/name@{HUB_SHA}/data/train-1.parquet",
    ]
    assert result.estimates["population_rows"] == 2 * ROWS
    assert any(p.startswith(f"/datasets/org/name/resolve/{HUB_SHA}/") for p, _, _ in requests)
    api_auth = {a for p, _, a in requests if p.startswith("/api/datasets/")}
    assert api_auth == {"Bearer hf_secret"}
    assert all(r is not None for p, r, _ in requests if p.startswith("/files/"))
    assert sent < 2 * len(raw) / 5
    got = pq.read_table(tmp_path / "out/sample.parquet")
    assert set(got.column("source").to_pylist()) <= set(names)


def test_hf_token_does_not_follow_a_redirect_to_another_host(data, blocklist, tmp_path, monkeypatch) -> None:
    _, raw, _ = data
    with serve() as srv:
        srv.files["a.parquet"] = raw
        srv.hub_files = {"train.parquet": "a.parquet"}
        srv.redirect_host = "localhost"  # the "CDN": same server, another host name
        _hub_env(monkeypatch, srv, tmp_path)
        sample(["hf://datasets/org/name"], _config(blocklist), rows=3, output=tmp_path / "out")
        requests = list(srv.requests)
    resolve = [a for p, _, a in requests if p.startswith("/datasets/")]
    cdn = [a for p, _, a in requests if p.startswith("/files/")]
    assert resolve and set(resolve) == {"Bearer hf_secret"}
    assert cdn and set(cdn) == {None}


def test_hf_unknown_dataset_is_a_shard_error(tmp_path, monkeypatch) -> None:
    with serve() as srv:
        _hub_env(monkeypatch, srv, tmp_path, token=None)
        with pytest.raises(ShardError, match="hf://datasets/nobody/nothing: cannot list"):
            sample(
                ["hf://datasets/nobody/nothing"],
                provscan.ScanConfig(fetch_options=LOOPBACK),
                rows=1,
                output=tmp_path / "o",
            )


@pytest.mark.parametrize(
    ("text", "repo", "rev", "path"),
    [
        ("hf://datasets/o/n", "o/n", None, ""),
        ("hf://datasets/o/n@v1.0/data/*.parquet", "o/n", "v1.0", "data/*.parquet"),
        (
            "hf://datasets/o/n@refs/convert/parquet/default/train/0000.parquet",
            "o/n",
            "refs/convert/parquet",
            "default/train/0000.parquet",
        ),
        ("hf://datasets/o/n@refs%2Fconvert%2Fparquet/default", "o/n", "refs/convert/parquet", "default"),
    ],
)
def test_hub_paths(text, repo, rev, path) -> None:
    got = parse_hub_path(text)
    assert (got.repo, got.revision, got.path) == (repo, rev, path)


def test_bad_hub_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_hub_path("hf://datasets/only-org")


# -- plans and estimators --------------------------------------------------------------------


def test_plans_are_seeded_without_replacement_and_cover_every_source() -> None:
    frame = Frame.of([[100, 100, 50], [0, 200]])
    a, b = plan_rows(frame, 120, 9), plan_rows(frame, 120, 9)
    assert np.array_equal(a.row, b.row) and np.array_equal(a.source, b.source)
    keys = set(zip(a.source.tolist(), a.row.tolist()))
    assert len(keys) == 120
    assert all(0 <= r < (250 if s == 0 else 200) for s, r in keys)
    assert np.array_equal(a.row_in_group + np.array([[0, 100, 200], [0, 0, 0]])[a.source, a.row_group], a.row)
    full = plan_rows(frame, 10_000, 0)
    assert full.rows == 450
    groups = plan_row_groups(frame, 2, 4)
    assert groups.rows == int(groups.cluster_rows.sum()) and groups.clusters == 2


def _coverage(labels: np.ndarray, frame: Frame, mode: str, size: int) -> int:
    truth = labels.mean()
    covered = 0
    for seed in range(100):
        if mode == "rows":
            plan = plan_rows(frame, size, seed)
            iv = rows_interval(int(labels[plan.row].sum()), plan.rows, frame.rows)
        else:
            plan = plan_row_groups(frame, size, seed)
            y = np.bincount(plan.cluster, weights=labels[plan.row], minlength=plan.clusters)
            iv = cluster_interval(y, plan.cluster_rows, frame.row_groups)
        covered += iv.low <= truth <= iv.high
    return covered


def test_intervals_cover_a_planted_three_percent_share() -> None:
    rng = np.random.default_rng(2026)
    frame = Frame.of([[1000] * 200])
    labels = np.zeros(frame.rows, bool)
    labels[rng.choice(frame.rows, frame.rows * 3 // 100, replace=False)] = True
    assert _coverage(labels, frame, "rows", 1000) >= 90
    assert _coverage(labels, frame, "row-groups", 20) >= 90


def test_cluster_interval_stays_honest_when_rows_cluster() -> None:
    """A share that lives in a few row groups: Wilson on the rows would claim far too much."""
    rng = np.random.default_rng(7)
    frame = Frame.of([[1000] * 200])
    prevalence = rng.beta(0.6, 0.6 * 97 / 3, 200)
    labels = np.concatenate([rng.random(1000) < p for p in prevalence])
    assert _coverage(labels, frame, "row-groups", 20) >= 90
    naive = 0
    for seed in range(100):
        plan = plan_row_groups(frame, 20, seed)
        iv = rows_interval(int(labels[plan.row].sum()), plan.rows, frame.rows)
        naive += iv.low <= labels.mean() <= iv.high
    assert naive < 60


def test_interval_edges() -> None:
    exact = rows_interval(30, 1000, 1000)
    assert exact.low == exact.high == exact.share == 0.03
    none = rows_interval(0, 1000, 10**9)
    assert none.low == 0 and 0 < none.high < 0.005
    one = cluster_interval(np.array([5]), np.array([100]), 10)
    assert (one.low, one.high) == (0.0, 1.0)  # one row group of ten: no between-group variation to go on
    every = cluster_interval(np.array([1, 2]), np.array([10, 10]), 2)
    assert every.low == every.high == 0.15
    low, high = wilson(5, 100)
    assert 0.02 < low < 0.05 < high < 0.12
    assert (
        abs(t_quantile(1) - 12.7062) < 1e-3
        and abs(t_quantile(10) - 2.2281) < 1e-3
        and abs(t_quantile(30) - 2.0423) < 1e-3
    )


# -- the whole run -----------------------------------------------------------------------------


def _findings(path: Path) -> set[tuple]:
    t = pq.read_table(path)
    return set(
        zip(
            *(
                t.column(c).to_pylist()
                for c in ("shard", "row", "id", "url", "url_sha256", "list", "kind", "entry", "action", "detail")
            )
        )
    )


def test_sampling_every_row_finds_what_scan_finds(tmp_path, blocklist) -> None:
    table = _dataset(3000, seed=4)
    md5 = [f"{i:032x}" for i in range(3000)]
    table = table.append_column("md5", pa.array(md5))
    shard = tmp_path / "s.parquet"
    pq.write_table(table, shard, row_group_size=700)
    hashes = tmp_path / "md5.txt"
    hashes.write_text("# provscan-list: kind=image-md5 name=known\n" + "\n".join(md5[::97]) + "\n", encoding="utf-8")
    config = _config(blocklist)
    config = config.with_overrides(lists=(*config.lists, provscan.ListSpec(hashes)))
    scanned = provscan.scan([str(shard)], config, output=tmp_path / "scan", export=False)
    result = sample([str(shard)], config, rows=3000, seed=11, output=tmp_path / "sample")
    expected = _findings(tmp_path / "scan/flagged.parquet")
    assert expected and _findings(tmp_path / "sample/flagged.parquet") == expected
    by = {(e["dimension"], e["value"]): e for e in result.estimates["estimates"]}
    assert by[("list", "bad")]["sampled"] == scanned.summary["rows_by_list"]["bad"]
    assert by[("list", "bad")]["share_low"] == by[("list", "bad")]["share_high"]  # every row seen: no interval
    assert by[("license", "CC-BY-NC-4.0")]["sampled"] == scanned.summary["licenses_by_id"]["CC-BY-NC-4.0"]
    assert by[("license", "CC-BY-4.0")]["rows"] == scanned.summary["licenses_by_id"]["CC-BY-4.0"]
    assert by[("kind", "image-md5")]["sampled"] == len(md5[::97])


def test_hash_columns_are_read_only_when_a_list_needs_them(tmp_path, blocklist) -> None:
    shard = tmp_path / "h.parquet"
    pq.write_table(_dataset(500).append_column("md5", pa.array([f"{i:032x}" for i in range(500)])), shard)
    sample([str(shard)], _config(blocklist), rows=50, output=tmp_path / "a")
    assert "md5" not in pq.read_schema(tmp_path / "a/sample.parquet").names
    sample(
        [str(shard)], _config(blocklist, fetch=False, hash_columns={"image-md5": "md5"}), rows=50, output=tmp_path / "b"
    )
    assert "md5" in pq.read_schema(tmp_path / "b/sample.parquet").names


def test_outputs_manifest_and_reproducibility(tmp_path, blocklist, data) -> None:
    path, _, _ = data
    a = sample([str(path)], _config(blocklist), rows=400, seed=2, output=tmp_path / "a")
    b = sample([str(path)], _config(blocklist), rows=400, seed=2, output=tmp_path / "b")
    c = sample([str(path)], _config(blocklist), rows=400, seed=3, output=tmp_path / "c")
    assert (
        a.manifest["files"]["sample.parquet"]
        == b.manifest["files"]["sample.parquet"]
        != c.manifest["files"]["sample.parquet"]
    )
    assert set(a.manifest["files"]) == {
        "sample.parquet",
        "flagged.parquet",
        "summary.json",
        "estimates.json",
        "report.html",
        "datacard.md",
    }
    assert a.manifest["lists"][0]["sha256"] and a.manifest["seed"] == 2 and a.manifest["mode"] == "rows"
    assert a.manifest["sources"][0]["rows"] == ROWS and a.manifest["sources"][0]["bytes_read"] > 0
    est = a.estimates
    assert {
        "mode",
        "seed",
        "confidence",
        "population_rows",
        "sampled_rows",
        "sampled_row_groups",
        "population_row_groups",
        "sources",
        "bytes_read",
        "estimates",
    } <= set(est)
    bad = next(e for e in est["estimates"] if e["dimension"] == "list" and e["value"] == "bad")
    assert bad["share_low"] <= 0.03 <= bad["share_high"] and bad["rows_low"] <= bad["rows"] <= bad["rows_high"]
    assert {e["dimension"] for e in est["estimates"]} == {"list", "kind", "action", "license"}
    flagged = pq.read_table(tmp_path / "a/flagged.parquet")
    assert set(flagged.column("shard").to_pylist()) == {str(path)}
    assert set(flagged.column("entry").to_pylist()) <= {"bad.example", "CC-BY-NC-4.0"}  # unflagged licences left out


def test_fetch_statuses_are_estimated_and_mapped_to_source_rows(tmp_path, blocklist) -> None:
    with serve() as srv:
        srv.files["ok.bin"] = b"not an image"
        urls = [f"{srv.base}/files/{'ok.bin' if i % 4 else 'missing'}" for i in range(200)]
        shard = tmp_path / "f.parquet"
        pq.write_table(pa.table({"URL": urls}), shard, row_group_size=50)
        result = sample([str(shard)], _config(blocklist, fetch=True), rows=40, seed=1, output=tmp_path / "out")
    fetched = pq.read_table(tmp_path / "out/fetch.parquet")
    assert fetched.num_rows == 40 and set(fetched.column("shard").to_pylist()) == {str(shard)}
    for row, status in zip(fetched.column("row").to_pylist(), fetched.column("status").to_pylist()):
        assert (status == "http_404") == (row % 4 == 0)
    statuses = {e["value"]: e for e in result.estimates["estimates"] if e["dimension"] == "fetch_status"}
    assert statuses["http_404"]["sampled"] == sum(1 for r in fetched.column("row").to_pylist() if r % 4 == 0)
    unknown = next(e for e in result.estimates["estimates"] if e["dimension"] == "license")
    assert (unknown["value"], unknown["share"], unknown["rows"]) == ("unknown", 1.0, 200)  # no licence column
    again = sample([str(shard)], _config(blocklist), rows=40, seed=1, output=tmp_path / "out")  # same OUT, no --fetch
    assert not (tmp_path / "out/fetch.parquet").exists()
    assert "fetch_status" not in {e["dimension"] for e in again.estimates["estimates"]}


def test_consent_signals_are_estimated(tmp_path, blocklist) -> None:
    with serve() as srv:
        srv.files["a.jpg"] = srv.files["optout.jpg"] = b"x"
        srv.extra_headers["optout.jpg"] = {"X-Robots-Tag": "noai"}
        urls = [f"{srv.base}/files/{'optout.jpg' if i % 5 == 0 else 'a.jpg'}" for i in range(100)]
        shard = tmp_path / "c.parquet"
        pq.write_table(pa.table({"URL": urls}), shard, row_group_size=25)
        config = _config(blocklist).with_overrides(consent=provscan.ConsentConfig(check=True))
        result = sample([str(shard)], config, rows=30, seed=4, output=tmp_path / "out")
    rows = pq.read_table(tmp_path / "out/sample.parquet").column("row").to_pylist()
    consent = {e["value"]: e for e in result.estimates["estimates"] if e["dimension"] == "consent"}
    assert consent["x-robots-tag:noai"]["sampled"] == sum(1 for r in rows if r % 5 == 0) > 0
    flagged = pq.read_table(tmp_path / "out/flagged.parquet")
    assert set(flagged.filter(pc.equal(flagged.column("kind"), "consent")).column("row").to_pylist()) == {
        r for r in rows if r % 5 == 0
    }


def test_one_run_per_output_directory(tmp_path, blocklist, data) -> None:
    path, _, _ = data
    (tmp_path / "out/.provscan").mkdir(parents=True)
    with open(tmp_path / "out/.provscan/lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(OutputError, match="another provscan run"):
            sample([str(path)], _config(blocklist), rows=5, output=tmp_path / "out")


def test_source_lists_and_duplicates(tmp_path, blocklist, data) -> None:
    path, _, _ = data
    listing = tmp_path / "sources.txt"
    listing.write_text(f"# shards\n\n{path}\n", encoding="utf-8")
    result = sample([f"@{listing}"], _config(blocklist), rows=5, output=tmp_path / "o")
    assert result.estimates["sources"][0]["source"] == str(path)
    with pytest.raises(ConfigError, match="given twice"):
        sample([str(path), f"@{listing}"], _config(blocklist), rows=5, output=tmp_path / "o2")
    hard = tmp_path / "same-file.parquet"
    hard.hardlink_to(path)  # one file by identity (device, inode), whatever its names
    with pytest.raises(ConfigError, match="given twice"):
        sample([str(path), str(hard)], _config(blocklist), rows=5, output=tmp_path / "o3")


def test_cli_sample_prints_the_estimates_table(tmp_path, blocklist, data) -> None:
    path, _, _ = data
    runner = CliRunner()
    res = runner.invoke(
        cli, ["sample", str(path), "--row-groups", "3", "--seed", "1", "-b", str(blocklist), "-o", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    assert "6,000 of 24,000 rows sampled (row-groups, seed 1; 3 of 12 row groups)" in res.output
    assert "bad" in res.output and "share (95% CI)" in res.output
    for args in (["--rows", "5", "--row-groups", "2"], []):
        bad = runner.invoke(cli, ["sample", str(path), *args, "-o", str(tmp_path / "x")])
        assert bad.exit_code == 2 and "exactly one of --rows" in bad.output


def test_hf_sources_without_huggingface_hub_name_the_extra(monkeypatch, tmp_path) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if not installed
    with pytest.raises(provscan.MissingDependency, match=r"pip install 'provscan\[hf\]'"):
        sample(["hf://datasets/org/name"], provscan.ScanConfig(), rows=1, output=tmp_path / "o")


def test_a_file_smaller_than_the_footer_probe_is_read_once(tmp_path, blocklist) -> None:
    path = tmp_path / "tiny.parquet"
    pq.write_table(_dataset(40, seed=2).drop(["TEXT"]), path, row_group_size=10)
    raw = path.read_bytes()
    assert len(raw) < FOOTER_PROBE
    with serve() as srv:
        srv.files["tiny.parquet"] = raw
        result = sample([f"{srv.base}/files/tiny.parquet"], _config(blocklist), rows=7, output=tmp_path / "out")
        sent = srv.bytes_sent
    assert sent == len(raw) and result.manifest["sources"][0]["requests"] == 1  # the suffix range held it all


def test_hf_converted_parquet_revision(data, blocklist, tmp_path, monkeypatch) -> None:
    _, raw, _ = data
    with serve() as srv:
        srv.files["a.parquet"] = raw
        srv.hub_files = {"default/train/0000.parquet": "a.parquet"}
        _hub_env(monkeypatch, srv, tmp_path)
        result = sample(
            ["hf://datasets/org/name@refs/convert/parquet/default/train/*.parquet"],
            _config(blocklist),
            rows=3,
            output=tmp_path / "o",
        )
        asked = [p for p, _, _ in srv.requests if "/revision/" in p]
    assert asked == [
        "/api/datasets/org/name/revision/refs/convert/parquet"
    ]  # sent as refs%2F... (the fake matches it raw)
    assert result.estimates["sources"][0]["source"] == f"hf://datasets/org/name@{HUB_SHA}/default/train/0000.parquet"
    with pytest.raises(ShardError, match="cannot list"):
        sample(["hf://datasets/org/name@no-such-branch"], _config(blocklist), rows=3, output=tmp_path / "o2")


def test_hf_single_file_path(data, blocklist, tmp_path, monkeypatch) -> None:
    _, raw, _ = data
    with serve() as srv:
        srv.files["a.parquet"] = raw
        srv.hub_files = {"data/train-0.parquet": "a.parquet", "data/train-1.parquet": "a.parquet"}
        _hub_env(monkeypatch, srv, tmp_path)
        result = sample(
            ["hf://datasets/org/name@main/data/train-1.parquet"], _config(blocklist), rows=3, output=tmp_path / "o"
        )
    assert [s["source"] for s in result.estimates["sources"]] == [
        f"hf://datasets/org/name@{HUB_SHA}/data/train-1.parquet"
    ]


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=300),
    cuts=st.lists(st.tuples(st.integers(0, 299), st.integers(1, 80)), max_size=8),
    reads=st.lists(st.tuples(st.integers(0, 310), st.integers(0, 120)), min_size=1, max_size=8),
)
def test_sparse_file_reads_equal_the_file(data, cuts, reads) -> None:
    """Whatever was prefetched, every read returns the file's bytes; gaps go to ``fill``."""
    from provscan.io.sparse import SparseFile

    sparse = SparseFile(len(data), lambda start, length: data[start : start + length])
    for start, length in cuts:
        if start < len(data):
            sparse.add(start, data[start : start + length])
    for start, length in reads:
        sparse.seek(start)
        assert sparse.read(length) == data[start : start + length]


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.lists(st.integers(0, 60), min_size=1, max_size=6), min_size=1, max_size=4),
    n=st.integers(1, 400),
    k=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
)
def test_plans_stay_inside_the_frame(sizes, n, k, seed) -> None:
    frame = Frame.of(sizes)
    if frame.rows == 0:
        return
    for plan in (plan_rows(frame, n, seed), plan_row_groups(frame, k, seed)):
        rows_of = [int(np.sum(s)) for s in sizes]
        assert all(0 <= r < rows_of[s] for s, r in zip(plan.source.tolist(), plan.row.tolist()))
        assert all(
            0 <= i < sizes[s][g]
            for s, g, i in zip(plan.source.tolist(), plan.row_group.tolist(), plan.row_in_group.tolist())
        )
        assert len(set(zip(plan.source.tolist(), plan.row.tolist()))) == plan.rows  # without replacement
        assert int(plan.cluster_rows.sum()) == plan.rows
    assert plan_rows(frame, n, seed).rows == min(n, frame.rows)


@settings(max_examples=200, deadline=None)
@given(x=st.integers(0, 500), extra=st.integers(0, 500), population=st.integers(1, 10**9))
def test_intervals_are_ordered_and_bounded(x, extra, population) -> None:
    n = x + extra
    if n == 0 or n > population:
        return
    iv = rows_interval(x, n, population)
    assert 0.0 <= iv.low <= iv.share <= iv.high <= 1.0


def test_redacted_runs_leave_no_url_in_out(tmp_path, blocklist) -> None:
    shard = tmp_path / "r.parquet"
    table = _dataset(300, seed=3)
    pq.write_table(table, shard, row_group_size=100)
    urls = set(table.column("URL").to_pylist())
    sample([str(shard)], _config(blocklist, redact_urls=True), rows=100, seed=1, output=tmp_path / "out")
    assert pq.read_table(tmp_path / "out/sample.parquet").column("URL").null_count == 100
    flagged = pq.read_table(tmp_path / "out/flagged.parquet")
    assert flagged.num_rows and flagged.column("url").null_count == flagged.num_rows
    assert flagged.column("url_sha256").null_count == 0
    for path in (tmp_path / "out").rglob("*.parquet"):  # the working copy of the full sample is gone too
        values = {v for column in pq.read_table(path).to_pydict().values() for v in column}
        assert not urls & values, path


def test_ai_generated_images_are_estimated_whatever_the_action(tmp_path, blocklist) -> None:
    from test_consent_embedded import jpeg, packet

    ai = jpeg(
        packet(
            '<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia'
            '</Iptc4xmpExt:DigitalSourceType>'
        )
    )
    with serve() as srv:
        srv.files["ai.jpg"], srv.files["a.jpg"] = ai, jpeg()
        urls = [f"{srv.base}/files/{'ai.jpg' if i % 3 == 0 else 'a.jpg'}" for i in range(90)]
        shard = tmp_path / "g.parquet"
        pq.write_table(pa.table({"URL": urls}), shard, row_group_size=30)
        config = _config(blocklist, fetch=True).with_overrides(consent=provscan.ConsentConfig(ai_generated="keep"))
        result = sample([str(shard)], config, rows=30, seed=2, output=tmp_path / "out")
    rows = pq.read_table(tmp_path / "out/sample.parquet").column("row").to_pylist()
    ai_rows = sum(1 for r in rows if r % 3 == 0)
    found = {e["value"]: e for e in result.estimates["estimates"] if e["dimension"] == "ai_generated"}
    assert set(found) == {"xmp:ai-generated"} and found["xmp:ai-generated"]["sampled"] == ai_rows > 0
    assert found["xmp:ai-generated"]["share_low"] <= ai_rows / 30 <= found["xmp:ai-generated"]["share_high"]
    assert (
        "ai-generated" not in pq.read_table(tmp_path / "out/flagged.parquet").column("kind").to_pylist()
    )  # keep: no finding
    assert json.loads((tmp_path / "out/manifest.json").read_text())["consent_sources"]["embedded"] == ["xmp", "c2pa"]
