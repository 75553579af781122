"""Boundary generations: every published set of grids, one active, at most one draft.

Layout (in the data folder; see ``docs/generations.md``)::

    DATA_DIR/generations/
      manifest.json     which generations exist, which one is active, the draft
      0001.geojson      one FeatureCollection per generation (never changed once published)
      0002.geojson …

A generation is a whole set of grids: a draft is made from a file that may
hold only the grids that changed, and the grids it leaves alone *carry over*
from the active generation. Codes follow the rule in ``DOMAIN.md``: a grid
keeps its code while its area is unchanged (same polygon within
:data:`SAME_AREA_DEG`), a new area gets the next free sequence number (new
grids numbered west→east within rows, rows north→south), and a code that was
ever published is never given to another area.

Every change is a new file written to a temporary name, fsynced, renamed and
its folder fsynced; the manifest is the one file that says what is active, so
publishing and rolling back are one rename each: a crash at any moment leaves
either the old or the new manifest, each naming whole files. Writers hold
``generations/.lock``; readers need no lock (a rename is atomic).
"""

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import shapely

from gridmap.errors import BadInput, Conflict, InvalidBoundary, NotFound
from gridmap.geo.grids import GridSet, _code_text, make_grid_code
from gridmap.private_files import exclusive_lock, private_folder

log = logging.getLogger(__name__)

FOLDER = "generations"
MANIFEST = "manifest.json"
FORMAT = 1
#: Two polygons are "the same area" when no point of one is farther than this
#: from the other (Hausdorff distance, degrees: about 1 cm). A file that went
#: through another CRS and back keeps its codes.
SAME_AREA_DEG = 1e-7
#: An active grid the draft's grids cover more than this share of is replaced;
#: less, and it carries over (its overlap with the new grids is then reported).
REPLACED_SHARE = 0.5
DESCRIPTION_MAX = 500
CHINA_TZ = timezone(timedelta(hours=8), "CST")
_CODE = re.compile(r"^\d{15}$")


def write_atomic(path, data):
    """Write ``data`` (bytes) to ``path``: temporary file, fsync, rename, fsync the folder."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _json_bytes(doc):
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


@dataclass(frozen=True)
class Generation:
    """One generation's entry in the manifest.

    ``team_from`` maps each new grid that takes a team to the active grid whose
    team it takes (absent: vacant); ``team_choices`` holds the planner's own
    choices among them (``{new code: active code or None for vacant}``), which
    outlive a new plan of the draft (an edit) where the defaults are made anew.
    An entry written before there were ``team_choices`` counts its ``team_from``
    as chosen.
    """

    number: int
    status: str  # "draft" or "published"
    author: str
    created_at: str
    description: str
    effective_date: str
    based_on: int | None
    codes: tuple
    new_codes: tuple = ()
    retired_codes: tuple = ()
    team_from: dict = field(default_factory=dict)
    team_choices: dict = field(default_factory=dict)
    published_at: str | None = None
    published_by: str | None = None

    @property
    def file(self):
        return f"{self.number:04d}.geojson"

    def to_dict(self):
        return {"number": self.number, "status": self.status, "author": self.author,
                "created_at": self.created_at, "description": self.description,
                "effective_date": self.effective_date, "based_on": self.based_on,
                "codes": list(self.codes), "new_codes": list(self.new_codes),
                "retired_codes": list(self.retired_codes), "team_from": dict(self.team_from),
                "team_choices": dict(self.team_choices), "published_at": self.published_at,
                "published_by": self.published_by}

    @classmethod
    def from_dict(cls, doc):
        return cls(number=int(doc["number"]), status=doc["status"], author=doc["author"],
                   created_at=doc["created_at"], description=doc.get("description") or "",
                   effective_date=doc["effective_date"], based_on=doc.get("based_on"),
                   codes=tuple(doc["codes"]), new_codes=tuple(doc.get("new_codes") or ()),
                   retired_codes=tuple(doc.get("retired_codes") or ()),
                   team_from=dict(doc.get("team_from") or {}),
                   team_choices=dict(doc["team_choices"] if "team_choices" in doc
                                     else doc.get("team_from") or {}),
                   published_at=doc.get("published_at"), published_by=doc.get("published_by"))


@dataclass
class DraftPlan:
    """What :func:`plan_draft` made of a file: the whole set and how each grid got its code.

    ``features`` is the draft's whole FeatureCollection features list;
    ``carried`` the active codes kept as they were (not in the file);
    ``kept`` codes of file grids whose area is unchanged; ``new`` one
    ``{"code", "was"}`` per new area (``was``: the code the file gave, if any);
    ``replaced`` the active codes that no longer exist; ``team_from`` new code →
    the active code whose team it takes (absent: the slots are vacant).
    """

    features: list
    carried: list
    kept: list
    new: list
    replaced: list
    team_from: dict

    def to_dict(self):
        return {"carried": self.carried, "kept": self.kept, "new": self.new,
                "replaced": self.replaced, "team_from": self.team_from}


def geometry_of(feature):
    """A feature's shapely geometry; None when it has none or it cannot be read."""
    geom = feature.get("geometry")
    if not geom:
        return None
    try:
        return shapely.from_geojson(json.dumps(geom))
    except shapely.errors.GEOSException:
        return None


