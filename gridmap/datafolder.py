"""The data folder: runtime data, created on first start from ``geodata/``.

Layout (all GeoJSON/JSON, readable by QGIS and geopandas)::

    DATA_DIR/
      grids.geojson        the first grid boundaries (generation 1)
      generations/         every generation of grids; its manifest says which is active
      community.geojson    the community outline
      teams.json           1+3+N teams keyed by grid code
      categories.json      case categories and time limits
      calendar.json        working days and hours for deadlines

Shipped files carry grid codes made with the default subdistrict/community
parts; on first start they are rewritten with the configured parts. Files
are written to a temporary name and renamed, so a crash never leaves half a
file behind.

``categories.json`` and ``calendar.json`` are live settings (see
:class:`Community`): admins change them while the service runs, and every
process reloads them when they change on disk.
"""

import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from gridmap.cases.calendar import WorkingCalendar
from gridmap.cases.categories import (dump_categories, load_categories, parse_categories,
                                      removed_category)
from gridmap.config import ROOT
from gridmap.errors import BadInput, ConfigError, GridmapError
from gridmap.geo.checks import check_grids
from gridmap.geo.generations import GenerationStore
from gridmap.geo.grids import GridSet, load_outline, make_grid_code
from gridmap.geo.routing import Router
from gridmap.private_files import exclusive_lock, make_tree_private, private_folder
from gridmap.teams import load_teams

log = logging.getLogger(__name__)

GEODATA = ROOT / "geodata"
GENERATIONS = "generations"  # boundary generations (gridmap.geo.generations)
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
        raise ConfigError("error.datafolder.no_shipped_data", path=source, problem=str(exc)) from exc

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
    file is reported at startup, not silently replaced by demo data; but it
    and everything in it are made private to the service's user
    (:func:`~gridmap.private_files.make_tree_private`) while the folder itself is
    open to others.
    """
    data_dir = Path(config["DATA_DIR"])
    if data_dir.is_dir() and any(data_dir.iterdir()):
        try:  # made by hand, by an older release, or restored from a backup; once the
            # folder is 0700 nobody else reaches what is in it: later starts (each worker's
            # too) stat the folder only instead of walking years of files
            if data_dir.stat().st_mode & 0o077:
                make_tree_private(data_dir)
        except OSError as exc:
            raise ConfigError("error.datafolder.cannot_make_private", path=data_dir,
                              problem=str(exc)) from exc
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
        if not data_dir.parent.is_dir():  # an existing parent is not ours to change
            private_folder(data_dir.parent, parents=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.init-", dir=data_dir.parent))
    except OSError as exc:
        raise ConfigError("error.datafolder.cannot_create", path=data_dir, problem=str(exc)) from exc
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


#: Files an admin edits while the service runs; every process reloads them when they change.
LIVE_FILES = {"categories": "categories.json", "calendar": "calendar.json"}


def file_stamp(path):
    """What tells a changed file apart: ``(inode, mtime_ns, ctime_ns, size)``; None if missing.

    The inode changes with every :func:`write_json_atomic` (a new file is
    renamed into place), so even two writes of the same size within one
    clock tick differ.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size


class LiveFile:
    """A value loaded from one data-folder file, reloaded when the file changes.

    Parameters
    ----------
    path : Path
    load : callable
        ``load(path)`` returns the checked value or raises ``GridmapError``.
    value
        The value as loaded now.
    stamp : tuple, optional
        :func:`file_stamp` taken *before* ``value`` was read, so a change
        made while it was being read is picked up by the next refresh.
        Default: the file's stamp now.
    """

    def __init__(self, path, load, value, stamp=None):
        self.path, self._load = Path(path), load
        self._stat_path = os.fspath(path)  # a str stats a little faster than a Path
        self._current = (value, file_stamp(path) if stamp is None else stamp)
        self._lock = threading.Lock()

    @property
    def value(self):
        return self._current[0]

    def refresh(self):
        """Reload if the file changed; return True if a new value was loaded.

        A file that no longer loads (hand-edited into something invalid,
        deleted) keeps the last good value and logs an error once per change.
        """
        stamp = file_stamp(self._stat_path)
        if stamp == self._current[1]:
            return False
        with self._lock:
            last_good, seen = self._current
            if stamp == seen:
                return False  # another thread reloaded it meanwhile
            try:
                value = self._load(self.path)
            except GridmapError as exc:
                # remember the bad file's stamp: one error per change, not one per request
                self._current = (last_good, stamp)
                log.error("%s 无效，继续使用上次的有效内容 / is invalid, keeping the last good "
                          "values: %s", self.path, exc)
                return False
            self._current = (value, stamp)
        log.info("reloaded %s", self.path)
        return True


