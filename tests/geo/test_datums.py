"""Tests for gridmap.geo.datums: WGS 84 <-> GCJ-02 <-> BD-09."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridmap.errors import BadCoordinate, BadInput
from gridmap.geo.datums import (
    DATUMS, bd09_to_gcj02, bd09_to_wgs84, from_wgs84, gcj02_to_bd09, gcj02_to_wgs84,
    normalize_datum, to_wgs84, wgs84_to_bd09, wgs84_to_gcj02,
)

QIANJIANG_WGS = (108.77568, 29.53106)
QIANJIANG_GCJ = (108.78005, 29.52836)
QIANJIANG_BD = (108.78665, 29.53403)

china_lons = st.floats(73.66, 135.05)
china_lats = st.floats(3.86, 53.55)
china_points = st.tuples(china_lons, china_lats)
outside_points = st.one_of(
    st.tuples(st.one_of(st.floats(-180.0, 73.659999), st.floats(135.050001, 180.0)),
              st.floats(-90.0, 90.0)),
    st.tuples(st.floats(-180.0, 180.0),
              st.one_of(st.floats(-90.0, 3.859999), st.floats(53.550001, 90.0))),
)
# Farther than any GCJ-02 shift (about 0.01 degree) from China's box.
far_outside_points = st.one_of(
    st.tuples(st.one_of(st.floats(-180.0, 73.5), st.floats(135.2, 180.0)), st.floats(-90.0, 90.0)),
    st.tuples(st.floats(-180.0, 180.0), st.one_of(st.floats(-90.0, 3.7), st.floats(53.7, 90.0))),
)
any_points = st.one_of(china_points, outside_points)

CONVERSIONS = [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02,
               wgs84_to_bd09, bd09_to_wgs84]


def haversine_m(a, b):
    """Great-circle distance in metres between two (lon, lat) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


# --- test vectors ----------------------------------------------------------------

def test_wgs84_to_gcj02_reference_vector():
    lon, lat = wgs84_to_gcj02(120.0, 40.0)
    assert lon == pytest.approx(120.00567568355486, abs=1e-9)
    assert lat == pytest.approx(40.0013047896019, abs=1e-9)


def test_qianjiang_seat_wgs_to_gcj_to_bd():
    gcj = wgs84_to_gcj02(*QIANJIANG_WGS)
    assert gcj == pytest.approx(QIANJIANG_GCJ, abs=1e-5)
    assert gcj02_to_bd09(*gcj) == pytest.approx(QIANJIANG_BD, abs=1e-5)
    assert wgs84_to_bd09(*QIANJIANG_WGS) == pytest.approx(QIANJIANG_BD, abs=1e-5)


def test_qianjiang_gcj_shift_is_about_519_m():
    shift = haversine_m(QIANJIANG_WGS, wgs84_to_gcj02(*QIANJIANG_WGS))
    assert 500 <= shift <= 540


def test_qianjiang_back_from_gcj_and_bd():
    assert gcj02_to_wgs84(*QIANJIANG_GCJ) == pytest.approx(QIANJIANG_WGS, abs=1e-5)
    assert bd09_to_gcj02(*QIANJIANG_BD) == pytest.approx(QIANJIANG_GCJ, abs=1e-5)
    assert bd09_to_wgs84(*QIANJIANG_BD) == pytest.approx(QIANJIANG_WGS, abs=1e-5)


def test_iterated_inverse_beats_the_one_step_inverse():
    gcj = wgs84_to_gcj02(*QIANJIANG_WGS)
    shift = (gcj[0] - QIANJIANG_WGS[0], gcj[1] - QIANJIANG_WGS[1])
    back_shift = wgs84_to_gcj02(*gcj)
    one_step = (gcj[0] - (back_shift[0] - gcj[0]), gcj[1] - (back_shift[1] - gcj[1]))
    assert shift != (0.0, 0.0)
    assert haversine_m(one_step, QIANJIANG_WGS) > 0.01
    assert haversine_m(gcj02_to_wgs84(*gcj), QIANJIANG_WGS) < 0.001


# --- properties inside China ---------------------------------------------------

@given(china_points)
def test_gcj02_round_trip_within_1_cm(point):
    back = gcj02_to_wgs84(*wgs84_to_gcj02(*point))
    assert haversine_m(point, back) < 0.01