def _usable(geom):
    """A valid polygonal version of ``geom`` for measuring overlaps (None: nothing usable)."""
    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else None


def reading_order(geoms):
    """Indices of ``geoms`` in code order: rows north→south, west→east within a row.

    A row starts at its northernmost grid (by representative point) and takes
    every grid whose representative point lies within that grid's latitude span.
    """
    if not len(geoms):
        return []
    points = shapely.point_on_surface(np.asarray(geoms, dtype=object))
    xs, ys = shapely.get_x(points), shapely.get_y(points)
    miny = shapely.bounds(np.asarray(geoms, dtype=object))[:, 1]
    left = sorted(range(len(geoms)), key=lambda i: (-ys[i], xs[i]))
    order = []
    while left:
        floor = miny[left[0]]
        row = [i for i in left if ys[i] >= floor]
        order += sorted(row, key=lambda i: (xs[i], -ys[i]))
        left = [i for i in left if ys[i] < floor]
    return order


def _sequence(code, prefix):
    return int(code[-3:]) if code.startswith(prefix) and _CODE.match(code) else 0


def plan_draft(features, active, history, prefix, complete=False, teams=None):
    """Make a whole draft from ``features`` (the grids of a file, as read).

    Parameters
    ----------
    features : list of dict
        GeoJSON-like features in WGS 84; geometry may be missing or invalid
        (the checks report that at publish).
    active : list of dict
        The active generation's features.
    history : dict
        ``{code: shapely geometry}`` of every grid ever published.
    prefix : str
        The 12-digit county + subdistrict + community part of new codes.
    complete : bool
        The file is the whole set: nothing carries over.
    teams : dict, optional
        ``{new code: active code or None}``: whose team a new grid takes
        (None: vacant); new grids not named here take the team of the active
        grid they cover most, if they are that grid's largest part.

    Returns
    -------
    DraftPlan
    """
    drafted = [dict(f, properties=dict(f.get("properties") or {})) for f in features]
    active_geoms = [geometry_of(f) for f in active]
    geoms = snap_vertices([geometry_of(f) for f in drafted], active_geoms)
    for feat, geom in zip(drafted, geoms):
        if geom is not None:
            feat["geometry"] = json.loads(shapely.to_geojson(geom))
    usable = [_usable(g) for g in geoms]
    active_codes = [f["properties"]["grid_code"] for f in active]
    carried, replaced = [], []
    draft_union = shapely.union_all([g for g in usable if g is not None]) if any(
        g is not None for g in usable) else None
    whole = []
    for feat, geom, code in zip(active, active_geoms, active_codes):
        covered = 0.0 if draft_union is None else shapely.intersection(geom, draft_union).area
        if complete or covered > REPLACED_SHARE * geom.area:
            replaced.append(code)
        else:
            carried.append(code)
            whole.append(feat)

    codes = list(history)
    tree = shapely.STRtree([history[c] for c in codes]) if codes else None
    kept, needy = [], []
    for i, (feat, geom) in enumerate(zip(drafted, geoms)):
        given = _code_text(feat["properties"].get("grid_code"))
        match = _same_area(geom, tree, codes, history)
        if match is not None:
            feat["properties"]["grid_code"] = match
            kept.append(match)
        elif given is not None and given not in history:
            feat["properties"]["grid_code"] = given  # a code never used: the planner's choice
        else:
            needy.append((i, given))
    taken = [_code_text(f["properties"].get("grid_code")) or "" for f in drafted]
    seq = max([_sequence(c, prefix) for c in list(history) + taken] + [0])
    order = reading_order([usable[i] if usable[i] is not None else shapely.Point(0, 0)
                           for i, _ in needy])
    new = []
    for k in order:
        i, given = needy[k]
        seq += 1
        code = make_grid_code(prefix[:6], prefix[6:9], prefix[9:12], seq)
        drafted[i]["properties"]["grid_code"] = code
        new.append({"code": code, "was": given})
    fresh = sorted(f["properties"]["grid_code"] for f in drafted
                   if f["properties"]["grid_code"] not in history)
    for f in drafted:  # names of unchanged areas come back if the file has none
        props = f["properties"]
        if not props.get("name") and props["grid_code"] in history:
            props.update({k: v for k, v in _names(active, props["grid_code"]).items() if v})
    team_from = choose_teams(_default_teams(drafted, usable, fresh, active, active_geoms,
                                            replaced), teams, fresh, active_codes)
    return DraftPlan(features=whole + drafted, carried=carried, kept=sorted(kept),
                     new=new, replaced=replaced, team_from=team_from)


