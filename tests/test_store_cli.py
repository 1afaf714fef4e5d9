"""`sportlens store verify|gc` through typer's CliRunner on a real (SQLite) store in a temporary folder."""
from __future__ import annotations

import importlib
import os
import time

import pytest
from typer.testing import CliRunner

pytest.importorskip("sqlalchemy")

from sportlens.store import add_reference, open_store  # noqa: E402

importlib.import_module("sportlens.cli.store")  # registers the command (until cli/__init__ names it)
from sportlens.cli import app as cli  # noqa: E402

runner = CliRunner()


def _invoke(*args):
    return runner.invoke(cli, ["store", *args])


@pytest.fixture
def damaged(tmp_path):
    """A store with one of each: a row whose file is gone, an orphan file, an unused row, a temp file."""
    data = tmp_path / "data"
    with open_store(data_dir=data) as store:
        with store.session() as db:
            lost = add_reference(store, db, "Model squat", b"keypoints of the model").keypoints_key
            unused = store.add_artifact(db, b"a row nobody uses").key
        orphan = store.artifacts.put(b"written, then the process died before its row").key
        store.artifacts.path(lost).unlink()
        (data / "tmp" / ".put-crashed").write_bytes(b"half a file")
    return {"data": data, "lost": lost, "unused": unused, "orphan": orphan}


def test_verify_names_the_rows_pointing_at_missing_files(damaged):
    r = _invoke("verify", "--data-dir", str(damaged["data"]))
    assert r.exit_code == 1, r.output  # data loss: scripts must notice
    assert f"MISSING file of artifact {damaged['lost']}, used by reference 1 (keypoints)" in r.output
    assert f"orphan file {damaged['orphan']}" in r.output and "gc removes it" not in r.output  # young
    assert f"unused artifact row {damaged['unused']}" in r.output
    assert "temp file .put-crashed" in r.output
    assert "verify: PROBLEMS: 1 missing file(s)" in r.output


def test_gc_keeps_young_leftovers_and_removes_old_ones(damaged):
    data = str(damaged["data"])
    kept = _invoke("gc", "--data-dir", data)  # default grace 1 h: everything was written just now
    assert kept.exit_code == 0, kept.output
    assert "gc: removed 0 unused row(s), 0 orphan file(s), 0 temp file(s)" in kept.output
    assert "1 row(s) point at missing files" in kept.output
    with open_store(data_dir=damaged["data"]) as store:
        old = time.time() - 7200
        os.utime(store.artifacts.path(damaged["orphan"]), (old, old))
        young = store.artifacts.put(b"an upload still in progress").key
    listing = _invoke("verify", "--data-dir", data).output
    assert f"{damaged['orphan']} (45 bytes, 2.0 h old, gc removes it)" in listing
    r = _invoke("gc", "--grace", "3600", "--data-dir", data)
    assert r.exit_code == 0, r.output
    assert f"removed orphan file {damaged['orphan']}" in r.output and young not in r.output
    r = _invoke("gc", "--grace", "0", "--data-dir", data)
    assert f"removed unused artifact row {damaged['unused']}" in r.output
    assert f"removed orphan file {young}" in r.output and "removed temp file .put-crashed" in r.output
    after = _invoke("verify", "--data-dir", data).output
    assert "0 orphan file(s), 0 unused row(s), 0 temp file(s)" in after
    assert not [line for line in after.splitlines() if line.startswith(("orphan", "temp", "unused"))]
    assert "MISSING" in after  # gc never hides data loss: the lost file's row stays listed


def test_verify_of_a_clean_store_passes_and_deep_finds_damage(tmp_path):
    data = tmp_path / "data"
    with open_store(data_dir=data) as store:
        with store.session() as db:
            key = add_reference(store, db, "Model", b"keypoints").keypoints_key
    ok = _invoke("verify", "--database-url", f"sqlite:///{data / 'sportlens.db'}", "--data-dir", str(data))
    assert ok.exit_code == 0 and "verify: OK: 0 missing file(s)" in ok.output, ok.output
    with open_store(data_dir=data) as store:
        path = store.artifacts.path(key)
    path.chmod(0o644)
    path.write_bytes(b"bit rot")
    assert _invoke("verify", "--data-dir", str(data)).exit_code == 0  # sizes/hashes not read without --deep
    deep = _invoke("verify", "--deep", "--data-dir", str(data))
    assert deep.exit_code == 1 and f"DAMAGED file of artifact {key}" in deep.output
    assert "reference 1 (keypoints)" in deep.output


def test_a_missing_data_folder_is_an_error_not_a_new_store(tmp_path):
    r = _invoke("verify", "--data-dir", str(tmp_path / "typo"))
    assert r.exit_code == 2 and "no such data folder" in r.output
    assert not (tmp_path / "typo").exists()
    assert _invoke("gc", "--grace", "-1", "--data-dir", str(tmp_path)).exit_code == 2  # typer: min=0
    assert "verify" in _invoke("--help").output and "gc" in _invoke("--help").output
