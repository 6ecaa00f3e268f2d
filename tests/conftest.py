from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.contracts.schema import DOCUMENT_SCHEMA

# ../shared/data beside the repository: real public web data (see its MANIFEST.md). CI has it at
# the same place; tests that need it skip with this message where it is absent.
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def need_data(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (see ../shared/data/MANIFEST.md)")
    return path


def write_curated(path: Path, ids: list[str], texts: list[str]) -> Path:
    """A curated Parquet file (contract 1) with only id and text filled in."""
    columns = {field.name: pa.nulls(len(ids), field.type) for field in DOCUMENT_SCHEMA}
    columns["id"] = pa.array(ids, pa.string())
    columns["text"] = pa.array(texts, pa.string())
    pq.write_table(pa.table(columns, schema=DOCUMENT_SCHEMA), path)
    return path


def run_cli(verb: str, argv) -> int:
    """`thresher <verb> ARGV...` through the one command tree, as a user types it."""
    from thresher.cli import main

    return main([*verb.split(), *map(str, argv)])