def choose_teams(team_from, teams, new_codes, active_codes):
    """``team_from`` changed by the planner's ``teams`` ({new code: active code or
    None for vacant}); a 400 naming a code that is not new or not active."""
    team_from = dict(team_from)
    for code, source in (teams or {}).items():
        if code not in new_codes:
            raise BadInput("error.generations.team_for_unknown_grid", code=repr(code)[:40],
                           allowed=list(new_codes), field="teams")
        if source is not None and source not in active_codes:
            raise BadInput("error.generations.team_from_unknown_grid", code=repr(source)[:40],
                           allowed=list(active_codes), field="teams")
        if source is None:
            team_from.pop(code, None)
        else:
            team_from[code] = source
    return team_from


def snap_vertices(geoms, anchors):
    """``geoms`` with every vertex within :data:`SAME_AREA_DEG` of a vertex of
    ``anchors`` moved onto it exactly, so a file that went through another CRS
    (QGIS, a GeoPackage in metres) fits the grids it carries over bit for bit."""
    points = shapely.get_coordinates([a for a in anchors if a is not None])
    if not len(points):
        return list(geoms)
    tree = shapely.STRtree(shapely.points(points))

    def move(xy):
        found = tree.query_nearest(shapely.points(xy), max_distance=SAME_AREA_DEG)
        xy = xy.copy()
        xy[found[0]] = points[found[1]]
        return xy

    return [None if g is None else shapely.transform(g, move) for g in geoms]


def _names(features, code):
    for f in features:
        if f["properties"].get("grid_code") == code:
            return {k: f["properties"].get(k) for k in ("name", "name_en")}
    return {}


def _same_area(geom, tree, codes, history):
    """The code of the published grid with the same area as ``geom``, or None."""
    if geom is None or geom.is_empty or tree is None:
        return None
    best, best_d = None, SAME_AREA_DEG
    for k in tree.query(geom.envelope.buffer(SAME_AREA_DEG)):
        d = shapely.hausdorff_distance(geom, history[codes[k]])
        if d <= best_d:
            best, best_d = codes[k], d
    return best


def _default_teams(drafted, usable, fresh, active, active_geoms, replaced):
    """A new grid takes the team of the replaced grid it covers most, when it is
    that grid's largest part (the others of a split start vacant)."""
    team_from, best = {}, {}
    for feat, geom in zip(drafted, usable):
        code = feat["properties"]["grid_code"]
        if code not in fresh or geom is None:
            continue
        shares = [(shapely.intersection(geom, g).area, f["properties"]["grid_code"])
                  for f, g in zip(active, active_geoms)
                  if f["properties"]["grid_code"] in replaced]
        area, source = max(shares, default=(0.0, None))
        if area > 0 and area > best.get(source, (0.0, None))[0]:
            best[source] = (area, code)
    for source, (_, code) in best.items():
        team_from[code] = source
    return team_from


def check_effective_date(value):
    """An ISO date (``YYYY-MM-DD``) as text; None means today in China."""
    if value is None or value == "":
        return datetime.now(CHINA_TZ).date().isoformat()
    if not isinstance(value, str):
        raise BadInput("error.generations.bad_effective_date", value=repr(value)[:40],
                       field="effective_date")
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise BadInput("error.generations.bad_effective_date", value=repr(value)[:40],
                       field="effective_date") from None


