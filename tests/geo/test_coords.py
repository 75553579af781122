"""Tests for gridmap.geo.coords: one point, columns of points, the swap hint."""

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from one_language import both

from gridmap.errors import BadCoordinate, BadInput
from gridmap.geo.coords import (CHINA_BBOX, looks_swapped, validate_converted, validate_lonlat,
                                validate_lonlats)

SWAP_HINT_ZH = "经纬度是否颠倒"
SWAP_HINT_EN = "did you swap lon and lat? the order is lon, lat"

any_float = st.floats(allow_nan=True, allow_infinity=True)
lons_in_range = st.floats(-180.0, 180.0)
lats_in_range = st.floats(-90.0, 90.0)


def refusal(lon, lat):
    with pytest.raises(BadCoordinate) as info:
        validate_lonlat(lon, lat)
    return info.value


# --- accepted values ---------------------------------------------------------

@pytest.mark.parametrize("lon, lat", [
    (108.77568, 29.53106), (-180.0, -90.0), (180.0, 90.0), (0.0, -0.0), (120, 40),
    (np.float64(108.8), np.float32(29.5)), (np.int64(108), np.int16(29)),
    (Fraction(217, 2), 29.5),
])
def test_accepts_real_numbers_and_returns_floats(lon, lat):
    result = validate_lonlat(lon, lat)
    assert result == (float(lon), float(lat))
    assert type(result[0]) is float and type(result[1]) is float


@given(lons_in_range, lats_in_range)
def test_every_finite_point_in_range_is_returned_unchanged(lon, lat):
    assert validate_lonlat(lon, lat) == (lon, lat)


@given(any_float, any_float)
def test_accepts_exactly_the_finite_points_in_range(lon, lat):
    ok = math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90
    if ok:
        assert validate_lonlat(lon, lat) == (lon, lat)
    else:
        error = refusal(lon, lat)
        assert error.field == ("lat" if -180 <= lon <= 180 else "lon")


# --- refused values ------------------------------------------------------------

@pytest.mark.parametrize("field", ["lon", "lat"])
@pytest.mark.parametrize("value, shown", [
    (float("nan"), "nan"), (math.inf, "inf"), (-math.inf, "-inf"),
    (np.float64("nan"), "nan"), (np.float32("inf"), "inf"),
])
def test_refuses_non_finite(field, value, shown):
    error = refusal(value, 29.5) if field == "lon" else refusal(108.8, value)
    assert error.field == field
    assert f"{field} must be finite, got {shown}" in error.render("en")
    allowed = "[-180, 180]" if field == "lon" else "[-90, 90]"
    assert allowed in error.render("en")
    both(error)


@pytest.mark.parametrize("lon, lat, field, expected", [
    (180.0000001, 29.5, "lon", "lon out of range [-180, 180]: 180.0000001"),
    (-181, 29.5, "lon", "lon out of range [-180, 180]: -181"),
    (1e308, 29.5, "lon", "lon out of range [-180, 180]: 1e+308"),
    (10**400, 29.5, "lon", "lon out of range [-180, 180]: 1000"),
    (108.8, 90.5, "lat", "lat out of range [-90, 90]: 90.5"),
    (108.8, -91, "lat", "lat out of range [-90, 90]: -91"),
    (108.8, np.float64(-90.25), "lat", "lat out of range [-90, 90]: -90.25"),
])
def test_refuses_out_of_range_naming_value_and_range(lon, lat, field, expected):
    error = refusal(lon, lat)
    assert error.field == field
    assert expected in error.render("en")
    assert error.detail["allowed"] == ([-180.0, 180.0] if field == "lon" else [-90.0, 90.0])
    both(error)
    assert SWAP_HINT_EN not in error.render("en")


def test_lat_message_matches_house_wording():
    error = refusal(108.78, 108.8)  # lon 108.78 is no latitude: no swap hint
    assert error.render("zh") == "纬度 lat 超出范围 [-90, 90]: 108.8"
    assert error.render("en") == "lat out of range [-90, 90]: 108.8"
    assert str(error) == "纬度 lat 超出范围 [-90, 90]: 108.8 / lat out of range [-90, 90]: 108.8"


@pytest.mark.parametrize("field", ["lon", "lat"])
@pytest.mark.parametrize("value, shown", [
    ("108.8", "'108.8' (str)"), ("", "'' (str)"), (None, "None (NoneType)"),
    (True, "True (bool)"), (False, "False (bool)"), (np.bool_(True), "True (bool)"),
    (Decimal("29.5"), "Decimal('29.5') (Decimal)"), ([108.8], "[108.8] (list)"),
    (b"29.5", "b'29.5' (bytes)"), (1 + 2j, "(1+2j) (complex)"),
])
def test_refuses_non_numbers(field, value, shown):
    error = refusal(value, 29.5) if field == "lon" else refusal(108.8, value)
    assert error.field == field
    assert f"{field} must be a number, got {shown}" in error.render("en")
    assert ("[-180, 180]" if field == "lon" else "[-90, 90]") in error.render("en")
    both(error)


def test_string_message_names_the_string():
    assert "lon must be a number, got '108.8'" in refusal("108.8", 29.53).render("en")


def test_long_values_are_shortened_in_messages():
    error = refusal("9" * 10_000, 29.5)
    assert len(error.render("en")) < 400
    assert "lon must be a number, got '999" in error.render("en")


def test_error_is_a_400_bad_input():
    error = refusal(float("nan"), 29.5)
    assert isinstance(error, BadInput) and isinstance(error, ValueError)
    assert error.status == 400
    body = error.to_dict()
    assert body["error"] == "bad_coordinate" and body["field"] == "lon"


def test_checks_lon_before_lat():
    assert refusal("x", float("nan")).field == "lon"
    assert refusal(200.0, "x").field == "lon"


