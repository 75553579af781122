"""Boundary generations: the store's files, the code rules, carry-over, publish
refusals, rollback and a kill -9 in the middle of a publish."""

import copy
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import mapping, shape

from gridmap.errors import BadInput, Conflict, InvalidBoundary, NotFound
from gridmap.geo.checks import check_grids
from gridmap.geo.generations import GenerationStore, plan_draft, reading_order
from gridmap.geo.grids import load_outline
from gridmap.planning import _frame

GEODATA = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "geodata")

PREFIX = "500114005001"
SEED = os.path.join(GEODATA, "grids.geojson")
OUTLINE = load_outline(os.path.join(GEODATA, "community.geojson"))


def code(seq):
    return f"{PREFIX}{seq:03d}"


def check(features):
    return check_grids(_frame(features), outline=OUTLINE, code_pattern=r"^500114\d{9}$")


def seed_features():
    with open(SEED, encoding="utf-8") as f:
        return json.load(f)["features"]


def feature(props, geom):
    return {"type": "Feature", "properties": dict(props),
            "geometry": geom if isinstance(geom, dict) else mapping(geom)}


def split(seq, i=2, j=6, features=None):
    """Grid ``seq`` cut along the chord between its ring vertices ``i`` and ``j`` (no new
    vertex, so neighbours still fit exactly): the two parts, without codes."""
    grid = next(f for f in (features or seed_features())
                if f["properties"]["grid_code"] == code(seq))
    ring = grid["geometry"]["coordinates"][0][:-1]
    one, two = ring[i:j + 1], ring[j:] + ring[:i + 1]
    return [feature({"name": f"part {k}"}, {"type": "Polygon", "coordinates": [part + part[:1]]})
            for k, part in enumerate((one, two))]


@pytest.fixture
def store(tmp_path):
    s = GenerationStore(tmp_path / "generations", PREFIX)
    assert s.ensure(SEED)
    return s


def test_the_shipped_grids_are_generation_1_active_and_published(store):
    doc = store.manifest()
    assert doc["active"] == 1 and doc["draft"] is None
    gen = store.active()
    assert gen.status == "published" and gen.codes == tuple(code(s) for s in range(1, 14))
    assert store.grid_set(1).codes == gen.codes
    assert not store.ensure(SEED)  # made once


def test_files_are_written_whole_and_no_temporary_file_stays(store):
    store.make_draft(split(13), "plan")
    names = sorted(p.name for p in store.folder.iterdir())
    assert names == [".lock", "0001.geojson", "0002.geojson", "manifest.json"]
    for name in names[1:]:
        json.loads((store.folder / name).read_text(encoding="utf-8"))
    assert oct(store.folder.stat().st_mode & 0o777) == "0o700"


def test_a_split_grid_gets_new_codes_west_to_east_and_its_team_goes_to_the_larger_part(store):
    gen, plan = store.make_draft(split(13), "plan", description="split 13")
    assert gen.status == "draft" and gen.number == 2 and store.manifest()["draft"] == 2
    assert plan.carried == [code(s) for s in range(1, 13)]
    assert plan.replaced == [code(13)] and gen.retired_codes == (code(13),)
    parts = {f["properties"]["name"]: shape(f["geometry"]) for f in plan.features[12:]}
    west, east = sorted(parts.values(), key=lambda g: g.centroid.x)
    by_code = {f["properties"]["grid_code"]: shape(f["geometry"]) for f in plan.features}
    assert by_code[code(14)].equals(west) and by_code[code(15)].equals(east)
    assert gen.new_codes == (code(14), code(15))
    larger = code(14) if west.area > east.area else code(15)
    assert plan.team_from == {larger: code(13)}
    assert store.active().number == 1  # a draft changes nothing active


def test_rows_run_north_to_south_and_west_to_east_within_a_row():
    boxes = [shapely.box(2, 0, 3, 1), shapely.box(0, 0, 1, 1), shapely.box(1, 2, 2, 3),
             shapely.box(0, 1.5, 1, 2.5)]
    assert reading_order(boxes) == [3, 2, 1, 0]
    assert reading_order([]) == []


