"""``gridmap route IN OUT``: route a file of points to their grids.

IN is a CSV with lon/lat columns or a GeoJSON FeatureCollection of points;
OUT has the same format and gets every row of IN, in order and untouched,
plus ``grid_code`` (empty when none) and ``routing`` (inside, boundary,
snapped, outside, invalid; see :mod:`gridmap.geo.routing`).

CSV is streamed in chunks of :data:`CHUNK_ROWS` rows, so memory stays
bounded whatever the row count; GeoJSON is read whole. OUT is written to a
temporary file next to it and renamed at the end, so a failed run never
leaves a partial OUT (an existing OUT stays as it was).

Exit codes: 0 done (invalid rows are counted, not fatal), 1 I/O failure
while reading or writing, 2 unusable input (message on stderr).
"""

import codecs
import contextlib
import csv
import json
import logging
import math
import os
import time
import warnings
from pathlib import Path

import click

from gridmap.errors import BadInput, GridmapError, Msg

log = logging.getLogger(__name__)

EXIT_OK, EXIT_IO, EXIT_UNUSABLE = 0, 1, 2
CHUNK_ROWS = 200_000
#: Same as :data:`gridmap.geo.datums.DATUMS`; not imported so that
#: ``gridmap --help`` does not load numpy.
DATUMS = ("wgs84", "gcj02", "bd09")
FORMATS = {".csv": "CSV", ".geojson": "GeoJSON", ".json": "GeoJSON"}


@click.command("route")
@click.argument("src", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dst", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--grids", "grids_file", required=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="网格文件 / grid file: GeoJSON, GeoPackage, Shapefile or zipped Shapefile.")
@click.option("--crs", metavar="EPSG:xxxx",
              help="网格文件未声明坐标系时采用 / CRS of the grid file when it declares none.")
@click.option("--code-field", default="grid_code", show_default=True, metavar="NAME",
              help="网格编码字段 / field of the grid file holding the grid code.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=50.0, show_default=True,
              metavar="M", help="吸附容差(米) / points outside every grid but at most M metres "
              "from one are snapped to it.")
@click.option("--datum", type=click.Choice(DATUMS, case_sensitive=False), default="wgs84",
              show_default=True,
              help="输入点的坐标系 / datum of the points (gcj02: Amap, Tencent; bd09: Baidu).")
@click.option("--lon-col", default="lon", show_default=True, metavar="NAME",
              help="CSV 经度列 / CSV longitude column.")
@click.option("--lat-col", default="lat", show_default=True, metavar="NAME",
              help="CSV 纬度列 / CSV latitude column.")
@click.option("--nearest", is_flag=True,
              help="另写最近网格与距离 / also write nearest_grid_code and distance_m (metres, "
              "0 when covered) for every valid point, outside ones included; slower.")
@click.pass_context
def route(ctx, src, dst, grids_file, crs, code_field, tolerance, datum, lon_col, lat_col,
          nearest):
    """为文件中每个点分派网格 / route every point of IN to its grid, writing OUT.

    IN is a CSV with lon,lat columns or a GeoJSON FeatureCollection of
    points; OUT has the same format (by extension: .csv, .geojson or .json).
    OUT gets every row of IN, in order and untouched, plus grid_code (empty
    when none) and routing: inside, boundary, snapped, outside or invalid.
    A summary goes to stderr. Exit status: 0 done (invalid rows are only
    counted), 1 read/write failure, 2 unusable input.
    """
    added = ["grid_code", "routing"] + (["nearest_grid_code", "distance_m"] if nearest else [])
    tally = Tally()
    try:
        source_type = CsvSource if _check_paths(src, dst) == "CSV" else GeoJsonSource
        if source_type is GeoJsonSource:
            _refuse_csv_options(ctx)
        source = source_type.open(src, lon_col, lat_col, added)
        router = _load_router(grids_file, crs, code_field, tolerance)
        with _replace_atomically(dst, bom=source.bom) as out:
            source.route(router, out, datum=datum.lower(), nearest=nearest, tally=tally)
    except GridmapError as exc:
        click.echo(f"gridmap route: {exc}", err=True)
        ctx.exit(EXIT_UNUSABLE)
    except OSError as exc:
        click.echo(f"gridmap route: 读写失败 / I/O error: {exc}", err=True)
        ctx.exit(EXIT_IO)
    click.echo(tally.format_text(dst), err=True)
    ctx.exit(EXIT_OK)


