from pathlib import Path

import pytest

# ../shared/data beside the repository: real public web data (see its MANIFEST.md). CI has it at
# the same place; tests that need it skip with this message where it is absent.
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def need_data(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (see ../shared/data/MANIFEST.md)")
    return path
