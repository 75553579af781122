"""CaseFilter's checks, and the column and aggregate code's own corners (the
behaviour every backend shares is in contract.py)."""

import dataclasses
import logging
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from contract import LON, T0, make_feature

from gridmap.errors import BadInput
from gridmap.store.aggregates import utc_offsets
from gridmap.store.base import CaseFilter, check_filter
from gridmap.store.columns import mercator_px


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
    ts = np.array([start + rng.uniform(0, 45 * 365 * 86400) for _ in range(3000)]
                  + [np.nan])
    # and the seconds around each change in 2026
    changes = [t for t in range(int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()),
                                int(datetime(2027, 1, 1, tzinfo=timezone.utc).timestamp()), 900)
               if datetime.fromtimestamp(t, zone).utcoffset() != datetime.fromtimestamp(
                   t + 900, zone).utcoffset()]
    ts = np.concatenate([ts, [t + d for t in changes for d in range(0, 901, 1)]])
    expected = [0 if np.isnan(t) else datetime.fromtimestamp(t, zone).utcoffset().total_seconds()
                for t in ts]
    assert utc_offsets(ts, zone).tolist() == expected
    assert utc_offsets(np.array([np.nan]), zone).tolist() == [0]


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
