"""Tests for gridmap.geo.gridfile: real files written to tmp_path."""

import json
import zipfile
from pathlib import Path

import geopandas
import pyogrio
import pytest
import shapely

from gridmap.errors import BadInput, InvalidBoundary
from gridmap.geo.gridfile import read_grid_file

X, Y, D = 108.800, 29.520, 0.001
CODES = ["500114005001001", "500114005001002", "500114005001003", "500114005001004"]
CELLS = [shapely.box(X, Y + D, X + D, Y + 2 * D), shapely.box(X + D, Y + D, X + 2 * D, Y + 2 * D),
         shapely.box(X, Y, X + D, Y + D), shapely.box(X + D, Y, X + 2 * D, Y + D)]


def tiling(crs=4326):
    grids = geopandas.GeoDataFrame({"grid_code": CODES, "name": ["一", "二", "三", "四"]},
                                   geometry=CELLS, crs=4326)
    return grids.to_crs(crs)


def write_zipped_shapefile(gdf, folder, stem="grids", keep_prj=True, inner=""):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    gdf.to_file(folder / f"{stem}.shp")
    archive = folder / f"{stem}.zip"
    with zipfile.ZipFile(archive, "a") as zf:
        for part in sorted(folder.glob(f"{stem}.*")):
            if part.suffix == ".zip" or (part.suffix == ".prj" and not keep_prj):
                continue
            zf.write(part, inner + part.name)
    return archive


def write(gdf, tmp_path, kind):
    if kind == "geojson":
        path = tmp_path / "grids.geojson"
        gdf.to_file(path, driver="GeoJSON")
    elif kind == "gpkg":
        path = tmp_path / "grids.gpkg"
        gdf.to_file(path, layer="grids", driver="GPKG")
    else:
        path = write_zipped_shapefile(gdf, tmp_path / "shp")
    return path


def assert_same_grids(read, expected_geoms=CELLS, tol=1e-9):
    assert read.crs.to_epsg() == 4326
    assert list(read["grid_code"]) == CODES
    for got, want in zip(read.geometry, expected_geoms):
        assert shapely.hausdorff_distance(got, want) < tol


@pytest.mark.parametrize("kind", ["geojson", "gpkg", "zip"])
def test_reads_each_format_to_wgs84(tmp_path, kind):
    grids = read_grid_file(write(tiling(), tmp_path, kind))
    assert_same_grids(grids)
    assert list(grids["name"]) == ["一", "二", "三", "四"]


@pytest.mark.parametrize("kind", ["geojson", "gpkg", "zip"])
@pytest.mark.parametrize("epsg", [32649, 4547, 4545])
def test_projected_files_are_reprojected(tmp_path, kind, epsg):
    projected = tiling(epsg)
    # the file really holds metres, not degrees (EPSG:4547's central meridian
    # is 114E, so Qianjiang even gets negative eastings there)
    assert abs(projected.total_bounds[0]) > 1000 and projected.total_bounds[1] > 3e6
    path = write(projected, tmp_path, kind)
    assert pyogrio.read_info(path if kind != "zip" else f"/vsizip/{path}/grids.shp")["crs"]
    assert_same_grids(read_grid_file(path), tol=1e-8)


def test_utm_control_point(tmp_path):
    # 108.8E 29.52N is 286 774.263 m E, 3 267 617.077 m N in UTM zone 49N
    corner = (286774.263, 3267617.077)
    triangle = shapely.Polygon([corner, (corner[0] + 100, corner[1]), (corner[0], corner[1] + 100)])
    path = tmp_path / "utm.gpkg"
    geopandas.GeoDataFrame({"grid_code": ["500114005001001"]}, geometry=[triangle],
                           crs=32649).to_file(path)
    lon, lat = shapely.get_coordinates(read_grid_file(path).geometry[0])[0]
    assert (lon, lat) == pytest.approx((108.8, 29.52), abs=1e-7)


def test_shapefile_without_prj_needs_a_crs(tmp_path):
    archive = write_zipped_shapefile(tiling(32649), tmp_path, keep_prj=False)
    with pytest.raises(InvalidBoundary, match="--crs") as err:
        read_grid_file(archive)
    assert "grids.zip" in err.value.render("en")
    assert_same_grids(read_grid_file(archive, crs="EPSG:32649"), tol=1e-8)


def test_bare_shapefile_without_prj(tmp_path):
    tiling(4547).to_file(tmp_path / "grids.shp")
    (tmp_path / "grids.prj").unlink()
    with pytest.raises(InvalidBoundary, match="declares no CRS"):
        read_grid_file(tmp_path / "grids.shp")
    assert_same_grids(read_grid_file(tmp_path / "grids.shp", crs=4547), tol=1e-8)