def test_a_grid_keeps_its_code_while_its_area_is_unchanged_even_through_another_crs(store):
    features = seed_features()
    to_utm = pyproj.Transformer.from_crs(4326, 32649, always_xy=True)
    back = pyproj.Transformer.from_crs(32649, 4326, always_xy=True)
    for f in features:
        f["properties"].pop("grid_code")  # a file that lost its codes
        geom = shapely.transform(shape(f["geometry"]), lambda xy: np.column_stack(
            back.transform(*to_utm.transform(xy[:, 0], xy[:, 1]))))
        f["geometry"] = mapping(geom)
    gen, plan = store.make_draft(features, "plan")
    assert plan.kept == [code(s) for s in range(1, 14)] and plan.new == [] and not plan.carried
    assert gen.new_codes == () and gen.retired_codes == ()


def test_a_moved_boundary_gives_both_grids_new_codes_and_a_code_from_the_file_is_not_kept(store):
    features = seed_features()
    a, b = features[10], features[11]  # 011 and 012 share the edge p–q
    p, q = [108.8002509, 29.5185399], [108.8004521, 29.5110769]
    bend = [(p[0] + q[0]) / 2 - 0.0002, (p[1] + q[1]) / 2]  # a new vertex in the edge, moved west
    for f in (a, b):
        ring = f["geometry"]["coordinates"][0]
        k = next(k for k in range(len(ring) - 1) if {tuple(ring[k]), tuple(ring[k + 1])}
                 == {tuple(p), tuple(q)})
        ring.insert(k + 1, bend)
    gen, plan = store.make_draft([a, b], "plan")
    assert [n["was"] for n in plan.new] == [code(11), code(12)]
    assert gen.new_codes == (code(14), code(15)) and gen.retired_codes == (code(11), code(12))
    assert check(plan.features).ok


def test_a_retired_code_is_never_given_again_after_a_rollback(store):
    store.make_draft(split(13), "plan")
    store.publish("plan", check)
    store.rollback(1, "plan")
    gen, plan = store.make_draft(split(13, 1, 5), "plan")  # another split of 013
    assert gen.new_codes == (code(16), code(17))
    store.discard_draft()
    # the same area as a retired grid gets its code back: the code still means that area
    gen, plan = store.make_draft(split(13), "plan")
    assert sorted(plan.kept) == [code(14), code(15)] and plan.new == []


def test_a_fresh_code_from_the_file_is_the_planners_choice(store):
    parts = split(13)
    parts[0]["properties"]["grid_code"] = code(40)
    gen, plan = store.make_draft(parts, "plan")
    assert code(40) in gen.new_codes and code(41) in gen.new_codes


def test_grids_a_file_leaves_out_carry_over_and_complete_drops_them(store):
    parts = split(13)
    _, plan = store.make_draft(parts, "plan")
    assert len(plan.features) == 14
    _, plan = store.make_draft(parts, "plan", complete=True)
    assert len(plan.features) == 2 and len(plan.replaced) == 13
    assert not check(plan.features).ok  # the rest of the community is a gap now


def test_a_grid_covered_less_than_half_by_the_file_carries_over_and_overlaps_show(store):
    features = seed_features()
    bigger = shape(features[11]["geometry"]).buffer(0.0003, join_style="mitre")
    _, plan = store.make_draft([feature({}, bigger)], "plan")
    assert code(12) in plan.replaced and code(11) in plan.carried
    kinds = {i.kind for i in check(plan.features).errors}
    assert "overlap" in kinds


def test_publish_is_refused_listing_every_problem_and_nothing_changes(store):
    features = seed_features()
    bad = copy.deepcopy(features)
    bad[0]["geometry"]["coordinates"][0][1] = [108.7990, 29.5330]  # into 002 and 003
    bad[5]["geometry"] = {"type": "Polygon", "coordinates": [[
        [108.79, 29.52], [108.80, 29.53], [108.80, 29.52], [108.79, 29.53], [108.79, 29.52]]]}
    store.make_draft(bad, "plan", complete=True)
    before = store.manifest_path.read_bytes()
    with pytest.raises(InvalidBoundary) as info:
        store.publish("plan", check)
    report = check(store.features(2))
    assert len(report.errors) >= 3
    text = info.value.render("en")
    for issue in report.errors:
        assert issue.message.render("en") in text
    assert len(info.value.detail["issues"]) == len(report.issues)
    assert info.value.status == 422 and "fails the grid checks" in text
    assert store.manifest_path.read_bytes() == before and store.active().number == 1


