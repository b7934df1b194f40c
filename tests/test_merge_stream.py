"""The streamed merge (issue 21, item 7): shards merged as they commit, in plan order whatever order
they commit in, give the same bytes as a merge at the end; a worker's temp file never reaches the
release; a full disk during the merge is one line that says how to finish."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provscan import scan
from provscan.errors import OutputError
from provscan.io.db import Database
from provscan.lists.args import parse_list_option
from provscan.pipeline.commit import shard_dir
from provscan.pipeline.merge import MergeStream, RunState, merge

SHARDS = 7


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stream")
    data = root / "data"
    data.mkdir()
    for s in range(SHARDS):
        ids = range(s * 200, (s + 1) * 200)
        pq.write_table(
            pa.table({"url": [f"http://{'bad' if i % 7 == 0 else 'ok'}{i % 13}.example/p{i}" for i in ids]}),
            data / f"part-{s}.parquet",
        )
    (root / "bad.txt").write_text("".join(f"bad{i}.example\n" for i in range(13)))
    scan([data], output=root / "out", lists=[parse_list_option(f"domain:{root / 'bad.txt'}")])
    return root / "out"


def outputs(out: Path) -> dict[str, str]:
    names = ["flagged.parquet", "removals.sha256.txt", "summary.json"]
    return {n: hashlib.sha256((out / n).read_bytes()).hexdigest() for n in names}


def test_commits_in_any_order_merge_in_plan_order(tmp_path: Path, scanned: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(scanned, out)
    expected = outputs(scanned)
    state = RunState.load(out)
    assert state is not None
    markers = [shard_dir(out, s["index"]) / "commit.json" for s in state.shards]
    for marker in markers:
        marker.rename(marker.with_name("held.json"))
    order = list(range(SHARDS))
    random.Random(7).shuffle(order)
    merged = []
    with Database(threads=1) as db, MergeStream(out, state, db) as stream:
        for i in order:
            markers[i].with_name("held.json").rename(markers[i])
            stream.advance()
            merged.append(stream.position)
            # merged up to the first shard not yet committed, never past it
            assert stream.position == next((k for k in range(SHARDS) if not markers[k].exists()), SHARDS)
        manifest, _ = stream.finish()
    assert merged[-1] == SHARDS and any(p < k + 1 for k, p in enumerate(merged))  # some shard waited
    assert outputs(out) == expected
    assert manifest["totals"]["rows_in"] == SHARDS * 200


def test_an_unfinished_stream_leaves_no_output(tmp_path: Path, scanned: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(scanned, out)
    for name in ("flagged.parquet", "manifest.json"):
        (out / name).unlink()
    state = RunState.load(out)
    assert state is not None
    (shard_dir(out, 3) / "commit.json").unlink()
    with Database(threads=1) as db, pytest.raises(OutputError, match="1 of 7 shards are not committed yet"):
        with MergeStream(out, state, db) as stream:
            assert stream.advance() == 3
            stream.finish()
    assert not (out / "flagged.parquet").exists() and not (out / "manifest.json").exists()
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_a_dead_workers_temp_file_is_removed_and_never_listed(tmp_path: Path, scanned: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(scanned, out)
    leftover = out / "clean" / ".part-1.parquet.tmp-99999"
    leftover.write_bytes(b"half a shard")
    state = RunState.load(out)
    assert state is not None
    with Database(threads=1) as db:
        manifest, _ = merge(out, state, db)
    assert not leftover.exists()
    assert not [f for f in manifest["files"] if ".tmp-" in f]
    assert json.loads((out / "manifest.json").read_text())["files"] == manifest["files"]


def test_disk_full_during_the_merge_is_one_line_with_what_to_do(tmp_path: Path, scanned: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    shutil.copytree(scanned, out)
    state = RunState.load(out)
    assert state is not None

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("provscan.pipeline.merge.write_removals", full)
    with Database(threads=1) as db, pytest.raises(OutputError) as caught:
        merge(out, state, db)
    message = str(caught.value)
    assert "disk full while merging" in message and f"provscan merge {out}" in message and "\n" not in message
    assert not (out / "manifest.json").exists()  # visibly unfinished


def test_removals_are_written_from_arrow_buffers_as_python_would(tmp_path: Path) -> None:
    """The removal list's lines come straight from the Arrow buffers for 64-character digests (sliced
    arrays and large strings included), from Python strings otherwise: the same bytes either way."""
    from provscan.sinks.flagged import write_removals

    digests = sorted(hashlib.sha256(str(i).encode()).hexdigest() for i in range(50))
    column = pa.array(digests)
    batches = [
        pa.record_batch({"h": column.slice(0, 7)}),
        pa.record_batch({"h": column.slice(7, 0)}),
        pa.record_batch({"h": column.slice(7).cast(pa.large_string())}),
        pa.record_batch({"h": pa.array(["ab", "c"])}),
    ]
    count = write_removals(tmp_path / "r.txt", batches)
    lines = [line for line in (tmp_path / "r.txt").read_text().splitlines() if not line.startswith("#")]
    assert count == 52 and lines == [*digests, "ab", "c"]
