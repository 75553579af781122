"""Make ``contract`` (the store contract suite) importable by the backend tests,
whatever pytest's import mode (child processes find it the same way); the
store tests' folder and ``open_store`` (stores closed after the test)."""

import sys
from pathlib import Path

import pytest

from gridmap.store import GeoJSONSeqStore

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "cases"


@pytest.fixture
def open_store(folder):
    opened = []

    def open_(**kwargs):
        opened.append(GeoJSONSeqStore(folder, **kwargs))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()