def test_publish_needs_a_draft_and_the_one_previewed(store):
    with pytest.raises(Conflict, match="no draft"):
        store.publish("plan", check)
    store.make_draft(split(13), "plan")
    with pytest.raises(Conflict, match="not generation 7"):
        store.publish("plan", check, expected_draft=7)
    old, new = store.publish("plan", check, expected_draft=2)
    assert (old.number, new.number) == (1, 2) and new.published_by == "plan"
    assert store.manifest()["active"] == 2 and store.draft() is None
    assert new.retired_codes == (code(13),)
    assert [e["action"] for e in store.manifest()["events"]] == ["publish", "publish"]


def test_rollback_never_leaves_none_active(store):
    store.make_draft(split(13), "plan")
    store.publish("plan", check)
    store.make_draft(split(1, 1, 4), "plan")
    for bad, error in ((3, Conflict), (2, Conflict), (9, NotFound), ("2", BadInput),
                       (True, BadInput)):
        with pytest.raises(error):
            store.rollback(bad, "plan")
        assert store.manifest()["active"] == 2
    old, new = store.rollback(1, "plan")
    assert (old.number, new.number) == (2, 1)
    assert store.active().number == 1 and store.draft().number == 3  # the draft stays
    store.rollback(2, "plan")
    assert store.active().number == 2


def test_bad_draft_values_are_refused_naming_them(store):
    before = store.manifest_path.read_bytes()
    for kwargs, field in (({"effective_date": "2026-13-01"}, "effective_date"),
                          ({"description": "x" * 501}, "description"),
                          ({"teams": {"500114005001099": None}}, "teams"),
                          ({"teams": {code(14): "999"}}, "teams")):
        with pytest.raises(BadInput) as info:
            store.make_draft(split(13), "plan", **kwargs)
        assert info.value.field == field
    with pytest.raises(InvalidBoundary):
        store.make_draft([], "plan")
    with pytest.raises(BadInput):
        store.make_draft(split(13), "")
    assert store.manifest_path.read_bytes() == before


def test_team_choices_replace_the_default(store):
    gen, plan = store.make_draft(split(13), "plan", teams={code(14): code(12), code(15): None})
    assert plan.team_from == {code(14): code(12)}
    gen = store.set_teams({code(15): code(13)}, "plan")
    assert gen.team_from == {code(14): code(12), code(15): code(13)}
    with pytest.raises(BadInput):
        store.set_teams({code(1): code(13)}, "plan")
    before = store.manifest_path.read_bytes()
    with pytest.raises(BadInput):
        store.publish("plan", check, teams={code(14): "x"})
    assert store.manifest_path.read_bytes() == before
    _, new = store.publish("plan", check, teams={code(14): None})
    assert new.team_from == {code(15): code(13)}


def test_the_planners_team_choices_are_kept_apart_from_the_defaults(store):
    """``team_choices``: what the planner chose, vacant too (the editor plans each edit
    anew from them); an entry from before they were kept counts its team_from as chosen."""
    gen, plan = store.make_draft(split(13), "plan", teams={code(15): None})
    assert gen.team_choices == {code(15): None} and code(15) not in gen.team_from
    gen = store.set_teams({code(14): code(12)}, "plan")
    assert gen.team_choices == {code(14): code(12), code(15): None}
    assert store.draft().team_choices == gen.team_choices
    doc = store.manifest()
    del doc["generations"][-1]["team_choices"]
    legacy = type(gen).from_dict(doc["generations"][-1])
    assert legacy.team_choices == legacy.team_from == {code(14): code(12)}
    _, new = store.publish("plan", check, teams={code(15): code(13)})
    assert new.team_choices == {code(14): code(12), code(15): code(13)}


