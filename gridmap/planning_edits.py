"""Editing the draft grid by grid, with undo and redo (the ``/planning`` editor).

Each edit is one operation of :mod:`gridmap.geo.topology` (or a change of a
grid's names) applied to the draft's whole set of grids, which is then stored
as the draft again through :meth:`GenerationStore.make_draft` (``complete``),
so codes are given exactly as for any draft: a grid whose area is unchanged
keeps its code, a changed area gets a new one (``docs/generations.md``).

The undo stack lives beside the draft, so it survives restarts and every
worker process sees the same one::

    DATA_DIR/generations/draft-edits/
      index.json        {"draft": N, "digest": …, "first": f, "at": a, "last": l}
      000000.json …     one whole set of features per state (f … l), written atomically
      .lock             edits, undos and redos take turns (flock)

State ``at`` is the draft as stored; ``digest`` is the SHA-256 of the draft's
file at that state. When the draft no longer matches it (a new upload, a
discarded or published draft, a crash between storing the draft and the
index), the stack starts afresh from the draft as it is. Discarding,
publishing or uploading a draft clears it (:func:`clear_edits`).
"""

import hashlib
import json
import math
import shutil

import shapely

from gridmap.errors import BadInput, Conflict
from gridmap.geo import topology
from gridmap.geo.generations import _json_bytes, geometry_of, write_atomic
from gridmap.geo.grids import load_outline
from gridmap.private_files import exclusive_lock, private_folder

FOLDER = "draft-edits"
INDEX = "index.json"
#: undo goes back this many edits at most (older states are dropped)
MAX_UNDO = 200
NAME_MAX = 80
OPS = ("move_vertex", "split", "merge", "redraw", "add", "remove", "set_props", "fix")
FIELDS = {"move_vertex": ("at", "to"), "split": ("grid", "line"), "merge": ("grids",),
          "redraw": ("grids", "line"), "add": ("polygon",), "remove": ("grid",),
          "set_props": ("grid", "name", "name_en", "grid_code"), "fix": ("problem",)}
BODY_FIELDS = frozenset({"op"} | {f for fields in FIELDS.values() for f in fields})


class NothingToUndo(Conflict):
    code = "nothing_to_undo"


class NothingToRedo(Conflict):
    code = "nothing_to_redo"


def edits_folder(store):
    return store.folder / FOLDER


def clear_edits(store):
    """Forget the undo stack (the draft was discarded, published or replaced)."""
    folder = edits_folder(store)
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)


# -- features and coverages -----------------------------------------------------

def coverage_of(features):
    """``(coverage, keys)``: the polygonal grids of ``features`` as ``{key: geometry}``
    and each feature's key (None for a feature without a usable geometry). A key is
    the grid's code when that code is there once, else ``#<position>``."""
    codes = [(f.get("properties") or {}).get("grid_code") for f in features]
    counts = {}
    for code in codes:
        counts[code] = counts.get(code, 0) + 1
    coverage, keys = {}, []
    for i, (feat, code) in enumerate(zip(features, codes)):
        geom = geometry_of(feat)
        if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            keys.append(None)
            continue
        key = code if isinstance(code, str) and code and counts[code] == 1 else f"#{i}"
        coverage[key] = geom
        keys.append(key)
    return coverage, keys


def features_from(features, keys, before, after):
    """The features after an edit: ``after`` in its order (changed geometries
    replaced, new keys as new features without a code), then the features that
    had no usable geometry, as they were."""
    by_key = {k: f for k, f in zip(keys, features) if k is not None}
    out = []
    for key, geom in after.items():
        if key in by_key:
            feat = by_key[key]
            if before.get(key) is not geom:
                feat = dict(feat, geometry=_geojson(geom))
        else:
            feat = {"type": "Feature", "properties": {}, "geometry": _geojson(geom)}
        out.append(feat)
    out += [f for k, f in zip(keys, features) if k is None]
    return out


