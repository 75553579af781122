"""CaseFilter's checks, and the column and aggregate code's own corners (the
behaviour every backend shares is in contract.py)."""

import dataclasses
import logging
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from contract import AGG_STATES, LON, T0, make_feature

from gridmap.errors import BadInput
from gridmap.store.aggregates import clusters, grid_figures, heat, page, utc_offsets
from gridmap.store.base import CaseFilter, check_filter
from gridmap.store.columns import Selection, mercator_px


def test_a_filter_keeps_its_values_sorted_without_repeats():
    flt = CaseFilter(grid_codes={"B", "A"}, states=("signed", "reported", "signed"),
                     categories=iter(["road"]), since="2026-03-01T00:00:00+08:00",
                     bbox=[1, 2, 3.5, 4], text="  路灯  Lamp ", overdue="any", now=T0)
    assert flt.grid_codes == ("A", "B") and flt.states == ("reported", "signed")
    assert flt.categories == ("road",)
    assert flt.since == datetime(2026, 3, 1, tzinfo=timezone(timedelta(hours=8)))
    assert flt.bbox == (1.0, 2.0, 3.5, 4.0) and isinstance(flt.bbox[0], float)
    assert flt.text == "路灯  Lamp" and flt.words == ("路灯", "lamp")
    assert flt == CaseFilter(grid_codes=["A", "B"], states=["reported", "signed"],
                             categories=["road"], since=flt.since, bbox=(1, 2, 3.5, 4),
                             text="路灯  Lamp", overdue="any", now=T0)
    assert hash(flt) == hash(dataclasses.replace(flt))
    with pytest.raises(dataclasses.FrozenInstanceError):
        flt.states = None
    assert CaseFilter(text=" \t").text is None and CaseFilter().words == ()
    assert CaseFilter(grid_codes=[]).grid_codes == ()


@pytest.mark.parametrize("kwargs, field, en", [
    ({"grid_codes": "A"}, "grid_codes", "grid_codes must be a list of strings, got 'A'"),
    ({"states": [None]}, "states", "states must be a list of strings, got (None,)"),
    ({"categories": 5}, "categories", "categories must be a list of strings, got 5"),
    ({"since": "2026-03-01"}, "since", "since must be ISO 8601 with a UTC offset"),
    ({"until": datetime(2026, 3, 1)}, "until", "until must be ISO 8601 with a UTC offset"),
    ({"now": 1700000000}, "now", "now must be ISO 8601 with a UTC offset"),
    ({"bbox": (1, 2, 3)}, "bbox", "bbox must be [west, south, east, north] in degrees"),
    ({"bbox": (3, 2, 1, 4)}, "bbox", "with west <= east and south <= north, got (3, 2, 1, 4)"),
    ({"bbox": (1, 4, 3, 2)}, "bbox", "got (1, 4, 3, 2)"),
    ({"bbox": (1, 2, 3, float("inf"))}, "bbox", "got (1, 2, 3, inf)"),
    ({"bbox": (1, 2, True, 4)}, "bbox", "got (1, 2, True, 4)"),
    ({"bbox": "1,2,3,4"}, "bbox", "got '1,2,3,4'"),
    ({"text": 7}, "text", "text must be text of 1-200 characters, got 7"),
    ({"text": "x" * 201}, "text", "text must be text of 1-200 characters"),
    ({"overdue": "late"}, "overdue", "overdue must be one of sign, handle, verify, any, got 'late'"),
    ({"overdue": ["any"]}, "overdue", "got ['any']"),
])
def test_a_bad_filter_value_is_refused_naming_the_field(kwargs, field, en):
    with pytest.raises(BadInput) as info:
        CaseFilter(**kwargs)
    assert info.value.status == 400 and info.value.field == field
    assert en in info.value.render("en")
    zh = info.value.render("zh")
    assert field in zh and "must" not in zh


def test_check_filter_takes_a_filter_or_none():
    flt = CaseFilter(states=["closed"])
    assert check_filter(flt) is flt and check_filter(None) == CaseFilter()
    with pytest.raises(BadInput) as info:
        check_filter({"states": ["closed"]})
    assert info.value.field == "flt"
    assert info.value.render("en") == "flt must be a CaseFilter, got {'states': ['closed']}"


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York", "Europe/Berlin",
                                "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"])
def test_utc_offsets_are_the_zones_at_each_instant(tz):
    zone, rng = ZoneInfo(tz), random.Random(tz)
    start = datetime(1985, 1, 1, tzinfo=timezone.utc).timestamp()
    ts = np.array([start + rng.uniform(0, 45 * 365 * 86400) for _ in range(3000)])
    # and the seconds around each change in 2026
    changes = [t for t in range(int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()),
                                int(datetime(2027, 1, 1, tzinfo=timezone.utc).timestamp()), 900)
               if datetime.fromtimestamp(t, zone).utcoffset() != datetime.fromtimestamp(
                   t + 900, zone).utcoffset()]
    ts = np.concatenate([ts, [t + d for t in changes for d in range(0, 901, 1)]])
    expected = [datetime.fromtimestamp(t, zone).utcoffset().total_seconds() for t in ts]
    assert utc_offsets(ts, zone).tolist() == expected
    with_nan = np.concatenate([[np.nan], ts[:5], [np.nan]])  # NaN: some offset, the rest right
    assert utc_offsets(with_nan, zone)[1:-1].tolist() == expected[:5]
    assert utc_offsets(np.array([np.nan]), zone).shape == (1,)