@given(china_points)
def test_gcj02_inverse_meets_its_bound_in_degrees(point):
    gcj = wgs84_to_gcj02(*point)
    again = wgs84_to_gcj02(*gcj02_to_wgs84(*gcj))
    assert abs(again[0] - gcj[0]) < 1e-9 and abs(again[1] - gcj[1]) < 1e-9


@given(china_points)
def test_gcj02_shift_is_real_and_bounded(point):
    shift = haversine_m(point, wgs84_to_gcj02(*point))
    assert 1 < shift < 1500


@given(china_points)
def test_bd09_round_trip_within_1_cm(point):
    assert haversine_m(point, bd09_to_gcj02(*gcj02_to_bd09(*point))) < 0.01
    assert haversine_m(point, bd09_to_wgs84(*wgs84_to_bd09(*point))) < 0.01


@given(china_points, st.sampled_from(DATUMS))
def test_to_wgs84_undoes_from_wgs84(point, datum):
    assert haversine_m(point, to_wgs84(*from_wgs84(*point, datum), datum)) < 0.01


@pytest.mark.parametrize("datum, forward", [
    ("gcj02", wgs84_to_gcj02), ("amap", wgs84_to_gcj02),
    ("bd09", wgs84_to_bd09), ("Baidu", wgs84_to_bd09),
])
def test_from_wgs84_dispatches_by_datum(datum, forward):
    assert from_wgs84(*QIANJIANG_WGS, datum) == forward(*QIANJIANG_WGS)


@pytest.mark.parametrize("datum, inverse", [
    ("gcj02", gcj02_to_wgs84), ("mars", gcj02_to_wgs84),
    ("bd09", bd09_to_wgs84), ("BD-09", bd09_to_wgs84),
])
def test_to_wgs84_dispatches_by_datum(datum, inverse):
    assert to_wgs84(*QIANJIANG_GCJ, datum) == inverse(*QIANJIANG_GCJ)


@pytest.mark.parametrize("datum", ["wgs84", "GPS", "cgcs2000"])
def test_wgs84_datums_leave_points_alone(datum):
    assert to_wgs84(108.8, 29.5, datum) == (108.8, 29.5)
    assert from_wgs84(108, 29, datum) == (108.0, 29.0)


# --- outside China ------------------------------------------------------------------

@given(outside_points)
def test_wgs84_to_gcj02_is_identity_outside_china(point):
    assert wgs84_to_gcj02(*point) == point


@given(far_outside_points)
def test_gcj02_to_wgs84_is_identity_outside_china(point):
    assert gcj02_to_wgs84(*point) == point


@given(st.floats(73.62, 73.659999), china_lats)
def test_gcj02_to_wgs84_leaves_points_just_west_of_the_box_alone(lon, lat):
    # On the west edge the shift points east, into the box: a point just west
    # of it can only be an unshifted WGS 84 point, even though solving for it
    # gives an answer.
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(np.array([lon]), np.array([lat]))[0][0] == lon


def test_outside_china_arrays_are_unchanged_per_element():
    lons = np.array([2.35, 108.77568, 139.69, 108.77568])
    lats = np.array([48.85, 29.53106, 35.69, 60.0])
    gcj_lons, gcj_lats = wgs84_to_gcj02(lons, lats)
    unchanged = [True, False, True, True]
    assert ((gcj_lons == lons) & (gcj_lats == lats)).tolist() == unchanged
    assert (gcj_lons[1], gcj_lats[1]) == wgs84_to_gcj02(108.77568, 29.53106)


# --- arrays ------------------------------------------------------------------------

