"""``gridmap demo cases``: a deterministic, realistic history that passes the live rules."""

import collections
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from gridmap.cases.demo import HOT_SPOTS, RAINY
from gridmap.cases.intake import check_report
from gridmap.cases.service import CaseService
from gridmap.cases.workflow import OPEN_STATES, STATES, Actor
from gridmap.cli import main
from gridmap.config import load_config
from gridmap.datafolder import load_community
from gridmap.store import GeoJSONSeqStore

COUNT, SEED, END = 2500, 7, "2026-06-30"


def run(data_dir, *args):
    result = CliRunner().invoke(main, ["demo", "cases", *args, "--data-dir", str(data_dir)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def make(data_dir, *extra, count=COUNT, seed=SEED):
    return run(data_dir, "--count", str(count), "--months", "12", "--seed", str(seed),
               "--end", END, *extra)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(data folder, community, the cases, the end instant) of one run."""
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    result = make(data_dir, "--jobs", "1")
    assert result.exit_code == 0, result.output
    community = load_community(load_config({"DATA_DIR": str(data_dir)}))
    with GeoJSONSeqStore(data_dir / "cases") as store:
        features = list(store.all())
    end = datetime.fromisoformat("2026-07-01T00:00:00+08:00")
    assert f"{COUNT} 件演示案件 / demo cases written" in result.stderr
    assert "up to 2026-07-01T00:00:00+08:00" in result.stderr
    return data_dir, community, features, end


def test_the_same_seed_gives_byte_identical_files_whatever_the_jobs(demo, tmp_path):
    data_dir = demo[0]
    assert make(tmp_path / "again", "--jobs", "3", "--batch", "700").exit_code == 0
    snapshot = (data_dir / "cases" / "cases.geojson").read_bytes()
    assert (tmp_path / "again" / "cases" / "cases.geojson").read_bytes() == snapshot
    small = []
    for name, seed in (("small", SEED), ("other", SEED + 1)):
        assert make(tmp_path / name, count=200, seed=seed).exit_code == 0
        small.append((tmp_path / name / "cases" / "cases.geojson").read_bytes())
    assert small[0] != small[1]
    assert not list((data_dir / "cases").glob("*.geojsons"))  # compacted: one snapshot


def test_counts_numbers_and_times(demo):
    _, _, features, end = demo
    assert len(features) == COUNT
    assert [f["properties"]["case_no"] for f in features] == list(range(1, COUNT + 1))
    reported = [datetime.fromisoformat(f["properties"]["reported_at"]) for f in features]
    assert reported == sorted(reported)  # numbered as reported
    assert reported[0] >= end - timedelta(days=366) and reported[-1] < end
    assert reported[-1] > end - timedelta(days=3) and reported[0] < end - timedelta(days=360)
    for f in features:
        assert all(datetime.fromisoformat(e["at"]) <= end for e in f["properties"]["history"])
    assert len({f["properties"]["tracking_code"] for f in features}) == COUNT


def test_every_case_is_routed_to_the_grid_that_contains_it(demo):
    _, community, features, _ = demo
    router = community.router
    for f in features:
        props = f["properties"]
        route = router.route_point(*f["geometry"]["coordinates"])
        assert route.status == props["routing"] == "inside"
        assert props["history"][0]["grid_code"] == route.code
        forwards = [e["to_grid"] for e in props["history"] if "to_grid" in e]
        assert props["grid_code"] == (forwards[-1] if forwards else route.code)


def replay(service, feature):
    """The case rebuilt from its report and history by the live service's own steps."""
    props = feature["properties"]
    body = {"lon": props["input"]["lon"], "lat": props["input"]["lat"],
            "category": props["category"], "description": props["description"],
            "contact": props["reporter"]["contact"], "name": props["reporter"]["name"],
            "hide_name": props["reporter"]["hide_name"]}
    fields = check_report(body, service.community.categories)
    route = service.community.router.route_point(fields["lon"], fields["lat"])
    at = datetime.fromisoformat(props["reported_at"])
    rebuilt = service.new_case(fields, service.community.categories[props["category"]], route,
                               props["generation"], at, feature["id"], props["tracking_code"])["properties"]
    for event in props["history"][1:]:
        params = {k: event[k] for k in ("to_grid", "to_person", "reason", "rating") if k in event}
        actor = Actor(event["role"], event["actor"], frozenset([rebuilt["grid_code"]]))
        rebuilt = service.transition(rebuilt, event["action"], actor,
                                     datetime.fromisoformat(event["at"]), event["note"], **params)
    return rebuilt


def test_histories_pass_the_workflow_rules_step_by_step(demo):
    _, community, features, _ = demo
    service = CaseService(None, community)
    for f in features:
        expected = {k: v for k, v in f["properties"].items() if k not in ("case_no", "version")}
        assert replay(service, f) == expected, f["id"]
        times = [e["at"] for e in f["properties"]["history"]]
        assert times == sorted(times)


def test_every_state_and_turn_of_the_workflow_is_there(demo):
    _, community, features, end = demo
    service = CaseService(None, community)
    states = collections.Counter(f["properties"]["state"] for f in features)
    assert set(states) == set(STATES)
    assert states["rated"] + states["closed"] > 0.8 * COUNT  # most are done
    actions = collections.Counter(e["action"] for f in features for e in f["properties"]["history"])
    assert actions["reopen"] >= 10 and actions["cancel"] >= 30 and actions["forward"] >= 60
    events = [e for f in features for e in f["properties"]["history"]]
    assert {e["reason"] for e in events if e["action"] == "cancel"} == {"duplicate", "invalid"}
    assert any("to_grid" in e for e in events) and any("to_person" in e for e in events)
    assert {e["rating"] for e in events if e["action"] == "rate"} == {1, 2, 3, 4, 5}
    overdue_now = collections.Counter(
        clock for f in features if f["properties"]["state"] in OPEN_STATES
        for clock, late in service.overdue(f["properties"], end).items() if late)
    assert set(overdue_now) == {"sign", "handle", "verify"}  # open cases past every clock
    late_once = sum(any(service.overdue(f["properties"], end).values()) for f in features
                    if f["properties"]["state"] in ("closed", "rated"))
    assert 0.05 * COUNT < late_once < 0.5 * COUNT  # done late now and then, not mostly


def test_hot_spots_seasons_and_the_weekly_rhythm(demo):
    _, _, features, _ = demo
    cells = collections.Counter((round(f["geometry"]["coordinates"][0], 3),
                                 round(f["geometry"]["coordinates"][1], 3)) for f in features)
    top = sum(n for _, n in cells.most_common(len(HOT_SPOTS) * 4))
    assert top > 0.3 * COUNT, "no hot spots"  # ~100 m cells: a few hold a third of all
    months = collections.defaultdict(collections.Counter)
    weekdays = collections.Counter()
    hours = collections.Counter()
    for f in features:
        at = datetime.fromisoformat(f["properties"]["reported_at"])
        months["rainy" if at.month in RAINY else "dry"][f["properties"]["category"]] += 1
        weekdays["weekend" if at.weekday() >= 5 else "weekday"] += 1
        hours["night" if at.hour < 6 else "day" if 8 <= at.hour < 18 else "other"] += 1
    share = {season: c["07"] / sum(c.values()) for season, c in months.items()}
    assert share["rainy"] > 1.4 * share["dry"], share  # drains in the rainy season
    assert weekdays["weekend"] / 2 < 0.8 * weekdays["weekday"] / 5
    assert hours["day"] > 5 * hours["night"]


def test_a_store_with_cases_is_refused_unless_append(demo, tmp_path):
    data_dir = tmp_path / "data"
    assert make(data_dir, count=50).exit_code == 0
    refused = make(data_dir, count=50, seed=SEED + 1)
    assert refused.exit_code == 2
    assert "--append" in refused.stderr and "50" in refused.stderr
    added = make(data_dir, "--append", count=40, seed=SEED + 1)
    assert added.exit_code == 0, added.stderr
    with GeoJSONSeqStore(data_dir / "cases") as store:
        assert store.count() == 90
    same_seed = make(data_dir, "--append", count=40, seed=SEED + 1)  # the same ids again
    assert same_seed.exit_code == 2 and "features[0].id" in same_seed.stderr
    with GeoJSONSeqStore(data_dir / "cases") as store:
        assert store.count() == 90


@pytest.mark.parametrize("end, words", [
    ("2999-01-01", "in the future"),
    ("next week", "'next week'"),
])
def test_a_bad_end_is_refused_naming_it(tmp_path, end, words):
    result = run(tmp_path / "data", "--count", "10", "--end", end)
    assert result.exit_code == 2 and words in result.stderr and "--end" in result.stderr
    with GeoJSONSeqStore(tmp_path / "data" / "cases") as store:
        assert store.count() == 0


def test_the_service_starts_from_the_index_the_demo_wrote(demo, caplog):
    import logging

    from gridmap.cases.service import clock_columns

    data_dir, community = demo[0], demo[1]
    assert (data_dir / "cases" / "cases.index").exists()
    with caplog.at_level(logging.INFO, logger="gridmap.store.geojsonseq"):
        with GeoJSONSeqStore(data_dir / "cases", clocks=clock_columns(community)) as store:
            assert store.count() == COUNT
    assert not [m for m in caplog.messages if "reading the snapshot whole" in m]
