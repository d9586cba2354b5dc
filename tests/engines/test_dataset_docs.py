"""docs/SCALING.md tells the truth about the dataset: its SQL runs, its schema is the files'."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from mlmkit.store.engines.dataset import MANIFEST
from mlmkit.store.engines.parquet import ParquetEngine

DOC = Path(__file__).resolve().parents[2] / "docs" / "SCALING.md"
TEXT = DOC.read_text()
DUCKDB_SQL = re.findall(r"<!-- duckdb -->\n```sql\n(.*?)```", TEXT, re.S)


def test_the_doc_has_duckdb_examples_and_a_spark_section() -> None:
    assert len(DUCKDB_SQL) >= 3
    assert "\n## Spark" in TEXT


@pytest.mark.parametrize("sql", DUCKDB_SQL, ids=[s.splitlines()[0][3:40] for s in DUCKDB_SQL])
def test_duckdb_example_runs_on_an_export(dataset: tuple[Path, Path], sql: str) -> None:
    _, root = dataset
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.sql(sql.replace("'dataset/", f"'{root}/")).fetchall()
    assert rows


def test_confusion_example_equals_the_engine(dataset: tuple[Path, Path]) -> None:
    _, root = dataset
    (sql,) = [s for s in DUCKDB_SQL if "AS tp" in s]
    with duckdb.connect() as con:
        documented = con.sql(sql.replace("'dataset/", f"'{root}/")).fetchall()
    with ParquetEngine(root) as engine:
        counts = engine.window_counts("fraud", latency=False).sort("version")
    assert documented == counts.select("version", "tp", "fp", "tn", "fn").rows()


def test_column_table_and_manifest_match_the_files(dataset: tuple[Path, Path]) -> None:
    _, root = dataset
    table = re.search(r"### Columns\n\n(.*?)\n\n", TEXT, re.S)
    assert table is not None
    documented = re.findall(r"^\| `(\w+)` \|", table.group(1), re.M)
    manifest = json.loads((root / MANIFEST).read_text())
    features = manifest["models"]["fraud"]["features"]
    files = next(root.glob("model_name=fraud/*/*.parquet"))
    actual = pq.read_schema(files).names
    assert [c for c in actual if c not in features] == documented[:-1]  # `date`: the path
    example = json.loads(re.search(r"```json\n(.*?)```", TEXT, re.S).group(1))
    assert example.keys() == manifest.keys()
    model = example["models"]["fraud"]
    assert model.keys() == manifest["models"]["fraud"].keys()
    day = next(iter(manifest["models"]["fraud"]["days"].values()))
    assert next(iter(model["days"].values())).keys() == day.keys()
    assert model["features"]["amount"] == features["amount"]


def test_engine_python_example_runs(dataset: tuple[Path, Path], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    db, root = dataset
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", TEXT, re.S) if "ParquetEngine" in b]
    shutil.copy(db, tmp_path / "mlm.duckdb")
    shutil.copytree(root, tmp_path / "dataset")
    monkeypatch.chdir(tmp_path)
    exec(compile(block, str(DOC), "exec"), {})