def _geojson(geom):
    return json.loads(shapely.to_geojson(geom))  # round-trips every float exactly


# -- reading an operation ---------------------------------------------------------

def _grid(body, name, keys_by_code):
    code = body.get(name)
    if not isinstance(code, str) or not code:
        raise BadInput("error.edits.bad_grid", field=name, value=repr(code)[:40])
    return _key(code, name, keys_by_code)


def _key(code, name, keys_by_code):
    if code not in keys_by_code:
        raise BadInput("error.topology.unknown_grid", grid=repr(code)[:40], field=name)
    return keys_by_code[code]


def _two_grids(body, keys_by_code):
    grids = body.get("grids")
    if not (isinstance(grids, list) and len(grids) == 2 and all(
            isinstance(c, str) and c for c in grids)):
        raise BadInput("error.edits.bad_grids", field="grids")
    if grids[0] == grids[1]:
        raise BadInput("error.topology.same_grid", field="grids")
    return [_key(c, "grids", keys_by_code) for c in grids]


def _name(value, field):
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > NAME_MAX or any(ord(c) < 32 for c in value):
        raise BadInput("error.edits.bad_name", field=field, limit=NAME_MAX)
    return value.strip()


def check_op(body):
    """The operation of a request body, its fields checked for shape (400 naming one)."""
    op = body.get("op")
    if op not in OPS:
        raise BadInput("error.edits.bad_op", value=repr(op)[:40], allowed=list(OPS), field="op")
    extra = sorted(set(body) - {"op"} - set(FIELDS[op]))
    if extra:
        raise BadInput("error.edits.unexpected_field", name=extra[0], op=op, field=extra[0])
    for name in FIELDS[op]:
        if name not in body and op != "set_props":
            raise BadInput("error.api.missing_parameter", name=name, field=name)
    if op == "set_props" and not ({"name", "name_en", "grid_code"} & set(body)):
        raise BadInput("error.api.missing_parameter", name="name", field="name")
    if op in ("split", "redraw") and not isinstance(body.get("line"), list):
        raise BadInput("error.topology.bad_line", field="line", minimum=2)
    if op == "add" and not isinstance(body.get("polygon"), list):
        raise BadInput("error.topology.bad_line", field="polygon", minimum=3)
    if op == "fix" and not (isinstance(body.get("problem"), dict) and isinstance(
            body["problem"].get("kind"), str)):
        raise BadInput("error.topology.bad_problem", field="problem")
    return op


def apply_op(features, body, tolerance_m, outline=None):
    """The features after the operation ``body`` (see :data:`OPS`)."""
    op = check_op(body)
    coverage, keys = coverage_of(features)
    codes = [(f.get("properties") or {}).get("grid_code") for f in features]
    keys_by_code = {c: k for c, k in zip(codes, keys) if k is not None and c == k}
    keys_by_code.update({k: k for k in coverage})  # "#3" names a grid without a code
    if op == "set_props":
        key = _grid(body, "grid", keys_by_code)
        names = {n: _name(body.get(n), n) for n in ("name", "name_en") if n in body}
        if "grid_code" in body:
            code = body["grid_code"]
            if not (isinstance(code, str) and code.isascii() and code.isdigit()
                    and len(code) == 15):
                raise BadInput("error.edits.bad_code", value=repr(code)[:40], field="grid_code")
            if code in keys_by_code and keys_by_code[code] != key:
                raise BadInput("error.edits.code_taken", code=code, field="grid_code")
            names["grid_code"] = code
        out = []
        for k, f in zip(keys, features):
            if k == key:
                props = dict(f.get("properties") or {})
                props.update(names)
                f = dict(f, properties=props)
            out.append(f)
        return out
    if op == "move_vertex":
        after = topology.move_vertex(coverage, _point(body["at"], "at"),
                                     _point(body["to"], "to"), tolerance_m)
    elif op == "split":
        after = topology.split(coverage, _grid(body, "grid", keys_by_code), body["line"],
                               tolerance_m)
    elif op == "merge":
        a, b = _two_grids(body, keys_by_code)
        after = topology.merge(coverage, a, b)
    elif op == "redraw":
        a, b = _two_grids(body, keys_by_code)
        after = topology.redraw(coverage, a, b, body["line"], tolerance_m)
    elif op == "add":
        after = topology.add(coverage, body["polygon"], tolerance_m)
    elif op == "remove":
        after = topology.remove(coverage, _grid(body, "grid", keys_by_code))
    else:
        problem = dict(body["problem"])
        if problem.get("kind") in ("sliver_overlap", "overlap"):
            grid_codes = problem.get("grid_codes")
            if not (isinstance(grid_codes, list) and len(grid_codes) == 2
                    and all(isinstance(c, str) for c in grid_codes)):
                raise BadInput("error.topology.bad_problem", field="problem")
            problem["grid_codes"] = [_key(c, "problem", keys_by_code) for c in grid_codes]
        after = topology.fix(coverage, problem, outline=outline)
    return features_from(features, keys, coverage, after)


