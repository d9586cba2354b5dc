"""The store on bad media: a full disk, a truncated copy, read-only files and directories.

These mount a small tmpfs and a read-only bind mount, which needs root (CAP_SYS_ADMIN); where
``mount`` is refused the test is skipped and says why.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest

import mlmkit
from mlmkit import NotFoundError, SchemaError, StateError, StoreError, ValidationError
from mlmkit.store.database import Database
from mlmkit.workspace import Workspace

pytestmark = pytest.mark.slow


def _mount(*args: str) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if proc.returncode:
        pytest.skip(f"`mount {' '.join(args)}` refused ({proc.stderr.strip()}): this test "
                    "needs root with CAP_SYS_ADMIN to build a small or read-only filesystem")


@contextlib.contextmanager
def _mounted(target: Path, *args: str) -> Iterator[Path]:
    target.mkdir()
    _mount(*args, str(target))
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def _batch(n: int) -> pl.DataFrame:
    ids = [uuid.uuid4().hex + uuid.uuid4().hex for _ in range(n)]   # incompressible
    return pl.DataFrame({"model_name": "m", "version": "1.0.0", "prediction": True,
                         "prediction_id": ids})


def test_checkpoint_on_a_full_disk_recovers_on_the_next_call(tmp_path: Path) -> None:
    with _mounted(tmp_path / "small", "-t", "tmpfs", "-o", "size=20m", "tmpfs") as disk:
        ws = Workspace(Database(disk / "ws.duckdb", idle_release=3600))   # no idle rescue
        ws.log.count()
        filler = disk / "filler"
        free = shutil.disk_usage(disk).free
        filler.write_bytes(b"\0" * (free - 3_000_000))
        acknowledged = 0
        for _ in range(40):                       # fill the rest through the WAL
            try:
                acknowledged += ws.log.track_batch(_batch(5000))
            except StoreError:
                break
        assert acknowledged > 0
        with pytest.raises(StoreError, match="checkpoint") as info:
            ws.db.execute("CHECKPOINT")           # DuckDB invalidates the database here
        assert isinstance(info.value.__cause__, duckdb.FatalException)
        filler.unlink()
        assert ws.log.count("m") == acknowledged  # the next call reopens and replays the WAL
        ws.log.track("m", "1.0.0", True)
        ws.close()
        with mlmkit.open(disk / "ws.duckdb") as again:
            assert again.log.count("m") == acknowledged + 1


def _truncated_copy(tmp_path: Path, fraction: float) -> Path:
    source = tmp_path / "whole.duckdb"
    if not source.exists():
        with mlmkit.open(source) as ws:
            ws.log.track_batch(_batch(200_000))
    data = source.read_bytes()
    target = tmp_path / f"cut{int(fraction * 100)}.duckdb"
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.99])
def test_truncated_copy_is_refused_at_open(tmp_path: Path, fraction: float) -> None:
    cut = _truncated_copy(tmp_path, fraction)
    with pytest.raises(StoreError, match=r"truncated|read enough bytes"):
        mlmkit.open(cut)
    with pytest.raises(StoreError):
        mlmkit.open(cut, read_only=True)


def test_sound_files_pass_the_size_check_after_writes_and_deletes(tmp_path: Path) -> None:
    """Free blocks at the end are truncated by DuckDB: no false alarm after a shrink."""
    path = tmp_path / "churn.duckdb"
    for step in range(4):
        with mlmkit.open(path) as ws:
            ws.log.track_batch(_batch(50_000))
            if step % 2:
                ws.db.execute("DELETE FROM predictions WHERE prediction_id < '8'")
                ws.db.execute("CHECKPOINT")
    with mlmkit.open(path, read_only=True) as ws:
        assert ws.log.count("m") > 0


def test_create_false_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"missing\.duckdb does not exist \(create=False\)"):
        mlmkit.open(tmp_path / "missing.duckdb", create=False)
    with pytest.raises(NotFoundError, match="read_only=True"):
        mlmkit.open(tmp_path / "missing.duckdb", read_only=True)
    assert not (tmp_path / "missing.duckdb").exists()
    with pytest.raises(ValidationError, match="read_only"):
        mlmkit.open(None, read_only=True)
    mlmkit.open(tmp_path / "made.duckdb").close()
    with mlmkit.open(tmp_path / "made.duckdb", create=False) as ws:
        assert ws.log.count() == 0


def test_read_only_on_read_only_media(tmp_path: Path) -> None:
    """A file on a read-only mount (root ignores chmod 0444/0555, a mount it cannot)."""
    src = tmp_path / "src"
    src.mkdir()
    with mlmkit.open(src / "ws.duckdb") as ws:
        ws.log.track("m", "1.0.0", True, prediction_id="p1")
    with _mounted(tmp_path / "ro", "--bind", str(src)) as ro:
        _mount("-o", "remount,bind,ro", str(ro))
        with pytest.raises(StoreError, match="read_only=True") as info:
            mlmkit.open(ro / "ws.duckdb")       # was a bare PermissionError/OSError
        assert isinstance(info.value.__cause__, OSError)
        assert str(ro / "ws.duckdb") in str(info.value)
        with mlmkit.open(ro / "ws.duckdb", read_only=True) as ws:
            assert ws.log.predictions("m")["prediction_id"].to_list() == ["p1"]
            with pytest.raises(StateError, match="read-only"):
                ws.log.track("m", "1.0.0", True)
            assert ws.log.count() == 1            # a refused write does not break the lease


def test_read_only_readers_share_the_file_and_writes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    with mlmkit.open(path) as ws:
        ws.log.track("m", "1.0.0", True)
    first = mlmkit.open(path, read_only=True)
    second = mlmkit.open(path, read_only=True)
    try:
        with first.db.connection(), second.db.connection():   # both leases at once
            pass
        assert first.log.count() == second.log.count() == 1
        with pytest.raises(StateError, match=r"read_only=True"):
            first.registry.register(mlmkit.ModelMetadata.for_n1_detector("1.0.0"))
    finally:
        first.close()
        second.close()
    with mlmkit.open(path) as writer:                          # the writer gets it back
        writer.log.track("m", "1.0.0", False)
        assert writer.log.count() == 2


def test_read_only_refuses_an_older_schema_without_touching_it(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    mlmkit.open(path).close()
    con = duckdb.connect(str(path))
    latest = con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    con.execute("DELETE FROM schema_version WHERE version = ?", [latest])
    con.close()
    with pytest.raises(SchemaError, match="open it once writable"):
        mlmkit.open(path, read_only=True)
    con = duckdb.connect(str(path))
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == latest - 1
    con.close()
