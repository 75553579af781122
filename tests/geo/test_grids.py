"""GridSet: loading, codes, and refusals."""

import pytest
import shapely

from gridmap.errors import InvalidBoundary
from gridmap.geo.grids import Grid, GridSet, make_grid_code


def test_grid_codes_from_frames_are_text():
    import geopandas as gpd

    frame = gpd.GeoDataFrame({"grid_code": [500114005001001.0, float("nan")]},
                             geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], crs=4326)
    with pytest.raises(InvalidBoundary, match="feature 2 has no grid_code"):
        GridSet.from_frame(frame)
    frame = frame.iloc[:1]
    assert GridSet.from_frame(frame).codes == ("500114005001001",)


def test_duplicate_and_missing_codes_are_refused():
    box = shapely.box(0, 0, 1, 1)
    with pytest.raises(InvalidBoundary, match="duplicate grid codes: 500114005001001"):
        GridSet([Grid("500114005001001", "a", box), Grid("500114005001001", "b", box)])
    with pytest.raises(InvalidBoundary, match="no grids"):
        GridSet([])


def test_grid_codes_are_built_from_their_parts():
    assert make_grid_code("500114", "004", "012", 13) == "500114004012013"
    with pytest.raises(InvalidBoundary, match="subdistrict"):
        make_grid_code("500114", "4", "012", 13)
    with pytest.raises(InvalidBoundary, match="1-999"):
        make_grid_code("500114", "004", "012", 1000)


def test_grids_are_sorted_by_code(demo_grids):
    assert list(demo_grids.codes) == sorted(demo_grids.codes)
    assert demo_grids.rank(demo_grids.codes[4]) == 4
    assert demo_grids[demo_grids.codes[4]].code == demo_grids.codes[4]
