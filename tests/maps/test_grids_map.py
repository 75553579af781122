"""The grid map sends what its page shows, no more: coordinates to 6 places, team names
only where a tooltip shows them, the grid labels in one script without Leaflet's default
marker (whose images a browser would fetch), folium's script without its indentation."""

import json
import re

import pytest

from gridmap.config import load_config
from gridmap.datafolder import load_community
from gridmap.maps.frame import FRAME_JS, MapFrame
from gridmap.maps.grids_map import build_grids_map, embed

SETTINGS = {"frame": MapFrame(load_config({"TILES": "https://tiles.example/{z}/{x}/{y}.png"},
                                          environ={})["MAP_TILES"], lang="zh", assets_url="/assets/v")}
LABELS = {"code": "code", "name": "name", "team": "team", "layer": "grids", "lang": "zh"}


@pytest.fixture(scope="module")
def community(tmp_path_factory):
    return load_community(load_config({"DATA_DIR": str(tmp_path_factory.mktemp("m") / "data")}))


def script_of(community, tooltips):
    return embed(build_grids_map(community, **SETTINGS, labels=LABELS, tooltips=tooltips))[2]


def features(script):
    return [f for m in re.findall(r"_add\((\{.*\})\);", script) for f in json.loads(m)["features"]]


@pytest.mark.parametrize("tooltips", [True, False])
def test_teams_only_where_tooltips_show_them(community, tooltips):
    found = features(script_of(community, tooltips))
    assert len(found) == len(community.grids)
    assert all(("team" in f["properties"]) == tooltips and f["properties"]["name"] for f in found)
    head = community.teams[community.grids.grids[0].code].summary_lines("zh")[0]
    assert (json.dumps(head)[1:-1] in script_of(community, tooltips)) == tooltips


def test_coordinates_have_six_places_at_most(community):
    frame_js = "\n".join(line.strip() for line in FRAME_JS.splitlines() if line.strip())
    script = script_of(community, False)
    assert frame_js in script
    script = script.replace(frame_js, "")  # its own constants apart
    numbers = re.findall(r"-?\d+\.(\d+)", script)
    assert numbers and max(len(d) for d in numbers) <= 6
    grid = community.grids.grids[0]
    ring = features(script)[0]["geometry"]["coordinates"][0]
    exterior = list(grid.geometry.exterior.coords)
    assert len(ring) == len(exterior)
    assert max(abs(a - b) for p, q in zip(ring, exterior) for a, b in zip(p, q)) <= 5e-7


def test_labels_in_one_script_without_default_markers(community):
    script = script_of(community, False)
    assert script.count("L.marker(") == 1 and "setIcon" not in script
    labels = json.loads(re.search(r"^(\[\[.*\]\])\.forEach", script, re.M)[1])
    assert [label[2] for label in labels] == [
        f'<span class="grid-label">{g.code[-3:]}</span>' for g in community.grids]
    for (lat, lon, _), grid in zip(labels, community.grids):
        spot = grid.geometry.representative_point()
        assert (lat, lon) == (round(spot.y, 6), round(spot.x, 6))


def test_the_script_goes_without_indentation_or_blank_lines(community):
    lines = script_of(community, True).split("\n")
    assert lines and all(line and line == line.strip() for line in lines)