def test_mercator_pixels_take_scalars_and_arrays():
    assert mercator_px(-180.0, 85.0511287798) == pytest.approx((0.0, 0.0), abs=1e-6)
    assert mercator_px(180.0, -89.0) == pytest.approx((256.0, 256.0), abs=1e-6)  # clipped
    x, y = mercator_px(np.array([0.0, 90.0]), np.array([0.0, 0.0]))
    assert x.tolist() == [128.0, 192.0] and y.tolist() == [128.0, 128.0]


def test_columns_grow_past_their_first_size_and_keep_every_row(open_store):
    store = open_store()
    with store.deferred_sync():
        for i in range(2100):
            store.create(make_feature(f"c{i}", lon=LON + i * 1e-5, grid="AB"[i % 2]))
    assert store.count_by(None, ("grid_code",)) == [{"grid_code": "A", "count": 1050},
                                                    {"grid_code": "B", "count": 1050}]
    heat = store.heat(None, (LON - 1, 0, LON + 1, 89), 18)
    assert heat["total"] == 2100 and sum(w for _, _, w in heat["cells"]) == 2100
    assert [f["id"] for f in store.find(None, order="case_no", limit=2, offset=2098)[0]] == [
        "c2098", "c2099"]


def test_a_clock_extractor_that_fails_leaves_the_case_without_clocks(folder, open_store, caplog):
    def clocks(props):
        if props.get("broken"):
            raise KeyError("deadlines")
        return [(T0 - timedelta(hours=1)).timestamp(), None, None, None, None, None]

    store = open_store(clocks=clocks)
    store.create(make_feature("ok"))
    store.create(make_feature("broken", broken=True))
    with caplog.at_level(logging.ERROR, logger="gridmap.store.columns"):
        found = store.find(CaseFilter(overdue="sign", now=T0))
    assert [f["id"] for f in found[0]] == ["ok"]
    assert "no clocks for case T-broken" in caplog.text
    short = open_store(clocks=lambda props: [None] * 5)  # read from the files: the same
    assert short.find(CaseFilter(overdue="any", now=T0)) == ([], 0)


def selection(reported=(), **arrays):
    """A Selection of rows 0..n-1 (case_no 1..n) without a store."""
    n = len(reported) or len(next(iter(arrays.values())))
    values = {"grid": ["A", "B"], "state": list(AGG_STATES), "category": ["road"]}
    return Selection(np.arange(n), {"reported": np.asarray(reported, dtype=float), **arrays},
                     values, feature)


def feature(row, properties):
    """A case's Feature without a store: its case_no, or its id alone when sparse."""
    return row + 1 if properties is None else {"id": f"c{row + 1}", "properties": {}}


def test_pages_in_every_order_with_ties_and_missing_times_at_every_size():
    rng = random.Random(7)
    reported = [rng.choice([np.nan, *range(40)]) for _ in range(400)]  # many ties
    sel = selection(reported)
    for order in ("-reported_at", "reported_at", "-case_no", "case_no"):
        def sort_key(no):
            return no if order.endswith("case_no") else (
                -np.inf if np.isnan(reported[no - 1]) else reported[no - 1], no)
        expected = sorted(range(1, 401), key=sort_key, reverse=order.startswith("-"))
        for limit in (0, 1, 2, 3, 7, 50, 99, 100, 101, 399, None):
            for offset in (0, 1, 5, 98, 398, 400, 401):
                stop = None if limit is None else offset + limit
                assert page(sel, order, limit, offset) == (expected[offset:stop], 400), (
                    order, limit, offset)


def test_a_lone_case_is_its_own_cluster_at_its_place_and_others_at_their_mean():
    lon = np.array([108.1234567, 108.1234568, 108.1200001, 108.5])
    lat = np.array([29.5, 29.5000002, 29.51, 29.9])
    x, y = mercator_px(lon, lat)
    sel = selection(lon=lon, lat=lat, x=x, y=y)
    found = clusters(sel, (108, 29, 109, 30), 10, 60)
    assert found == {"total": 4, "clusters": [
        {"lat": 29.503333, "lon": 108.122305, "count": 3,
         "bbox": [108.1200001, 29.5, 108.1234568, 29.51]},
        {"lat": 29.9, "lon": 108.5, "count": 1, "bbox": [108.5, 29.9, 108.5, 29.9],
         "id": "c4", "case_no": 4}]}
    heat_ = heat(sel, (108, 29, 109, 30), 10, 60)
    assert heat_ == {"cells": [[29.503333, 108.122305, 3], [29.9, 108.5, 1]], "total": 4, "max": 3}


def test_figures_per_grid_count_each_kind_of_state_and_clock():
    states = ["reported", "closed", "rated", "cancelled", "handling", "closed"]
    codes = np.array([AGG_STATES.index(s) for s in states])
    sel = selection(grid=np.array([0, 0, 0, 0, 1, 1]), state=codes,
                    late_sign=np.array([1, 0, 0, 0, 0, 0], dtype=bool),
                    late_handle=np.array([0, 1, 0, 0, 0, 0], dtype=bool),
                    late_verify=np.array([0, 0, 1, 0, 1, 0], dtype=bool))
    assert grid_figures(sel) == {
        "A": {"received": 4, "open": 1, "overdue": 3, "open_overdue": 1, "closed": 2,
              "closed_on_time": 1},
        "B": {"received": 2, "open": 1, "overdue": 1, "open_overdue": 1, "closed": 1,
              "closed_on_time": 1}}


def test_a_change_of_offset_on_the_first_day_is_found():
    zone = ZoneInfo("Europe/Berlin")
    change = datetime(2026, 3, 29, 1, tzinfo=timezone.utc).timestamp()  # 02:00 CET -> 03:00 CEST
    ts = np.array([change - 3600, change - 1, change, change + 7200])
    assert utc_offsets(ts, zone).tolist() == [3600, 3600, 7200, 7200]
