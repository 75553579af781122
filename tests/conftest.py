"""Shared fixtures: the shipped demo grids and a router over them."""

from pathlib import Path

import pytest

from gridmap.geo.grids import GridSet
from gridmap.geo.routing import Router

ROOT = Path(__file__).resolve().parents[1]
GEODATA = ROOT / "geodata"


@pytest.fixture(scope="session")
def demo_grids():
    return GridSet.load(GEODATA / "grids.geojson")


@pytest.fixture(scope="session")
def demo_router(demo_grids):
    return Router(demo_grids, tolerance_m=50.0)
