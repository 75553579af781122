"""``gridmap serve --demo`` gives a fresh demo data folder a case history, once, and
never touches a folder that is not the demo's."""

import collections
import json
import shutil
import urllib.request
from pathlib import Path

from conftest import LiveServer
from gridmap.cases.demo import SERVE_COUNT, seed_demo_store
from gridmap.store import GeoJSONSeqStore
from gridmap.web import create_app

GEODATA = Path(__file__).resolve().parents[2] / "geodata"


def stored(data_dir):
    with GeoJSONSeqStore(data_dir / "cases") as store:
        return list(store.all())


def test_a_fresh_demo_folder_gets_a_year_of_cases_once(tmp_path):
    data_dir = tmp_path / "data"
    server = LiveServer(data_dir, args=("--demo",))
    try:
        cases = stored(data_dir)
        assert len(cases) == SERVE_COUNT
        states = collections.Counter(f["properties"]["state"] for f in cases)
        assert states["rated"] > SERVE_COUNT / 2 and states["reported"] > 0
        code = cases[-1]["properties"]["tracking_code"]
        with urllib.request.urlopen(f"{server.url}/api/track/{code}") as answer:
            assert json.load(answer)["tracking_code"] == code  # the workers see them
    finally:
        server.stop()
    log = server.log.read_text(encoding="utf-8")
    assert f"demo case history: {SERVE_COUNT} cases over 12 months" in log
    LiveServer(data_dir, args=("--demo",)).stop()  # a second start adds nothing
    assert [f["id"] for f in stored(data_dir)] == [f["id"] for f in cases]


def folder_with(tmp_path, name, schematic):
    """A data folder made from geodata/ with the first grid's ``schematic`` flag set."""
    data_dir = tmp_path / name
    data_dir.mkdir()
    for source in GEODATA.iterdir():
        shutil.copy(source, data_dir / source.name)
    grids_file = data_dir / "grids.geojson"
    doc = json.loads(grids_file.read_text(encoding="utf-8"))
    doc["features"][0]["properties"]["schematic"] = schematic
    grids_file.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return create_app({"DATA_DIR": str(data_dir)}).extensions["gridmap.cases"]


def test_a_folder_without_the_demo_grids_or_with_cases_gets_none(tmp_path):
    real = folder_with(tmp_path, "real", False)  # a planner's real grid among them
    assert seed_demo_store(real) is None and real.store.count() == 0
    demo = folder_with(tmp_path, "demo", True)
    assert sum(seed_demo_store(demo).values()) == SERVE_COUNT
    assert seed_demo_store(demo) is None and demo.store.count() == SERVE_COUNT