def check_description(value):
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > DESCRIPTION_MAX or any(
            ord(c) < 32 and c not in "\n\t" for c in value):
        raise BadInput("error.generations.bad_description", limit=DESCRIPTION_MAX,
                       field="description")
    return value.strip()


class GenerationStore:
    """The generations of one community, in ``folder`` (``DATA_DIR/generations``).

    Parameters
    ----------
    folder : str or Path
    prefix : str
        County + subdistrict + community code (12 digits) for new grid codes.
    clock : callable, optional
        Returns the current aware datetime (tests pass a fixed one).
    """

    def __init__(self, folder, prefix, clock=None):
        if not (isinstance(prefix, str) and prefix.isdigit() and len(prefix) == 12):
            raise BadInput("error.generations.bad_prefix", value=repr(prefix)[:40], field="prefix")
        self.folder = Path(folder)
        self.prefix = prefix
        self.manifest_path = self.folder / MANIFEST
        self.clock = clock or (lambda: datetime.now(CHINA_TZ))

    # -- reading --------------------------------------------------------------

    def exists(self):
        return self.manifest_path.is_file()

    def manifest(self):
        """The manifest document; NotFound when there is none yet."""
        try:
            doc = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound("error.generations.no_manifest", path=str(self.manifest_path)) from None
        except (OSError, ValueError) as exc:
            raise InvalidBoundary("error.generations.bad_manifest", path=str(self.manifest_path),
                                  problem=str(exc)) from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise InvalidBoundary("error.generations.bad_manifest", path=str(self.manifest_path),
                                  problem=f"format {doc.get('format') if isinstance(doc, dict) else doc!r}")
        return doc

    def generations(self, doc=None):
        """Every generation, oldest first (the draft last, if any)."""
        doc = doc or self.manifest()
        return [Generation.from_dict(g) for g in doc["generations"]]

    def get(self, number, doc=None):
        """One generation by number; NotFound naming the numbers there are."""
        gens = self.generations(doc)
        for gen in gens:
            if gen.number == number:
                return gen
        raise NotFound("error.generations.no_such_generation", number=repr(number)[:20],
                       numbers=[g.number for g in gens], field="generation")

    def active(self, doc=None):
        doc = doc or self.manifest()
        return self.get(doc["active"], doc)

    def draft(self, doc=None):
        doc = doc or self.manifest()
        return None if doc.get("draft") is None else self.get(doc["draft"], doc)

    def features(self, number, doc=None):
        """The features of generation ``number`` (its FeatureCollection's list)."""
        path = self.folder / self.get(number, doc).file
        try:
            collection = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidBoundary("error.grids.file_not_found", path=str(path)) from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidBoundary("error.grids.file_unreadable", path=str(path),
                                  problem=str(exc)) from exc
        if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
            raise InvalidBoundary("error.grids.not_feature_collection", path=str(path))
        return collection.get("features") or []

    def collection(self, number, doc=None):
        """Generation ``number`` as a FeatureCollection with its manifest entry in ``generation``."""
        gen = self.get(number, doc)
        return {"type": "FeatureCollection", "generation": gen.to_dict(),
                "features": self.features(number, doc)}

    def grid_set(self, number, doc=None):
        """A published generation's grids (a draft may not be a valid set: use features)."""
        return GridSet.from_features(self.features(number, doc),
                                     source=str(self.folder / self.get(number, doc).file))

    def history(self, doc=None):
        """``{code: geometry}`` of every grid of every published generation."""
        doc = doc or self.manifest()
        found = {}
        for gen in self.generations(doc):
            if gen.status != "published":
                continue
            for feat in self.features(gen.number, doc):
                code = feat["properties"]["grid_code"]
                if code not in found:
                    found[code] = geometry_of(feat)
        return found

    def last_published(self, code, doc=None):
        """The properties of grid ``code`` in the newest published generation that holds
        it (a grid no longer active still names its cases), or None if none ever did."""
        doc = doc or self.manifest()
        for gen in reversed(self.generations(doc)):
            if gen.status == "published" and code in gen.codes:
                return next(f["properties"] for f in self.features(gen.number, doc)
                            if f["properties"].get("grid_code") == code)
        return None

    def team_sources(self, doc=None):
        """``{code: the code whose team it took}`` over every published generation."""
        doc = doc or self.manifest()
        found = {}
        for gen in self.generations(doc):
            if gen.status == "published":
                found.update(gen.team_from)
        return found

    # -- writing --------------------------------------------------------------

    def _locked(self):
        private_folder(self.folder)
        return exclusive_lock(self.folder / ".lock")

    def _now(self):
        return self.clock().isoformat(timespec="seconds")

    def _write_manifest(self, doc):
        write_atomic(self.manifest_path, _json_bytes(doc))

    def _write_features(self, gen, features):
        doc = {"type": "FeatureCollection", "features": features}
        write_atomic(self.folder / gen.file, _json_bytes(doc))

    def ensure(self, seed_path, author="geodata", description="初始网格 / the first grids"):
        """Make generation 1 from ``seed_path`` (the data folder's grids.geojson) if there
        is no manifest yet; returns True when it made it."""
        if self.exists():
            return False
        with self._locked():
            if self.exists():
                return False  # another process made it meanwhile
            grids = GridSet.load(seed_path)
            doc = json.loads(Path(seed_path).read_text(encoding="utf-8"))
            now = self._now()
            gen = Generation(number=1, status="published", author=author, created_at=now,
                             description=description, effective_date=now[:10], based_on=None,
                             codes=grids.codes, new_codes=grids.codes, published_at=now,
                             published_by=author)
            self._write_features(gen, doc["features"])
            self._write_manifest({"format": FORMAT, "active": 1, "draft": None,
                                  "generations": [gen.to_dict()],
                                  "events": [{"at": now, "action": "publish", "number": 1,
                                              "by": author}]})
        log.info("generation 1 made from %s", seed_path)
        return True

    def plan(self, features, complete=False, teams=None, doc=None):
        """What :meth:`make_draft` would make of ``features`` (a :class:`DraftPlan`),
        storing nothing."""
        if not isinstance(features, list) or not features:
            raise InvalidBoundary("error.generations.no_features", field="features")
        doc = doc or self.manifest()
        return plan_draft(features, self.features(self.active(doc).number, doc),
                          self.history(doc), self.prefix, complete=complete, teams=teams)

    def make_draft(self, features, author, description=None, effective_date=None,
                   complete=False, teams=None):
        """Store ``features`` as the draft (replacing any draft there was).

        Returns ``(Generation, DraftPlan)``. Nothing is checked here but the
        codes and teams asked for: the draft may hold problems for the
        planner to see and fix; :meth:`publish` refuses them. ``teams`` are
        kept as the draft's ``team_choices``.
        """
        description = check_description(description)
        effective_date = check_effective_date(effective_date)
        _check_author(author)
        with self._locked():
            doc = self.manifest()
            active = self.active(doc)
            history = self.history(doc)
            plan = self.plan(features, complete, teams, doc)
            codes = [_code_text(f["properties"].get("grid_code")) or "" for f in plan.features]
            number = max(g.number for g in self.generations(doc) if g.status == "published") + 1
            gen = Generation(number=number, status="draft", author=author, created_at=self._now(),
                             description=description, effective_date=effective_date,
                             based_on=active.number, codes=tuple(codes),
                             new_codes=tuple(sorted(c for c in codes if c and c not in history)),
                             retired_codes=tuple(c for c in active.codes if c not in codes),
                             team_from=plan.team_from, team_choices=dict(teams or {}))
            self._write_features(gen, plan.features)
            doc["generations"] = [g for g in doc["generations"] if g["status"] == "published"]
            doc["generations"].append(gen.to_dict())
            doc["draft"] = number
            self._write_manifest(doc)
        log.info("draft generation %d by %s: %d grids", number, author, len(plan.features))
        return gen, plan

    def set_teams(self, teams, author):
        """Change whose team the draft's new grids take: ``{new code: active code or None}``."""
        _check_author(author)
        with self._locked():
            doc = self.manifest()
            draft = self._need_draft(doc)
            team_from = choose_teams(draft.team_from, teams, draft.new_codes,
                                     self.active(doc).codes)
            entry = dict(draft.to_dict(), team_from=team_from,
                         team_choices={**draft.team_choices, **teams})
            doc["generations"] = [entry if g["number"] == draft.number else g
                                  for g in doc["generations"]]
            self._write_manifest(doc)
        return Generation.from_dict(entry)

    def discard_draft(self):
        """Drop the draft (its file stays until a new draft takes its number)."""
        with self._locked():
            doc = self.manifest()
            draft = self._need_draft(doc)
            doc["generations"] = [g for g in doc["generations"] if g["number"] != draft.number]
            doc["draft"] = None
            self._write_manifest(doc)
        return draft

    def _need_draft(self, doc):
        draft = self.draft(doc)
        if draft is None:
            raise Conflict("error.generations.no_draft")
        return draft

    def publish(self, author, check, expected_draft=None, teams=None, description=None,
                effective_date=None):
        """Make the draft the active generation, if it passes ``check``.

        Parameters
        ----------
        author : str
        check : callable
            ``check(features)`` returns a ``CheckReport`` of the draft.
        expected_draft : int, optional
            Refuse (409) if the draft is not this one (a preview of another draft).
        teams : dict, optional
            Team choices for new grids, as for :meth:`set_teams`, stored with
            the publish (not at all if it is refused).
        description, effective_date : str, optional
            Replace the draft's (checked as for :meth:`make_draft`; kept if None).

        Returns
        -------
        tuple
            ``(old active Generation, new active Generation)``.

        Raises
        ------
        Conflict
            No draft, or not the expected one.
        InvalidBoundary
            The draft fails the checks: every problem listed, nothing changed.
        """
        _check_author(author)
        info = {}
        if description is not None:
            info["description"] = check_description(description)
        if effective_date is not None:
            info["effective_date"] = check_effective_date(effective_date)
        with self._locked():
            doc = self.manifest()
            draft = self._need_draft(doc)
            if expected_draft is not None and expected_draft != draft.number:
                raise Conflict("error.generations.other_draft", number=draft.number,
                               expected=expected_draft, field="draft")
            old = self.active(doc)
            team_from = choose_teams(draft.team_from, teams, draft.new_codes, old.codes)
            features = self.features(draft.number, doc)
            report = check(features)
            if not report.ok:
                raise InvalidBoundary(
                    "error.generations.publish_refused", number=draft.number,
                    count=len(report.errors), problems=[i.message for i in report.errors],
                    detail={"issues": [i.to_dict() for i in report.issues]})
            now = self._now()
            retired = tuple(c for c in old.codes if c not in draft.codes)
            entry = dict(draft.to_dict(), **info, status="published", published_at=now,
                         published_by=author, based_on=old.number, retired_codes=list(retired),
                         team_from=team_from, team_choices={**draft.team_choices, **(teams or {})})
            doc["generations"] = [entry if g["number"] == draft.number else g
                                  for g in doc["generations"]]
            doc["active"], doc["draft"] = draft.number, None
            doc.setdefault("events", []).append({"at": now, "action": "publish",
                                                 "number": draft.number, "by": author})
            self._write_manifest(doc)  # the one step that publishes
        log.info("generation %d published by %s (was %d)", draft.number, author, old.number)
        return old, Generation.from_dict(entry)

    def rollback(self, number, author):
        """Make the earlier published generation ``number`` active again.

        Returns ``(old active, new active)``. A draft stays a draft.
        """
        _check_author(author)
        if isinstance(number, bool) or not isinstance(number, int):
            raise BadInput("error.generations.bad_number", value=repr(number)[:20],
                           field="generation")
        with self._locked():
            doc = self.manifest()
            target, old = self.get(number, doc), self.active(doc)
            if target.status != "published":
                raise Conflict("error.generations.not_published", number=number,
                               field="generation")
            if target.number == old.number:
                raise Conflict("error.generations.already_active", number=number,
                               field="generation")
            self.grid_set(number, doc)  # whole and loadable before it becomes active
            now = self._now()
            doc["active"] = number
            doc.setdefault("events", []).append({"at": now, "action": "rollback",
                                                 "number": number, "from": old.number,
                                                 "by": author})
            self._write_manifest(doc)
        log.info("generation %d active again (rolled back from %d by %s)", number, old.number,
                 author)
        return old, target


def _check_author(author):
    if not (isinstance(author, str) and author and len(author) <= 80):
        raise BadInput("error.generations.bad_author", value=repr(author)[:40], field="author")