def _check_paths(src, dst):
    """Return the format ("CSV" or "GeoJSON") shared by IN and OUT, or BadInput."""
    formats = {}
    for role, path in (("IN", src), ("OUT", dst)):
        formats[role] = FORMATS.get(path.suffix.lower())
        if formats[role] is None:
            raise BadInput("error.route.bad_suffix", path=repr(str(path)), field=role)
    if formats["IN"] != formats["OUT"]:
        raise BadInput("error.route.formats_differ", format=formats["IN"], path=repr(str(dst)),
                       field="OUT")
    if not src.is_file():
        raise BadInput("error.route.in_not_found", path=src, field="IN")
    if not dst.parent.is_dir():
        raise BadInput("error.route.no_out_folder", path=dst.parent, field="OUT")
    if dst.exists() and os.path.samefile(src, dst):
        raise BadInput("error.route.out_is_in", path=dst, field="OUT")
    return formats["IN"]


def _refuse_csv_options(ctx):
    from click.core import ParameterSource

    given = [f"--{name.replace('_', '-')}" for name in ("lon_col", "lat_col")
             if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT]
    if given:
        raise BadInput("error.route.csv_only_options", options="/".join(given), field="lon_col")


def _load_router(grids_file, crs, code_field, tolerance):
    from gridmap.geo.gridfile import read_grid_file
    from gridmap.geo.grids import GridSet
    from gridmap.geo.routing import Router

    frame = read_grid_file(grids_file, crs=crs)
    return Router(GridSet.from_frame(frame, code_field=code_field), tolerance_m=tolerance)