# --- the swap hint ----------------------------------------------------------------

def test_swapped_qianjiang_point_gets_the_hint():
    error = refusal(29.53, 108.78)
    assert error.field == "lat"
    assert "lat out of range [-90, 90]: 108.78" in error.render("en")
    zh, en = both(error)
    assert SWAP_HINT_ZH in zh and SWAP_HINT_EN in en
    assert error.detail["looks_swapped"] is True


@pytest.mark.parametrize("lon, lat, swapped", [
    (29.53, 108.78, True),      # Qianjiang, swapped: lat out of range
    (-45.0, 170.0, True),       # lat out of range, would be a valid lon
    (29.53, 88.0, True),        # valid, but in China's bands the wrong way round
    (53.55, 73.66, True),       # the corners of those bands count
    (108.78, 29.53, False),     # Qianjiang, right way round
    (95.0, 120.0, False),       # lon 95 cannot be a latitude
    (10.0, 200.0, False),       # 200 is no longitude either
    (0.0, 0.0, False),
    (float("nan"), 108.78, False),
    ("29.53", 108.78, False),
    (None, None, False),
])
def test_looks_swapped(lon, lat, swapped):
    assert looks_swapped(lon, lat) is swapped


@given(lons_in_range, lats_in_range)
def test_points_swapped_out_of_range_get_the_hint(lon, lat):
    if abs(lon) > 90:  # swapped, lon becomes an out-of-range lat
        error = refusal(lat, lon)
        assert SWAP_HINT_EN in error.render("en")
        assert error.field == "lat"


def test_china_bbox_is_lon_lat_order():
    min_lon, min_lat, max_lon, max_lat = CHINA_BBOX
    assert (min_lon, max_lon) == (73.66, 135.05)
    assert (min_lat, max_lat) == (3.86, 53.55)


# --- columns of points ---------------------------------------------------------

def test_validate_lonlats_mask():
    lons = [108.8, 180.0, 180.5, float("nan"), math.inf, -math.inf, 0.0, 10.0, -180.0]
    lats = [29.5, 90.0, 0.0, 0.0, 0.0, 0.0, float("nan"), -90.5, -90.0]
    out_lons, out_lats, valid = validate_lonlats(lons, lats)
    assert valid.tolist() == [True, True, False, False, False, False, False, False, True]
    assert out_lons.dtype == out_lats.dtype == np.float64
    np.testing.assert_array_equal(out_lons, np.array(lons))
    np.testing.assert_array_equal(out_lats, np.array(lats))


@given(st.lists(st.tuples(any_float, any_float), max_size=30))
def test_validate_lonlats_agrees_with_validate_lonlat(points):
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    _, _, valid = validate_lonlats(np.array(lons, dtype=float), np.array(lats, dtype=float))
    for (lon, lat), ok in zip(points, valid.tolist()):
        try:
            validate_lonlat(lon, lat)
        except BadCoordinate:
            assert not ok, (lon, lat)
        else:
            assert ok, (lon, lat)


@pytest.mark.parametrize("lons, lats", [
    (np.array([108, 109], dtype=np.int32), [29, 30]),
    (np.array([108.5, 109.5], dtype=np.float32), np.array([29.5, 30.5])),
    ((108.5, 109.5), (29.5, 30.5)),
])
def test_validate_lonlats_converts_numbers_to_float64(lons, lats):
    out_lons, out_lats, valid = validate_lonlats(lons, lats)
    assert out_lons.dtype == out_lats.dtype == np.float64
    np.testing.assert_array_equal(out_lons, np.asarray(lons, dtype=np.float64))
    assert valid.all()


def test_validate_lonlats_refuses_length_mismatch():
    with pytest.raises(BadCoordinate) as info:
        validate_lonlats([108.8, 108.9, 109.0], [29.5, 29.6])
    assert "lons and lats must have the same length, got 3 and 2" in info.value.render("en")
    both(info.value)


@pytest.mark.parametrize("lons, field", [
    (["108.8", "108.9"], "lon"),
    ([108.8, None], "lon"),
    ([True, False], "lon"),
    ([[108.8], [108.9, 109.0]], "lon"),
    ([1 + 1j, 2.0], "lon"),
])
def test_validate_lonlats_refuses_non_numbers(lons, field):
    with pytest.raises(BadCoordinate) as info:
        validate_lonlats(lons, [29.5, 29.6])
    assert info.value.field == field
    assert "lons" in info.value.render("en")


def test_validate_lonlats_refuses_non_number_lats():
    with pytest.raises(BadCoordinate) as info:
        validate_lonlats([108.8], ["29.5"])
    assert info.value.field == "lat"
    assert "dtype <U4" in info.value.render("en")


@pytest.mark.parametrize("lon, lat", [(-180.0, -90.0), (180.0, 90.0), (0.0, 0.0)])
def test_a_converted_point_on_the_range_s_edge_is_kept(lon, lat):
    assert validate_converted(lon, lat, "bd09", (lon, lat)) == (lon, lat)


@pytest.mark.parametrize("lon, lat, field, value, allowed", [
    (-180.0001, 0.0, "lon", -180.0001, [-180, 180]),
    (10.0, 90.006, "lat", 90.006, [-90, 90]),
    (180.5, -90.5, "lon", 180.5, [-180, 180]),  # lon named first
])
def test_a_converted_point_out_of_range_names_the_coordinate_and_both_values(
        lon, lat, field, value, allowed):
    with pytest.raises(BadCoordinate) as err:
        validate_converted(lon, lat, "gcj02", (179.9, 89.9))
    assert err.value.field == field
    assert err.value.detail["datum"] == "gcj02" and err.value.detail["wgs84"] == value
    assert err.value.detail["allowed"] == allowed