class Boundaries:
    """The grids of one generation as the service routes by them (a snapshot).

    ``number`` the generation; ``grids`` its :class:`GridSet`; ``router`` its
    :class:`Router`; ``known`` every grid of every published generation by
    code (cases keep a retired grid); ``teams`` a team for each of those.
    """

    __slots__ = ("number", "grids", "router", "known", "teams")

    def __init__(self, number, grids, router, known, teams):
        self.number, self.grids, self.router, self.known, self.teams = (
            number, grids, router, known, teams)


def load_boundaries(data_dir, store, tolerance_m, routers=None):
    """The active generation's :class:`Boundaries` (``routers``: a cache by number)."""
    doc = store.manifest()
    active = store.active(doc)
    known = {}
    for gen in store.generations(doc):
        if gen.status == "published":
            for grid in store.grid_set(gen.number, doc):
                known.setdefault(grid.code, grid)
    grids = store.grid_set(active.number, doc)
    router = (routers or {}).get(active.number) or Router(grids, tolerance_m=tolerance_m)
    if routers is not None:
        routers[active.number] = router
    teams = load_teams(Path(data_dir) / "teams.json", sorted(known),
                       inherit=store.team_sources(doc))
    return Boundaries(active.number, grids, router, known, teams)


class Community:
    """Everything loaded from the data folder that the service runs on.

    The grids are those of the active boundary generation
    (:mod:`gridmap.geo.generations`); ``grids``, ``router``, ``teams`` and
    ``generation`` follow it: :meth:`refresh` (called before every request)
    stats the generations' manifest and, when a planner published or rolled
    back in any process, loads the new active generation, so every worker
    routes by it at once. ``categories`` and ``calendar`` are *live* the
    same way: re-read from ``categories.json`` / ``calendar.json`` when the
    file changed. Attributes are read-only.
    """

    __slots__ = ("data_dir", "config", "generations", "_bounds", "_live", "_routers", "_lock")

    def __init__(self, data_dir, config, generations, bounds, categories, calendar, *,
                 stamps=None):
        data_dir = Path(data_dir)
        stamps = stamps or {}
        values = {"categories": categories, "calendar": calendar}
        loaders = {"categories": load_categories, "calendar": WorkingCalendar.load}
        live = {key: LiveFile(data_dir / name, loaders[key], values[key], stamps.get(key))
                for key, name in LIVE_FILES.items()}
        for name, value in (("data_dir", data_dir), ("config", config),
                            ("generations", generations), ("_live", live),
                            ("_bounds", (bounds, stamps.get("generations"))),
                            ("_routers", {bounds.number: bounds.router}),
                            ("_lock", threading.Lock())):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"Community is read-only (tried to set {name})")

    @property
    def boundaries(self):
        """The active generation's :class:`Boundaries`: take it once per task, so a
        publish in the meantime cannot mix two generations."""
        return self._bounds[0]

    @property
    def grids(self):
        return self.boundaries.grids

    @property
    def router(self):
        return self.boundaries.router

    @property
    def teams(self):
        """``{code: Team}`` for every grid of every generation."""
        return self.boundaries.teams

    @property
    def generation(self):
        """The number of the active generation."""
        return self.boundaries.number

    def grid(self, code):
        """A grid by code from any published generation (a retired grid's cases keep it)."""
        return self.boundaries.known[code]

    def router_for(self, number):
        """The router of published generation ``number`` (built once, then kept)."""
        with self._lock:
            router = self._routers.get(number)
        if router is not None:
            return router
        gen = self.generations.get(number)
        if gen.status != "published":
            raise BadInput("error.generations.not_published", number=number, field="generation")
        router = Router(self.generations.grid_set(number),
                        tolerance_m=self.config["SNAP_TOLERANCE_M"])
        with self._lock:
            return self._routers.setdefault(number, router)

    def _refresh_boundaries(self):
        stamp = file_stamp(self.generations.manifest_path)
        if stamp == self._bounds[1]:
            return
        with self._lock:
            last, seen = self._bounds
            if stamp == seen:
                return
            try:
                routers = dict(self._routers)
                bounds = load_boundaries(self.data_dir, self.generations,
                                         self.config["SNAP_TOLERANCE_M"], routers)
            except GridmapError as exc:
                object.__setattr__(self, "_bounds", (last, stamp))
                log.error("generations: the manifest changed but does not load, keeping "
                          "generation %d: %s", last.number, exc)
                return
            object.__setattr__(self, "_routers", routers)
            object.__setattr__(self, "_bounds", (bounds, stamp))
        if bounds.number != last.number:  # worth seeing in a server's log (which shows warnings)
            log.warning("process %d now routes by grid generation %d (was %d)", os.getpid(),
                        bounds.number, last.number)

    @property
    def categories(self):
        """``{code: Category}`` as last loaded from ``categories.json``."""
        return self._live["categories"].value

    def category(self, code):
        """A case's category: retired ones included, and one that a hand edit removed
        from ``categories.json`` as :func:`removed_category`, so its cases still show."""
        return self.categories.get(code) or removed_category(code)

    @property
    def calendar(self):
        """The ``WorkingCalendar`` as last loaded from ``calendar.json``."""
        return self._live["calendar"].value

    def refresh(self):
        """Reload the boundaries and live files that changed: three ``stat`` calls when
        nothing did.

        Returns None, so it can be a Flask ``before_request`` hook.
        """
        self._refresh_boundaries()
        for live in self._live.values():
            live.refresh()

    def save_categories(self, change):
        """Change ``categories.json``: checked first, written atomically, under a lock.

        Parameters
        ----------
        change : callable
            ``change(categories)`` gets the current ``{code: Category}`` (re-read
            under the lock, so edits from other processes are not lost) and
            returns the new one; it may raise ``GridmapError`` to refuse.

        Returns
        -------
        tuple
            ``(old, new)`` category dicts.

        Raises
        ------
        BadInput
            The new categories fail the loader's checks (or ``change`` refused
            them); nothing is written.
        """
        path = self._live["categories"].path
        with _settings_lock(self.data_dir):
            self.refresh()
            old = self.categories
            new = change(dict(old))
            entries = dump_categories(new.values())
            with _as_bad_input():
                parse_categories(entries, path)  # the loader's own checks, before writing
            doc = _document(path)
            doc["categories"] = entries
            write_json_atomic(path, doc)
            self.refresh()
        return old, self.categories

    def save_calendar(self, change):
        """Change ``calendar.json`` like :meth:`save_categories`.

        ``change(doc)`` gets the current calendar as a document
        (``WorkingCalendar.to_dict``) and returns the new document, which
        ``WorkingCalendar.from_dict`` checks before it is written. Keys the
        document does not set (the ``note``) are kept. Returns ``(old, new)``
        calendars.
        """
        path = self._live["calendar"].path
        with _settings_lock(self.data_dir):
            self.refresh()
            old = self.calendar
            new_doc = change(old.to_dict())
            with _as_bad_input():
                new = WorkingCalendar.from_dict(new_doc)  # the loader's own checks, before writing
            doc = _document(path)
            doc.update(new.to_dict())
            write_json_atomic(path, doc)
            self.refresh()
        return old, new