def test_geojson_without_crs_member_takes_the_given_crs(tmp_path):
    # legacy exports: metres in a GeoJSON that names no CRS
    path = tmp_path / "metres.geojson"
    tiling(32649).to_file(path, driver="GeoJSON")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc.pop("crs")
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InvalidBoundary, match="do not convert to lon/lat"):
        read_grid_file(path)
    assert_same_grids(read_grid_file(path, crs="EPSG:32649"), tol=1e-8)
    # a plain WGS 84 GeoJSON also names no CRS, so --crs EPSG:4326 is harmless
    plain = write(tiling(), tmp_path, "geojson")
    assert_same_grids(read_grid_file(plain, crs="EPSG:4326"))


def test_given_crs_that_contradicts_the_file_is_refused(tmp_path):
    path = write(tiling(32649), tmp_path, "gpkg")
    with pytest.raises(InvalidBoundary) as err:
        read_grid_file(path, crs="EPSG:4547")
    assert "EPSG:32649" in err.value.render("en") and "EPSG:4547" in err.value.render("en")
    assert_same_grids(read_grid_file(path, crs="EPSG:32649"), tol=1e-8)  # agreeing is fine


def test_wrong_crs_for_the_coordinates_is_refused(tmp_path):
    archive = write_zipped_shapefile(tiling(32649), tmp_path, keep_prj=False)
    with pytest.raises(InvalidBoundary, match="do not convert to lon/lat"):
        read_grid_file(archive, crs="EPSG:4326")


def test_unknown_crs_is_bad_input(tmp_path):
    path = write(tiling(), tmp_path, "geojson")
    with pytest.raises(BadInput, match="EPSG:9999999"):
        read_grid_file(path, crs="EPSG:9999999")


def test_missing_file(tmp_path):
    with pytest.raises(InvalidBoundary, match="not found") as err:
        read_grid_file(tmp_path / "nope.geojson")
    assert "nope.geojson" in err.value.render("en")


@pytest.mark.parametrize(("name", "content"), [
    ("garbage.geojson", "this is not json"),
    ("zero.gpkg", ""),
    ("broken.zip", "not a zip"),
])
def test_unreadable_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidBoundary) as err:
        read_grid_file(path)
    assert name in err.value.render("en")


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "grids.csv"
    path.write_text("grid_code,wkt\n")
    with pytest.raises(InvalidBoundary, match=r"\.geojson"):
        read_grid_file(path)


def test_empty_feature_collection(tmp_path):
    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(InvalidBoundary, match="no features"):
        read_grid_file(path)


def test_non_polygon_features_are_refused_with_their_rows(tmp_path):
    gdf = tiling()
    gdf.loc[2, "geometry"] = shapely.LineString([(X, Y), (X + D, Y + D)])
    path = tmp_path / "mixed.geojson"
    gdf.to_file(path, driver="GeoJSON")
    with pytest.raises(InvalidBoundary, match="#2 LineString") as err:
        read_grid_file(path)
    assert err.value.detail["rows"] == [2]


def test_null_geometry_and_invalid_polygons_are_kept_unrepaired(tmp_path):
    bowtie = shapely.Polygon([(X, Y), (X + D, Y + D), (X + D, Y), (X, Y + D)])
    gdf = tiling()
    gdf.loc[1, "geometry"] = None
    gdf.loc[2, "geometry"] = bowtie
    path = write(gdf, tmp_path, "gpkg")
    grids = read_grid_file(path)
    assert grids.geometry[1] is None
    assert not grids.geometry[2].is_valid
    assert shapely.equals_exact(grids.geometry[2], bowtie)


def test_several_layers_need_a_choice(tmp_path):
    path = tmp_path / "two.gpkg"
    tiling().to_file(path, layer="grids")
    tiling().iloc[:2].to_file(path, layer="draft")
    with pytest.raises(InvalidBoundary, match="grids, draft|draft, grids"):
        read_grid_file(path)
    assert len(read_grid_file(path, layer="draft")) == 2
    with pytest.raises(InvalidBoundary, match="'other'"):
        read_grid_file(path, layer="other")


def test_zip_with_several_shapefiles_in_a_folder(tmp_path):
    archive = write_zipped_shapefile(tiling(), tmp_path / "a", stem="grids", inner="data/")
    tiling().iloc[:1].to_file(tmp_path / "a" / "old.shp")
    with zipfile.ZipFile(archive, "a") as zf:
        for part in (tmp_path / "a").glob("old.*"):
            zf.write(part, "data/" + part.name)
    with pytest.raises(InvalidBoundary, match="pick one"):
        read_grid_file(archive)
    assert_same_grids(read_grid_file(archive, layer="grids"))
    assert len(read_grid_file(archive, layer="old")) == 1


def test_zip_without_shapefile(tmp_path):
    archive = tmp_path / "docs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "no shapes here")
    with pytest.raises(InvalidBoundary, match="no .shp"):
        read_grid_file(archive)
