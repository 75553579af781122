"""Make ``photomaker`` (test images, the kill -9 child) importable by the photo tests,
whatever pytest's import mode; child processes find it the same way."""

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