@pytest.mark.parametrize("convert", CONVERSIONS)
@given(points=st.lists(any_points, min_size=1, max_size=40))
def test_arrays_match_scalars_elementwise(convert, points):
    lons = np.array([p[0] for p in points])
    lats = np.array([p[1] for p in points])
    out_lons, out_lats = convert(lons, lats)
    assert isinstance(out_lons, np.ndarray) and out_lons.dtype == np.float64
    assert out_lons.shape == out_lats.shape == lons.shape
    expected = np.array([convert(*p) for p in points])
    np.testing.assert_allclose(out_lons, expected[:, 0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(out_lats, expected[:, 1], rtol=0, atol=1e-9)


@pytest.mark.parametrize("convert", CONVERSIONS)
def test_scalars_come_back_as_floats(convert):
    for lon, lat in [(108.8, 29.5), (np.float64(108.8), np.float32(29.5)), (108, 29)]:
        out = convert(lon, lat)
        assert isinstance(out, tuple) and len(out) == 2
        assert type(out[0]) is float and type(out[1]) is float


def test_arrays_accept_lists_and_ints():
    out_lons, out_lats = wgs84_to_gcj02([120, 2], [40, 48])
    assert out_lons.tolist() == pytest.approx([120.00567568355486, 2.0], abs=1e-9)
    assert out_lats.tolist() == pytest.approx([40.0013047896019, 48.0], abs=1e-9)


@pytest.mark.parametrize("convert", CONVERSIONS)
def test_arrays_are_not_changed_or_handed_back(convert):
    lons = np.array([2.35, 108.8])
    lats = np.array([48.85, 29.5])
    out_lons, out_lats = convert(lons, lats)
    assert out_lons is not lons and out_lats is not lats
    out_lons[:] = 0.0
    assert lons.tolist() == [2.35, 108.8] and lats.tolist() == [48.85, 29.5]


@pytest.mark.parametrize("convert", CONVERSIONS)
def test_nan_and_infinity_do_not_raise_and_match_arrays(convert):
    for lon, lat in [(math.nan, 29.5), (math.inf, 29.5), (108.8, -math.inf)]:
        scalar = convert(lon, lat)
        array = convert(np.array([lon, 108.8]), np.array([lat, 29.5]))
        np.testing.assert_array_equal(np.array(scalar), np.array([array[0][0], array[1][0]]))
        assert not (math.isfinite(scalar[0]) and math.isfinite(scalar[1]))
        assert np.isfinite(array[0][1]) and np.isfinite(array[1][1])


@pytest.mark.parametrize("convert", CONVERSIONS)
@pytest.mark.parametrize("lon, lat, field", [
    ("108.8", 29.5, "lon"), (108.8, None, "lat"), (True, 29.5, "lon"),
    (["108.8"], [29.5], "lon"), ([108.8], [True], "lat"),
])
def test_non_numbers_are_refused(convert, lon, lat, field):
    with pytest.raises(BadCoordinate) as info:
        convert(lon, lat)
    assert info.value.field == field


@pytest.mark.parametrize("convert", CONVERSIONS)
def test_arrays_of_different_lengths_are_refused(convert):
    with pytest.raises(BadCoordinate, match="same length"):
        convert(np.array([108.8, 108.9]), np.array([29.5]))


# --- datum names -------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("wgs84", "wgs84"), ("WGS84", "wgs84"), ("wgs-84", "wgs84"), ("WGS 84", "wgs84"),
    ("gps", "wgs84"), ("CGCS2000", "wgs84"),
    ("gcj02", "gcj02"), ("GCJ-02", "gcj02"), ("Mars", "gcj02"), ("AMAP", "gcj02"),
    ("bd09", "bd09"), ("BD-09", "bd09"), ("baidu", "bd09"), (" Baidu ", "bd09"),
])
def test_normalize_datum_accepts_names_and_aliases(name, expected):
    assert normalize_datum(name) == expected


@pytest.mark.parametrize("name", [
    "epsg:4326", "", "wgs", "gcj", "bd-09ll", "google", None, 4326, b"wgs84", ["wgs84"],
])
def test_normalize_datum_refuses_others(name):
    with pytest.raises(BadInput) as info:
        normalize_datum(name)
    error = info.value
    assert not isinstance(error, BadCoordinate)
    assert error.field == "datum" and error.status == 400
    assert repr(name) in error.render("en")
    assert "wgs84, gcj02, bd09" in error.render("en")
    assert error.to_dict()["allowed"] == ["wgs84", "gcj02", "bd09"]


def test_conversions_refuse_unknown_datum_before_converting():
    with pytest.raises(BadInput, match="'osgb36'"):
        to_wgs84("not even a number", 29.5, "osgb36")
    with pytest.raises(BadInput, match="'osgb36'"):
        from_wgs84(108.8, 29.5, "osgb36")
