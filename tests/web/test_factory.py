"""The app factory: configuration layers, the data folder, clear startup failures."""

import json

import pytest

from gridmap.config import load_config
from gridmap.errors import ConfigError
from gridmap.web import create_app


def test_defaults_then_environment_then_mapping(tmp_path):
    env = {"GRIDMAP_SNAP_TOLERANCE_M": "12.5", "GRIDMAP_COMMUNITY_CODE": "007"}
    config = load_config({"COMMUNITY_CODE": "009"}, environ=env)
    assert config["SNAP_TOLERANCE_M"] == 12.5
    assert config["COMMUNITY_CODE"] == "009"
    assert load_config(environ={})["COUNTY_CODE"] == "500114"


def test_environment_reaches_the_app(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATA_DIR", str(tmp_path / "envdata"))
    monkeypatch.setenv("GRIDMAP_SNAP_TOLERANCE_M", "7")
    app = create_app()
    assert app.extensions["gridmap"].router.tolerance_m == 7.0
    assert (tmp_path / "envdata" / "grids.geojson").is_file()


@pytest.mark.parametrize("key, value", [
    ("SNAP_TOLERANCE_M", "-1"), ("SNAP_TOLERANCE_M", "lots"), ("SUBDISTRICT_CODE", "5"),
    ("COMMUNITY_CODE", "abc"), ("COUNTY_CODE", True), ("PROXY_HOPS", -1), ("PROXY_HOPS", 6),
    ("OPEN311_API_KEYS", " , "), ("TILES", "gaode"), ("TILES_DATUM", "bd09"),
    ("EDIT_SNAP_M", "0"), ("EDIT_SNAP_M", "-2"), ("EDIT_SNAP_M", "nan"), ("EDIT_SNAP_M", "101"),
    ("EDIT_SNAP_M", "near"),
])
def test_bad_settings_stop_startup_naming_the_key(tmp_path, key, value):
    with pytest.raises(ConfigError, match=key):
        create_app({"DATA_DIR": str(tmp_path / "d"), key: value})
    assert not (tmp_path / "d").exists()


def test_first_start_creates_the_data_folder_with_configured_codes(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "d"), "SUBDISTRICT_CODE": "004",
                      "COMMUNITY_CODE": "012"})
    codes = app.extensions["gridmap"].grids.codes
    assert len(codes) == 13 and codes[0] == "500114004012001" and codes[-1] == "500114004012013"
    teams = json.loads((tmp_path / "d" / "teams.json").read_text(encoding="utf-8"))["teams"]
    assert sorted(teams) == list(codes)
    assert {"categories.json", "community.geojson", "grids.geojson", "teams.json"} <= {
        p.name for p in (tmp_path / "d").iterdir()}
    assert not list(tmp_path.glob(".d.init-*"))  # no staging folder left behind


def test_an_existing_data_folder_is_used_as_it_is(tmp_path):
    create_app({"DATA_DIR": str(tmp_path / "d")})
    grids = tmp_path / "d" / "generations" / "0001.geojson"  # the active generation
    doc = json.loads(grids.read_text(encoding="utf-8"))
    doc["features"][0]["properties"]["name"] = "改过的名字"
    grids.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    app = create_app({"DATA_DIR": str(tmp_path / "d"), "SUBDISTRICT_CODE": "004"})
    first = app.extensions["gridmap"].grids.grids[0]
    assert first.name == "改过的名字" and first.code.startswith("500114005")


def test_a_missing_grid_file_stops_startup(tmp_path):
    create_app({"DATA_DIR": str(tmp_path / "d")})
    (tmp_path / "d" / "generations" / "0001.geojson").unlink()
    with pytest.raises(ConfigError, match="grid file not found"):
        create_app({"DATA_DIR": str(tmp_path / "d")})


@pytest.mark.parametrize("content, message", [
    ("{not json", "unreadable"),
    ('{"type": "Feature"}', "FeatureCollection"),
    ('{"type": "FeatureCollection", "features": []}', "no grids"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"grid_code": '
     '"500114005001001"}, "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,1],[1,0],[0,1],'
     '[0,0]]]}}]}', "invalid"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
     '"geometry": null}]}', "grid_code"),
])
def test_an_invalid_grid_file_stops_startup(tmp_path, content, message):
    create_app({"DATA_DIR": str(tmp_path / "d")})
    (tmp_path / "d" / "generations" / "0001.geojson").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        create_app({"DATA_DIR": str(tmp_path / "d")})


def test_missing_front_end_assets_stop_startup(tmp_path):
    with pytest.raises(ConfigError, match="npm ci"):
        create_app({"DATA_DIR": str(tmp_path / "d"), "ASSETS_DIR": str(tmp_path / "none")})


def test_nothing_is_built_at_import():
    import importlib

    import gridmap.web

    module = importlib.reload(gridmap.web)
    assert not hasattr(module, "app")


def test_grids_that_overlap_or_leave_gaps_stop_startup(tmp_path):
    create_app({"DATA_DIR": str(tmp_path / "d")})
    path = tmp_path / "d" / "generations" / "0001.geojson"
    doc = json.loads(path.read_text(encoding="utf-8"))
    ring = doc["features"][6]["geometry"]["coordinates"][0]
    ring[1] = [ring[1][0] + 0.0005, ring[1][1] + 0.0005]
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match="gridmap grids check") as info:
        create_app({"DATA_DIR": str(tmp_path / "d")})
    assert "500114005001007" in str(info.value)


def test_files_added_by_a_newer_release_are_filled_in(tmp_path):
    create_app({"DATA_DIR": str(tmp_path / "d")})
    (tmp_path / "d" / "calendar.json").unlink()
    app = create_app({"DATA_DIR": str(tmp_path / "d")})
    assert (tmp_path / "d" / "calendar.json").is_file()
    assert app.extensions["gridmap"].calendar.timezone == "Asia/Shanghai"