@contextmanager
def _as_bad_input():
    """The loaders' ``ConfigError`` (a broken file at startup) is a bad value from an editor."""
    try:
        yield
    except ConfigError as exc:
        raise BadInput(exc.msg, field=exc.field) from exc


def _document(path):
    """The JSON object in ``path`` (to keep keys we do not edit), or an empty one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _settings_lock(data_dir):
    """An exclusive lock on ``DATA_DIR/.settings.lock`` across processes."""
    return exclusive_lock(Path(data_dir) / ".settings.lock")


def generation_store(config, data_dir):
    """The :class:`GenerationStore` of the data folder (:data:`GENERATIONS`)."""
    return GenerationStore(Path(data_dir) / GENERATIONS, config["COUNTY_CODE"]
                           + config["SUBDISTRICT_CODE"] + config["COMMUNITY_CODE"])


def _check_active(config, data_dir, grids, path):
    report = check_grids(grids.to_frame(), outline=load_outline(data_dir / "community.geojson"),
                         code_pattern=rf"^{config['COUNTY_CODE']}\d{{9}}$")
    if not report.ok:
        raise ConfigError("error.grid_check_failed", path=path, count=len(report.errors),
                          problems=[issue.message for issue in report.errors[:5]],
                          outline=data_dir / "community.geojson")


def load_community(config):
    """Initialise (if needed) and load the data folder; fail with a clear message.

    A data folder without generations gets generation 1 from its grids.geojson
    once that passes the grid checks.
    """
    data_dir = init_data_folder(config)
    try:
        store = generation_store(config, data_dir)
        if not store.exists():
            seed = data_dir / "grids.geojson"
            _check_active(config, data_dir, GridSet.load(seed), seed)
            store.ensure(seed)
        stamp = file_stamp(store.manifest_path)  # before reading: a change meanwhile reloads
        bounds = load_boundaries(data_dir, store, config["SNAP_TOLERANCE_M"])
        _check_active(config, data_dir, bounds.grids, store.folder / store.active().file)
    except ConfigError:
        raise
    except GridmapError as exc:
        raise ConfigError("error.grid_file_unusable", problem=exc.msg) from exc
    # stamps first: a file changed while it is read is reloaded on the first request
    stamps = {key: file_stamp(data_dir / name) for key, name in LIVE_FILES.items()}
    stamps["generations"] = stamp
    categories = load_categories(data_dir / "categories.json")
    calendar = WorkingCalendar.load(data_dir / "calendar.json")
    return Community(data_dir, config, store, bounds, categories, calendar, stamps=stamps)