@contextlib.contextmanager
def _replace_atomically(path, bom=False):
    """Yield a text file that replaces ``path`` only if the block succeeds."""
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise BadInput("error.route.cannot_create", path=path.parent, problem=exc.strerror,
                       field="OUT") from exc
    try:
        with open(fd, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _result_columns(routed, nearest):
    """The added values of one batch: grid_code, routing[, nearest_grid_code, distance_m]."""
    import numpy as np

    from gridmap.geo.routing import STATUS_NAMES

    codes = np.array(list(routed.codes_table) + [None], dtype=object)
    columns = [codes[routed.grid_index], np.array(STATUS_NAMES, dtype=object)[routed.status]]
    if nearest:
        columns += [codes[routed.nearest_index], np.round(routed.distance_m, 2)]
    return columns


class CsvSource:
    """A CSV file of points, read as text in chunks."""

    def __init__(self, path, header, lon_index, lat_index, added, bom):
        self.path, self.header, self.added, self.bom = path, header, added, bom
        self.lon_index, self.lat_index = lon_index, lat_index
        # A CR anywhere (CRLF lines, or a CR inside a quoted value) means CRLF
        # out: the csv writer then quotes values holding a CR, which it leaves
        # bare with LF line ends, and a bare CR would split the row on reading.
        self.lineterminator = "\r\n" if _holds_byte(path, b"\r") else "\n"

    @classmethod
    def open(cls, path, lon_col, lat_col, added):
        """Read and check the header only."""
        try:
            with path.open("rb") as raw:
                bom = raw.read(3) == codecs.BOM_UTF8
            with path.open(encoding="utf-8-sig", newline="") as text:
                header = next((row for row in csv.reader(text) if row), None)
        except UnicodeDecodeError as exc:
            raise _not_utf8(path, exc) from exc
        except OSError as exc:
            raise _unreadable(path, exc) from exc
        except csv.Error as exc:
            raise BadInput("error.route.bad_header", path=path, problem=str(exc),
                           field="IN") from exc
        if header is None:
            raise BadInput("error.route.empty", path=path, field="IN")
        if lon_col == lat_col:
            raise BadInput("error.route.same_columns", column=repr(lon_col), field="lon_col")
        missing = [c for c in (lon_col, lat_col) if c not in header]
        if missing:
            other_separator = len(header) == 1 and any(sep in header[0] for sep in ";\t|")
            raise BadInput("error.route.missing_columns_not_comma" if other_separator else
                           "error.route.missing_columns", missing=repr(missing),
                           header=repr(header), field="IN")
        doubled = [c for c in (lon_col, lat_col) if header.count(c) > 1]
        if doubled:
            raise BadInput("error.route.doubled_columns", columns=repr(doubled), field="IN")
        _refuse_clashes(header, added, "IN")
        return cls(path, header, header.index(lon_col), header.index(lat_col), added, bom)

    def route(self, router, out, *, datum, nearest, tally):
        import pandas as pd

        width = len(self.header)
        csv.writer(out, lineterminator=self.lineterminator).writerow(self.header + self.added)
        try:
            # Positional column names: duplicated or odd header names pass through as they are.
            # index_col=False: a first row with more fields than the header is not taken as
            # an index; pandas warns and would drop them, so the warning is an error here.
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                with pd.read_csv(self.path, dtype=str, header=0, names=range(width),
                                 index_col=False, keep_default_na=False, na_filter=False,
                                 encoding="utf-8-sig", chunksize=CHUNK_ROWS) as chunks:
                    for chunk in chunks:
                        self._route_chunk(chunk, router, out, datum, nearest, tally)
        except UnicodeDecodeError as exc:
            raise _not_utf8(self.path, exc) from exc
        except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
            reason = (Msg("error.route.extra_fields", width=width)
                      if isinstance(exc, pd.errors.ParserWarning)
                      else str(exc).split("C error: ")[-1].strip())
            raise BadInput("error.route.malformed", reason=reason, field="IN") from exc

    def _route_chunk(self, chunk, router, out, datum, nearest, tally):
        import numpy as np
        import pandas as pd

        lons = pd.to_numeric(chunk[self.lon_index], errors="coerce").to_numpy(np.float64)
        lats = pd.to_numeric(chunk[self.lat_index], errors="coerce").to_numpy(np.float64)
        routed = router.route_points(lons, lats, datum=datum, nearest=nearest)
        width = len(self.header)
        for i, values in enumerate(_result_columns(routed, nearest)):
            chunk[width + i] = values
        chunk.to_csv(out, header=False, index=False, lineterminator=self.lineterminator)
        tally.add(routed, lons, lats)
        log.debug("routed %d rows", tally.rows)


class GeoJsonSource:
    """A GeoJSON FeatureCollection of points, read whole."""

    bom = False

    def __init__(self, doc, added):
        self.doc, self.added = doc, added

    @classmethod
    def open(cls, path, lon_col, lat_col, added):
        try:
            doc = json.loads(path.read_text(encoding="utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise _not_utf8(path, exc) from exc
        except OSError as exc:
            raise _unreadable(path, exc) from exc
        except ValueError as exc:
            raise BadInput("error.route.bad_json", path=path, problem=str(exc), field="IN") from exc
        if not (isinstance(doc, dict) and doc.get("type") == "FeatureCollection"
                and isinstance(doc.get("features"), list)):
            raise BadInput("error.route.not_feature_collection", path=path, field="IN")
        crs = doc.get("crs") or {}
        props = (crs.get("properties") or {}) if isinstance(crs, dict) else None
        # a crs that is not the old spec's object is named as it is, and refused below
        crs_name = str(props.get("name", "CRS84")) if isinstance(props, dict) else repr(crs)[:60]
        if not any(ok in crs_name for ok in ("CRS84", "4326")):
            raise BadInput("error.route.not_wgs84", crs=repr(crs_name), field="IN")
        keys = set()
        for i, feature in enumerate(doc["features"]):
            if not isinstance(feature, dict) or not isinstance(feature.get("properties") or {},
                                                               dict):
                raise BadInput("error.route.bad_feature", number=i + 1, field="IN")
            keys.update(feature.get("properties") or {})
        _refuse_clashes(keys, added, "IN")
        return cls(doc, added)

    def route(self, router, out, *, datum, nearest, tally):
        import numpy as np

        features = self.doc["features"]
        head = json.dumps({k: v for k, v in self.doc.items() if k != "features"},
                          ensure_ascii=False)
        out.write(head[:-1] + ', "features": [')
        for start in range(0, len(features), CHUNK_ROWS):
            batch = features[start:start + CHUNK_ROWS]
            lonlat = np.array([_point_lonlat(f) for f in batch], dtype=np.float64).reshape(-1, 2)
            routed = router.route_points(lonlat[:, 0], lonlat[:, 1], datum=datum, nearest=nearest)
            columns = [c.tolist() for c in _result_columns(routed, nearest)]
            for i, feature in enumerate(batch):
                props = dict(feature.get("properties") or {})
                for name, values in zip(self.added, columns):
                    value = values[i]
                    props[name] = None if isinstance(value, float) and math.isnan(value) else value
                text = json.dumps({**feature, "properties": props}, ensure_ascii=False)
                out.write(("\n" if start + i == 0 else ",\n") + text)
            tally.add(routed, lonlat[:, 0], lonlat[:, 1])
        out.write("\n]}\n")


def _holds_byte(path, byte, block=1 << 24):
    with path.open("rb") as raw:
        while data := raw.read(block):
            if byte in data:
                return True
    return False


def _point_lonlat(feature):
    """(lon, lat) of a Point feature; NaN (routed as invalid) for anything else."""
    geometry = feature.get("geometry")
    if isinstance(geometry, dict) and geometry.get("type") == "Point":
        coords = geometry.get("coordinates")
        if isinstance(coords, list) and len(coords) >= 2 and all(
                isinstance(c, (int, float)) and not isinstance(c, bool) for c in coords[:2]):
            try:
                return float(coords[0]), float(coords[1])
            except OverflowError:  # an integer too big for a float
                pass
    return math.nan, math.nan


def _refuse_clashes(names, added, role):
    clashes = [c for c in added if c in names]
    if clashes:
        raise BadInput("error.route.column_clash", columns=repr(clashes), field=role)


def _unreadable(path, exc):
    return BadInput("error.route.unreadable", path=path, problem=exc.strerror or str(exc),
                    field="IN")


def _not_utf8(path, exc):
    return BadInput("error.route.not_utf8", path=path, problem=exc.reason, field="IN")


class Tally:
    """Counts per routing status, and what the summary should point out."""

    MAX_EXAMPLES = 5

    def __init__(self):
        self.started = time.perf_counter()
        self.rows = 0
        self.counts = [0] * 5
        self.invalid_rows = []
        self.swapped = 0

    def add(self, routed, lons, lats):
        import numpy as np

        from gridmap.geo.coords import CHINA_BBOX
        from gridmap.geo.routing import INVALID, OUTSIDE

        status = routed.status
        for i, n in enumerate(np.bincount(status, minlength=5)):
            self.counts[i] += int(n)
        need = self.MAX_EXAMPLES - len(self.invalid_rows)
        if need > 0:
            found = np.flatnonzero(status == INVALID)[:need]
            self.invalid_rows += (found + self.rows + 1).tolist()
        x0, y0, x1, y1 = CHINA_BBOX
        astray = (status == OUTSIDE) | (status == INVALID)
        with np.errstate(invalid="ignore"):
            swapped = (y0 <= lons) & (lons <= y1) & (x0 <= lats) & (lats <= x1)
        self.swapped += int(np.count_nonzero(astray & swapped))
        self.rows += len(status)

    def format_text(self, dst):
        from gridmap.geo.routing import STATUS_NAMES

        seconds = time.perf_counter() - self.started
        rate = self.rows / seconds if seconds > 0 else float("inf")
        lines = [f"gridmap route: {self.rows:,} 行 / rows → {dst} in {seconds:.1f} s "
                 f"({rate:,.0f} rows/s)"]
        lines += [f"  {name:<9} {n:>12,}" for name, n in zip(STATUS_NAMES, self.counts)]
        if self.invalid_rows:
            more = " …" if self.counts[-1] > len(self.invalid_rows) else ""
            lines.append("  无效行（数据行号，从 1 起）/ invalid rows (data rows from 1): "
                         + ", ".join(map(str, self.invalid_rows)) + more)
        if self.swapped:
            lines.append(f"  提示 / hint: {self.swapped:,} 个网格外或无效的点像是经纬度颠倒 / "
                         "points outside or invalid look like lon and lat are swapped "
                         "(the order is lon, lat; see --lon-col/--lat-col)")
        return "\n".join(lines)