def test_plan_draft_takes_names_of_unchanged_areas_from_the_active_generation():
    features = seed_features()
    bare = [feature({}, f["geometry"]) for f in features[:2]]
    history = {f["properties"]["grid_code"]: shape(f["geometry"]) for f in features}
    plan = plan_draft(bare, features, history, PREFIX)
    assert [f["properties"]["name"] for f in plan.features[-2:]] == [
        features[0]["properties"]["name"], features[1]["properties"]["name"]]


KILLER = r"""
import os, sys, time
from gridmap.geo import generations
from gridmap.geo.generations import GenerationStore
sys.path.insert(0, sys.argv[3])
from test_generations import check
real = os.replace
def slow_replace(src, dst):
    if str(dst).endswith("manifest.json"):
        open(sys.argv[2], "w").close()  # the new manifest is written and fsynced: kill me now
        time.sleep(60)
    real(src, dst)
generations.os.replace = slow_replace
GenerationStore(sys.argv[1], "500114005001").publish("plan", check)
"""


def test_a_kill_9_during_publish_leaves_the_old_generation_active_and_whole(store, tmp_path):
    store.make_draft(split(13), "plan")
    before = store.manifest_path.read_bytes()
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", KILLER, str(store.folder), str(ready),
                             os.path.dirname(__file__)])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert store.manifest_path.read_bytes() == before
    assert store.active().number == 1 and store.grid_set(1).codes[-1] == code(13)
    assert store.draft().number == 2
    old, new = store.publish("plan", check)  # and the publish can be done again
    assert new.number == 2 and store.grid_set(2).codes[-1] == code(15)


def test_kills_at_any_moment_leave_one_whole_generation_active(store, tmp_path):
    script = ("import sys\nfrom gridmap.geo.generations import GenerationStore\n"
              "sys.path.insert(0, sys.argv[2])\nfrom test_generations import check\n"
              "s = GenerationStore(sys.argv[1], '500114005001')\n"
              "while True:\n    if s.draft() is None:\n"
              "        s.make_draft(s.features(2), 'plan', complete=True)\n"
              "    s.publish('plan', check)\n    s.rollback(1, 'plan')\n")
    store.make_draft(split(13), "plan")
    for delay in (0.0, 0.05, 0.13, 0.31):
        seen = len(store.manifest()["events"])
        proc = subprocess.Popen([sys.executable, "-c", script, str(store.folder),
                                 os.path.dirname(__file__)])
        deadline = time.monotonic() + 60
        while len(store.manifest()["events"]) < seen + 2:  # it is publishing and rolling back
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        doc = store.manifest()
        grids = store.grid_set(doc["active"], doc)
        assert len(grids) == (13 if doc["active"] == 1 else 14)
        assert list(grids.codes) == sorted(store.get(doc["active"], doc).codes)


def test_refusals_name_the_values_at_fault(store):
    store.make_draft(split(13), "plan")
    store.publish("plan", check)
    cases = [(lambda: store.rollback("2", "plan"), "'2'"),
             (lambda: store.rollback(9, "plan"), "generation 9; there are: 1, 2"),
             (lambda: store.rollback(2, "plan"), "generation 2 is already"),
             (lambda: store.make_draft(split(1, 1, 4), "plan", effective_date="2027/1/1"),
              "'2027/1/1'"),
             (lambda: store.make_draft(split(1, 1, 4), "plan", teams={code(99): None}),
              f"'{code(99)}' is not a new grid of the draft; teams are chosen for new grids "
              f"only: {code(16)}, {code(17)}"),
             (lambda: store.make_draft(split(1, 1, 4), "plan", teams={code(16): code(13)}),
              f"'{code(13)}' is not an active grid"),
             (lambda: store.make_draft(split(1, 1, 4), "x" * 81), "'xxxx"),
             (lambda: GenerationStore(store.folder, "5001"), "'5001'")]
    for call, text in cases:
        with pytest.raises((BadInput, Conflict, NotFound)) as info:
            call()
        assert text in info.value.render("en"), info.value.render("en")
    store.make_draft(split(1, 1, 4), "plan")
    with pytest.raises(Conflict, match="was never published") as info:
        store.rollback(3, "plan")
    assert info.value.field == "generation"