def _point(value, field):
    if not (isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in value)):
        raise BadInput("error.topology.bad_point", field=field, value=repr(value)[:60])
    return value


# -- the stack ----------------------------------------------------------------------

class DraftEditor:
    """Edits of the draft through :class:`gridmap.planning.Planning` ``planning``."""

    def __init__(self, planning):
        self.planning = planning
        self.store = planning.store
        self.folder = edits_folder(self.store)
        self.tolerance = float(planning.community.config["EDIT_SNAP_M"])

    def _locked(self):
        private_folder(self.store.folder)
        private_folder(self.folder)
        return exclusive_lock(self.folder / ".lock")

    def _state_path(self, n):
        return self.folder / f"{n:06d}.json"

    def _read_state(self, n):
        """``(features, team choices)`` of state ``n``."""
        doc = json.loads(self._state_path(n).read_text(encoding="utf-8"))
        return doc["features"], doc.get("teams") or {}

    def _write_state(self, n, features, teams):
        write_atomic(self._state_path(n), _json_bytes({"features": features, "teams": teams}))

    def _leave(self, index, draft):
        """Keep the planner's team choices made since state ``at`` was stored with it,
        so that coming back to it brings them back (a grid merged away, then undone)."""
        features, teams = self._read_state(index["at"])
        if teams != draft.team_choices:
            self._write_state(index["at"], features, draft.team_choices)

    def _read_index(self):
        try:
            return json.loads((self.folder / INDEX).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _write_index(self, index):
        write_atomic(self.folder / INDEX, _json_bytes(index))

    def _digest(self, draft):
        return hashlib.sha256((self.store.folder / draft.file).read_bytes()).hexdigest()

    def _index_for(self, draft):
        """The stack's index when it belongs to ``draft`` as stored now, else None."""
        index = self._read_index()
        if (index is None or index.get("draft") != draft.number
                or index.get("digest") != self._digest(draft)
                or not self._state_path(index["at"]).is_file()):
            return None
        return index

    def _fresh(self, draft):
        """A new stack whose only state is the draft as it is."""
        for path in self.folder.glob("*.json"):
            path.unlink()
        self._write_state(0, self.store.features(draft.number), draft.team_choices)
        index = {"draft": draft.number, "digest": self._digest(draft), "first": 0, "at": 0,
                 "last": 0}
        self._write_index(index)
        return index

    def _draft(self, author, start):
        doc = self.store.manifest()
        draft = self.store.draft(doc)
        if draft is None and start:
            active = self.store.active(doc)
            draft, _ = self.store.make_draft(
                self.store.features(active.number, doc), author, complete=True,
                description=f"在编辑器中修改第 {active.number} 代 / edited from generation "
                            f"{active.number}")
        return draft

    def _store(self, features, draft, author, choices):
        """Store ``features`` as the draft: codes and default teams planned anew, the
        planner's team ``choices`` (vacant too) kept for the grids still new. The new entry."""
        history = self.store.history()
        plan = self.store.plan(features, complete=True)
        fresh = {f["properties"].get("grid_code") for f in plan.features} - set(history)
        active = set(self.store.active().codes)
        teams = {c: s for c, s in choices.items() if c in fresh and (s is None or s in active)}
        gen, _ = self.store.make_draft(features, author, description=draft.description,
                                       effective_date=draft.effective_date, complete=True,
                                       teams=teams)
        return gen

    def state(self):
        """``(draft entry, index)`` or ``(None, None)`` without a draft."""
        draft = self._draft(None, start=False)
        if draft is None:
            return None, None
        return draft, self._read_index_for_answer(draft)

    def _read_index_for_answer(self, draft):
        index = self._index_for(draft)
        return index or {"first": 0, "at": 0, "last": 0}

    def edit(self, body, author):
        """Apply one operation (a request body) to the draft; a draft is started
        from the active generation if there is none. Returns the answer dict."""
        check_op(body)
        with self._locked():
            draft = self._draft(author, start=True)
            index = self._index_for(draft) or self._fresh(draft)
            features = self.store.features(draft.number)
            outline = None
            if body.get("op") == "fix":
                outline = load_outline(self.planning.community.data_dir / "community.geojson")
            changed = apply_op(features, body, self.tolerance, outline=outline)
            if changed == features:
                return self.answer(draft, index)
            self._leave(index, draft)
            gen = self._store(changed, draft, author, _choices_after(body, draft.team_choices))
            at = index["at"] + 1
            self._write_state(at, self.store.features(gen.number), gen.team_choices)
            for n in range(at + 1, index["last"] + 1):
                self._state_path(n).unlink(missing_ok=True)
            first = index["first"]
            while at - first > MAX_UNDO:
                self._state_path(first).unlink(missing_ok=True)
                first += 1
            index = {"draft": gen.number, "digest": self._digest(gen), "first": first,
                     "at": at, "last": at}
            self._write_index(index)
            return self.answer(gen, index)

    def undo(self, author):
        return self._step(author, -1)

    def redo(self, author):
        return self._step(author, +1)

    def _step(self, author, step):
        if not (self.folder / INDEX).is_file():
            raise (NothingToUndo("error.edits.nothing_to_undo") if step < 0
                   else NothingToRedo("error.edits.nothing_to_redo"))
        with self._locked():
            draft = self._draft(author, start=False)
            index = None if draft is None else self._index_for(draft)
            if index is None or not (index["first"] <= index["at"] + step <= index["last"]):
                if step < 0:
                    raise NothingToUndo("error.edits.nothing_to_undo")
                raise NothingToRedo("error.edits.nothing_to_redo")
            self._leave(index, draft)
            at = index["at"] + step
            features, teams = self._read_state(at)
            # the state's choices, and the ones made since (the later choice wins)
            gen = self._store(features, draft, author, {**teams, **draft.team_choices})
            index = dict(index, draft=gen.number, digest=self._digest(gen), at=at)
            self._write_index(index)
            return self.answer(gen, index)

    def answer(self, draft, index):
        features = self.store.features(draft.number)
        return {"draft": draft.number,
                "features": {"type": "FeatureCollection", "features": features},
                "issues": self.planning.check(features).to_dict(),
                **flags(index)}


def _choices_after(body, choices):
    """The team ``choices`` after the edit ``body``: a new grid given another code
    keeps the planner's choice under it."""
    old, new = body.get("grid"), body.get("grid_code")
    if body.get("op") != "set_props" or new is None or old not in choices:
        return choices
    choices = dict(choices)
    choices[new] = choices.pop(old)
    return choices


def flags(index):
    return {"can_undo": index["at"] > index["first"], "can_redo": index["at"] < index["last"],
            "edits": index["at"] - index["first"]}
