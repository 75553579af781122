"""The store's overdue (from the clock columns of :func:`clock_columns`) agrees with
:meth:`CaseService.overdue` on every case, for random histories made by the real
workflow, old-style reopened cases included, at random instants."""

from datetime import datetime, timedelta

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridmap.cases.service import CaseService, clock_columns
from gridmap.cases.workflow import Actor
from gridmap.config import load_config
from gridmap.datafolder import load_community
from gridmap.errors import GridmapError
from gridmap.store import GeoJSONSeqStore
from gridmap.store.base import CLOCKS, OVERDUE, CaseFilter

ACTIONS = {  # action -> (actor, params)
    "sign": (Actor("dispatcher", "chen"), {}),
    "start": (Actor("dispatcher", "chen"), {}),
    "reply": (Actor("dispatcher", "chen"), {}),
    "close": (Actor("dispatcher", "wu"), {}),
    "rate": (Actor("resident"), {"rating": 4}),
    "reopen": (Actor("dispatcher", "wu"), {}),
    "cancel": (Actor("dispatcher", "chen"), {"reason": "invalid"}),
    "forward": (Actor("dispatcher", "chen"), {}),
}
NOTED = ("reply", "forward", "cancel", "reopen")
NEXT = {"reported": "sign", "signed": "start", "handling": "reply", "replied": "close",
        "closed": "reopen", "rated": "reopen", "cancelled": "sign"}  # "next": the usual step


@pytest.fixture(scope="module")
def community(tmp_path_factory):
    return load_community(load_config({"DATA_DIR": str(tmp_path_factory.mktemp("o") / "data")}))


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


histories = st.lists(st.tuples(
    st.integers(0, 12),  # grid
    st.lists(st.tuples(st.sampled_from(sorted(ACTIONS) + ["next"] * 6 + ["wait"]),
                       st.floats(0, 150)), max_size=10),
    st.booleans(),  # rewrite as a case reopened before reopens began a new round
), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(histories=histories, probes=st.lists(st.floats(-100, 2000), min_size=1, max_size=4))
def test_the_store_judges_overdue_as_the_service_does(community, tmp_path_factory, histories,
                                                       probes):
    start = datetime.fromisoformat("2026-03-06T16:30:00+08:00")
    clock = Clock(start)
    folder = tmp_path_factory.mktemp("cases")
    store = GeoJSONSeqStore(folder / "cases", clocks=clock_columns(community))
    service = CaseService(store, community, clock=clock)
    codes = community.grids.codes
    categories = [c for c in community.categories.values() if not c.retired]
    for n, (grid, steps, legacy) in enumerate(histories):
        clock.now = start + timedelta(hours=n)
        point = shapely.get_coordinates(community.grids[codes[grid]].geometry.representative_point())[0]
        feature, _, _ = service.report({"lon": float(point[0]), "lat": float(point[1]),
                                        "category": categories[n % len(categories)].code,
                                        "description": f"case {n}"})
        for action, hours in steps:
            clock.now += timedelta(hours=hours)
            if action == "wait":
                continue
            if action == "next":
                action = NEXT[feature["properties"]["state"]]
            actor, params = ACTIONS[action]
            if action == "forward":
                params = {"to_grid": codes[(grid + 1) % len(codes)]}
            try:
                feature = service.act(feature["id"], action, actor,
                                      note="说明" if action in NOTED else None, **params)
            except GridmapError:
                pass  # not allowed from this state: the history goes on without it
        if legacy:  # as stored before reopens restarted handling: the old deadline kept
            case = store.get(feature["id"])
            props = case["properties"]
            if any(e["action"] == "reopen" for e in props["history"]):
                props["deadlines"]["handle"] = props["history"][0]["at"]
                props["reply"] = "旧回复"
                store.update(case["id"], case, props["version"])
    cases = list(store.all())
    for offset in probes:
        now = start + timedelta(hours=offset)
        for which in OVERDUE:
            expected = {f["id"] for f in cases
                        if (flags := service.overdue(f["properties"], now))
                        and (any(flags.values()) if which == "any" else flags[which])}
            found, total = store.find(CaseFilter(overdue=which, now=now), limit=None)
            assert {f["id"] for f in found} == expected and total == len(expected), (which, now)
        reopened = GeoJSONSeqStore(folder / "cases", clocks=clock_columns(community))
        try:  # clocks read from the files agree with those of the writes
            assert reopened.find(CaseFilter(overdue="any", now=now), limit=None) == store.find(
                CaseFilter(overdue="any", now=now), limit=None)
        finally:
            reopened.close()
    store.close()


def test_the_clock_columns_are_each_clocks_deadline_and_stop(community):
    clocks = clock_columns(community)
    props = {"state": "replied", "category": "x", "deadlines": {
        "sign": "2026-03-06T18:00:00+08:00", "handle": "2026-03-09T18:00:00+08:00",
        "verify": "2026-03-10T18:00:00+08:00"}, "history": [
        {"at": "2026-03-06T17:00:00+08:00", "action": "sign"},
        {"at": "2026-03-06T17:30:00+08:00", "action": "forward"},
        {"at": "2026-03-07T09:00:00+08:00", "action": "reply"}]}
    at = lambda text: datetime.fromisoformat(text).timestamp()  # noqa: E731
    assert clocks(props) == (at("2026-03-06T18:00:00+08:00"), None,  # forwarded: sign runs again
                             at("2026-03-09T18:00:00+08:00"), at("2026-03-07T09:00:00+08:00"),
                             at("2026-03-10T18:00:00+08:00"), None)
    assert len(CLOCKS) * 2 == len(clocks({"deadlines": {}, "history": []}))