def test_names_in_both_languages_come_back_for_unchanged_areas():
    features = seed_features()
    bare = [feature({}, features[0]["geometry"])]
    history = {f["properties"]["grid_code"]: shape(f["geometry"]) for f in features}
    props = plan_draft(bare, features, history, PREFIX).features[-1]["properties"]
    assert (props["name"], props["name_en"]) == (features[0]["properties"]["name"],
                                                 features[0]["properties"]["name_en"])
    named = [feature({"name": "新名", "name_en": "New"}, features[0]["geometry"])]
    props = plan_draft(named, features, history, PREFIX).features[-1]["properties"]
    assert (props["name"], props["name_en"]) == ("新名", "New")


def test_a_discarded_draft_is_gone_and_a_new_one_takes_its_number(store):
    store.make_draft(split(13), "plan")
    gone = store.discard_draft()
    assert gone.number == 2 and store.draft() is None
    assert [g.number for g in store.generations()] == [1]
    with pytest.raises(Conflict):
        store.discard_draft()
    assert store.make_draft(split(13), "plan")[0].number == 2


def test_team_sources_follow_every_published_generation(store):
    store.make_draft(split(13), "plan", teams={code(14): code(12), code(15): code(13)})
    assert store.team_sources() == {}  # a draft's choices count once published
    store.publish("plan", check)
    assert store.team_sources() == {code(14): code(12), code(15): code(13)}
    store.rollback(1, "plan")
    assert store.team_sources() == {code(14): code(12), code(15): code(13)}  # kept for cases
    assert store.collection(2)["generation"]["number"] == 2
    assert len(store.collection(2)["features"]) == 14


def test_the_manifest_records_who_did_what_when(tmp_path, caplog):
    from datetime import datetime, timedelta, timezone

    at = datetime(2027, 1, 2, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    store = GenerationStore(tmp_path / "g", PREFIX, clock=lambda: at)
    store.ensure(SEED)
    store.make_draft(split(13), "ann", description="拆分", effective_date="2027-02-01")
    caplog.set_level("INFO", logger="gridmap.geo.generations")
    _, new = store.publish("bob", check)
    assert (new.published_at, new.published_by, new.based_on, new.created_at) == (
        "2027-01-02T09:30:00+08:00", "bob", 1, "2027-01-02T09:30:00+08:00")
    assert (new.author, new.description, new.effective_date) == ("ann", "拆分", "2027-02-01")
    store.rollback(1, "cy")
    assert store.manifest()["events"] == [
        {"at": "2027-01-02T09:30:00+08:00", "action": "publish", "number": 1, "by": "geodata"},
        {"at": "2027-01-02T09:30:00+08:00", "action": "publish", "number": 2, "by": "bob"},
        {"at": "2027-01-02T09:30:00+08:00", "action": "rollback", "number": 1, "from": 2,
         "by": "cy"}]
    assert "generation 2 published by bob (was 1)" in caplog.text
    assert "generation 1 active again (rolled back from 2 by cy)" in caplog.text


def test_refusals_carry_their_field_and_numbers(store):
    store.make_draft(split(13), "plan")
    with pytest.raises(Conflict) as info:
        store.publish("plan", check, expected_draft=5)
    assert info.value.field == "draft" and info.value.msg.params["number"] == 2
    with pytest.raises(Conflict) as info:
        store.rollback(1, "plan")
    assert info.value.field == "generation" and info.value.msg.params["number"] == 1
    with pytest.raises(Conflict) as info:
        store.rollback(2, "plan")
    assert info.value.field == "generation" and info.value.msg.params["number"] == 2
    with pytest.raises(BadInput) as info:
        store.rollback(2.0, "plan")
    assert info.value.field == "generation" and info.value.msg.params["value"] == "2.0"
    bad = split(13)
    bad[0]["geometry"]["coordinates"][0].insert(2, [108.90, 29.40])
    store.make_draft(bad, "plan")
    with pytest.raises(InvalidBoundary) as info:
        store.publish("plan", check)
    params = info.value.msg.params
    assert params["number"] == 2 and params["count"] == len(check(store.features(2)).errors) > 1
