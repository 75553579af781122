"""Make ``contract`` (the store contract suite) importable by the backend tests,
whatever pytest's import mode; child processes find it the same way."""

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
