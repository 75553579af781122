"""The data folder: runtime data, created on first start from ``geodata/``.

Layout (all GeoJSON/JSON, readable by QGIS and geopandas)::

    DATA_DIR/
      grids.geojson        the active grid boundaries
      community.geojson    the community outline
      teams.json           1+3+N teams keyed by grid code
      categories.json      case categories and time limits
      calendar.json        working days and hours for deadlines

Shipped files carry grid codes made with the default subdistrict/community
parts; on first start they are rewritten with the configured parts. Files
are written to a temporary name and renamed, so a crash never leaves half a
file behind.
"""

import json
import logging
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gridmap.cases.calendar import WorkingCalendar
from gridmap.cases.categories import load_categories
from gridmap.config import ROOT
from gridmap.errors import ConfigError, GridmapError
from gridmap.geo.checks import check_grids
from gridmap.geo.grids import GridSet, load_outline, make_grid_code
from gridmap.geo.routing import Router
from gridmap.teams import load_teams

log = logging.getLogger(__name__)

GEODATA = ROOT / "geodata"
FILES = ("grids.geojson", "community.geojson", "teams.json", "categories.json", "calendar.json")


def write_json_atomic(path, obj):
    """Write ``obj`` as UTF-8 JSON to ``path`` via a temporary file and rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


#: Files a newer release added: copied into an existing folder that lacks them.
ADDED_LATER = ("calendar.json",)


def _shipped(config, source):
    """The shipped documents, with grid codes made from the configured parts."""
    try:
        docs = {name: json.loads((source / name).read_text(encoding="utf-8")) for name in FILES}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"无法读取内置数据 / cannot read shipped data in {source}: {exc}") from exc

    def recode(code):
        return make_grid_code(config["COUNTY_CODE"], config["SUBDISTRICT_CODE"],
                              config["COMMUNITY_CODE"], int(code[-3:]))

    for feat in docs["grids.geojson"]["features"]:
        feat["properties"]["grid_code"] = recode(feat["properties"]["grid_code"])
    docs["teams.json"]["teams"] = {recode(c): t for c, t in docs["teams.json"]["teams"].items()}
    return docs


def init_data_folder(config, source=GEODATA):
    """Create the data folder from ``source`` if it is missing or empty.

    Returns the folder's path. A folder with files in it is left alone (only
    files of :data:`ADDED_LATER` that it lacks are added), so a deleted grid
    file is reported at startup, not silently replaced by demo data.
    """
    data_dir = Path(config["DATA_DIR"])
    if data_dir.is_dir() and any(data_dir.iterdir()):
        for name in ADDED_LATER:
            if not (data_dir / name).exists():
                write_json_atomic(data_dir / name, _shipped(config, source)[name])
                log.warning("added %s to the data folder %s", name, data_dir)
        return data_dir
    docs = _shipped(config, source)
    # Fill a temporary sibling folder, then rename it into place: a crash
    # never leaves a half-made data folder, and of two processes starting
    # at once, one wins and the other uses its folder.
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.init-", dir=data_dir.parent))
    except OSError as exc:
        raise ConfigError(f"无法创建数据目录 / cannot create the data folder {data_dir}: {exc}") from exc
    for name in FILES:
        write_json_atomic(staging / name, docs[name])
    try:
        os.replace(staging, data_dir)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (data_dir / "grids.geojson").exists():
            raise
    log.info("created data folder %s from %s", data_dir, source)
    return data_dir


def secret_key(data_dir):
    """The key signing session cookies: read from ``secret_key``, created once (mode 0600).

    The key is written to a temporary file and hard-linked into place, so
    processes starting together never read a half-written key.
    """
    path = Path(data_dir) / "secret_key"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(prefix=".secret_key.", dir=data_dir)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(secrets.token_urlsafe(48))
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won
        finally:
            os.unlink(tmp)
    return path.read_text(encoding="ascii").strip()


@dataclass(frozen=True)
class Community:
    """Everything loaded from the data folder that the service runs on."""

    data_dir: Path
    grids: GridSet
    router: Router
    teams: dict
    categories: dict
    calendar: WorkingCalendar


def load_community(config):
    """Initialise (if needed) and load the data folder; fail with a clear message."""
    data_dir = init_data_folder(config)
    try:
        grids = GridSet.load(data_dir / "grids.geojson")
        report = check_grids(grids.to_frame(), outline=load_outline(data_dir / "community.geojson"),
                             code_pattern=rf"^{config['COUNTY_CODE']}\d{{9}}$")
        if not report.ok:
            shown = "\n".join(f"  - {issue.message}" for issue in report.errors[:5])
            raise ConfigError(
                f"{data_dir / 'grids.geojson'}: {len(report.errors)} 个问题 / problems, e.g.\n{shown}\n"
                f"完整列表 / full list: gridmap grids check {data_dir / 'grids.geojson'} "
                f"--outline {data_dir / 'community.geojson'}")
        router = Router(grids, tolerance_m=config["SNAP_TOLERANCE_M"])
    except ConfigError:
        raise
    except GridmapError as exc:
        raise ConfigError(f"网格文件不可用 / grid file unusable: {exc.message}") from exc
    teams = load_teams(data_dir / "teams.json", grids.codes)
    categories = load_categories(data_dir / "categories.json")
    calendar = WorkingCalendar.load(data_dir / "calendar.json")
    return Community(data_dir, grids, router, teams, categories, calendar)
