"""Shared fixtures: the shipped demo grids and a router over them; a small disk to fill."""

import errno
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import settings

from gridmap.geo.grids import GridSet
from gridmap.geo.routing import Router

ROOT = Path(__file__).resolve().parents[1]
GEODATA = ROOT / "geodata"

# property tests judge answers, not speed (bench/ does that): no deadline per example,
# which a busy two-core machine overran now and then (a flaky failure, not a finding)
settings.register_profile("gridmap", deadline=None)
settings.load_profile("gridmap")


@pytest.fixture(scope="session")
def demo_grids():
    return GridSet.load(GEODATA / "grids.geojson")


@pytest.fixture(scope="session")
def demo_router(demo_grids):
    return Router(demo_grids, tolerance_m=50.0)


class SmallDisk:
    """A 3 MiB tmpfs mounted at ``path``: :meth:`fill` it to the last byte, :meth:`free` it."""

    def __init__(self, path, size="3m"):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                               str(self.path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip("a full disk needs a small tmpfs, and mounting one needs root (CAP_SYS_ADMIN):"
                        f" mount said {done.stderr.strip() or done.returncode}")
        self.filler = self.path / "filler"

    def fill(self):
        """Write zeros until not one more byte fits (ENOSPC)."""
        chunk = 1 << 20
        with open(self.filler, "ab", buffering=0) as f:
            while chunk:
                try:
                    f.write(bytes(chunk))
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    chunk //= 2
        assert os.statvfs(self.path).f_bavail == 0

    def free(self):
        self.filler.unlink()

    def unmount(self):
        subprocess.run(["umount", "-l", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs (skipped, saying why, where it cannot be mounted: tests run as root)."""
    disk = SmallDisk(tmp_path / "disk")
    yield disk
    disk.unmount()
