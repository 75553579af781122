"""Planning: drafts, previews, publishing and rolling back grid boundaries.

The one place that ties the boundary generations
(:mod:`gridmap.geo.generations`) to the rest of the service: the grid
checks, the cases (an impact preview; moving open cases on publish), the
teams and the audit log. The ``gridmap grids`` commands and the
``/api/planning/`` views both call it, so they behave alike.
"""

import json
import logging

import shapely

from gridmap.audit import BOUNDARY_PUBLISH, BOUNDARY_ROLLBACK, ROLES_CHANGE
from gridmap.cases.workflow import OPEN_STATES, regrid
from gridmap.errors import BadInput, GridmapError, InvalidBoundary
from gridmap.geo.checks import check_grids
from gridmap.geo.generations import geometry_of
from gridmap.geo.grids import GridSet, load_outline
from gridmap.geo.impact import WORKLOAD_SHARE, impact
from gridmap.geo.routing import Router
from gridmap.planning_edits import clear_edits
from gridmap.store.base import VersionConflict

log = logging.getLogger(__name__)


def features_of(frame, code_field="grid_code"):
    """GeoJSON-like features of a GeoDataFrame (``read_grid_file``), the code in ``grid_code``."""
    if code_field != "grid_code" and code_field in frame.columns:
        frame = frame.drop(columns=["grid_code"], errors="ignore").rename(
            columns={code_field: "grid_code"})
    body = json.loads(frame.to_json(na="drop", to_wgs84=False))
    return [{"type": "Feature", "properties": f.get("properties") or {},
             "geometry": f.get("geometry")} for f in body["features"]]


def _frame(features):
    import geopandas

    geoms = [geometry_of(f) for f in features]  # unreadable: None, reported as missing
    return geopandas.GeoDataFrame(
        {"grid_code": [f["properties"].get("grid_code") for f in features]},
        geometry=geoms, crs=4326)


class Planning:
    """Boundary work on one community.

    Parameters
    ----------
    community : gridmap.datafolder.Community
    cases : gridmap.cases.service.CaseService
    audit : gridmap.audit.AuditLog
    accounts : gridmap.auth.accounts.AccountStore
        Grid staff follow their teams into new grids when a generation is published.
    """

    def __init__(self, community, cases, audit, accounts):
        self.community, self.cases, self.audit, self.accounts = community, cases, audit, accounts
        self.store = community.generations

    # -- checking and comparing -----------------------------------------------

    def check(self, features):
        """The grid checks of ``features`` against the community outline (a CheckReport)."""
        config = self.community.config
        return check_grids(_frame(features),
                           outline=load_outline(self.community.data_dir / "community.geojson"),
                           code_pattern=rf"^{config['COUNTY_CODE']}\d{{9}}$")

    def _router(self, number, max_cells=1 << 18):
        """The router of generation ``number`` (a draft's too, if its grids are usable).

        InvalidBoundary (422) when GEOS cannot build it from grids that pass the checks
        (its "TopologyException" named): no worker could route by them."""
        gen = self.store.get(number)
        if gen.status == "published":
            return self.community.router_for(number)
        grids = GridSet.from_features(self.store.features(number), source=gen.file)
        try:
            return Router(grids, tolerance_m=self.community.config["SNAP_TOLERANCE_M"],
                          **({"max_cells": max_cells} if max_cells else {}))
        except shapely.errors.GEOSException as exc:
            raise InvalidBoundary("error.generations.unroutable", number=number,
                                  problem=str(exc)[:200]) from exc

    def _publish_check(self, features):
        """:meth:`check`, and when it passes, the router every worker will build from the
        draft, built here first (:meth:`_router`)."""
        report = self.check(features)
        if report.ok:
            self._router(self.store.draft().number, max_cells=None)
        return report

    def preview(self, a=None, b=None, workload_share=WORKLOAD_SHARE):
        """What going from generation ``a`` (default: the active one) to ``b``
        (default: the draft) does to the cases, with ``b``'s check report.

        Returns a dict: ``from`` and ``to`` (manifest entries), ``check``
        (the report of ``b``), ``impact`` (:func:`gridmap.geo.impact.impact`;
        None when ``b``'s grids cannot route: fix the problems first), and
        ``teams``: ``b``'s new grids with the grid whose team each takes (None: vacant).
        """
        doc = self.store.manifest()
        a = self.store.active(doc).number if a is None else a
        if b is None:
            draft = self.store.draft(doc)
            if draft is None:
                raise BadInput("error.generations.no_draft_to_compare", field="b")
            b = draft.number
        gen_a, gen_b = self.store.get(a, doc), self.store.get(b, doc)
        report = self.check(self.store.features(b, doc))
        try:
            new_router = self._router(b)
        except GridmapError:
            effect = None
        else:
            effect = impact(self._router(a), new_router, self.cases.store.points(), OPEN_STATES,
                            current=gen_a.number == self.community.generation,
                            workload_share=workload_share)
        return {"from": gen_a.to_dict(), "to": gen_b.to_dict(), "check": report.to_dict(),
                "impact": effect,
                "teams": [{"code": c, "team_from": gen_b.team_from.get(c)}
                          for c in gen_b.new_codes]}

    # -- changing --------------------------------------------------------------

    def draft(self, features, author, **options):
        """Store ``features`` as the draft; returns ``(Generation, DraftPlan)``.
        ``options``: description, effective_date, complete, teams."""
        made = self.store.make_draft(features, author, **options)
        clear_edits(self.store)  # a new draft: the editor's undo stack was of the old one
        return made

    def discard_draft(self):
        """Drop the draft and the editor's undo stack; returns the dropped entry."""
        dropped = self.store.discard_draft()
        clear_edits(self.store)
        return dropped

    def publish(self, author, role, move_cases=False, expected_draft=None, teams=None, ip=None,
                **info):
        """Publish the draft (refused unless it passes every check), record it in
        the audit log and, if ``move_cases``, move open cases into the grid their
        place now belongs to; ``info``: description, effective_date (replacing the
        draft's). Returns ``(old, new, moved case ids)``."""
        old, new = self.store.publish(author, self._publish_check, expected_draft=expected_draft,
                                      teams=teams, **info)
        clear_edits(self.store)
        self.audit.record(BOUNDARY_PUBLISH, author, role=role, target=str(new.number), ip=ip,
                          detail={"from": old.number, "to": new.number,
                                  "description": new.description,
                                  "effective_date": new.effective_date,
                                  "new_codes": list(new.new_codes),
                                  "retired_codes": list(new.retired_codes),
                                  "move_cases": bool(move_cases)})
        self.community.refresh()
        self.follow_teams(new, author, role, ip)
        moved = self.move_open_cases(author) if move_cases else []
        return old, new, moved

    def follow_teams(self, gen, author, role, ip=None):
        """Grid staff of a grid whose team a new grid of ``gen`` took get that grid too
        (their old codes stay: cases left there stay in reach), each change in the audit
        log as a change of grids. Returns the changed (old, new) users."""
        changed = self.accounts.follow_teams(gen.team_from)
        for before, after in changed:
            self.audit.record(ROLES_CHANGE, author, role=role, target=after.username, ip=ip,
                              detail={"roles": sorted(after.roles),
                                      "grid_codes": sorted(after.grid_codes),
                                      "old_roles": sorted(before.roles),
                                      "old_grid_codes": sorted(before.grid_codes),
                                      "generation": gen.number})
        return changed

    def open_moves(self):
        """``[(case id, its grid, the active generation's grid of its place)]`` for every
        open case whose place lies in another grid now (a point outside every grid stays)."""
        points = self.cases.store.points()
        codes = self.community.boundaries.router.route_points(points.lon, points.lat).codes()
        return [(points.ids[i], points.grid_code[i], codes[i]) for i in range(len(points.ids))
                if points.state[i] in OPEN_STATES and codes[i] is not None
                and codes[i] != points.grid_code[i]]

    def move_open_cases(self, author):
        """Move every open case whose place lies in another grid of the active
        generation there (a ``regrid`` event each); closed cases keep their grid.
        Returns the moved case ids. Safe to run again: a moved case stays put."""
        bounds = self.community.boundaries
        moved = [case_id for case_id, _, to in self.open_moves()
                 if self._move(case_id, to, bounds, author)]
        log.info("moved %d open cases into generation %d's grids", len(moved), bounds.number)
        return moved

    def _move(self, case_id, to, bounds, author, tries=3):
        for _ in range(tries):
            feature = self.cases.store.get(case_id)
            props = feature["properties"]
            if props["state"] not in OPEN_STATES or props["grid_code"] == to:
                return False
            new = regrid(props, to, bounds.number, author, self.cases.clock())
            new["assignee"] = self.cases.default_assignee(to)
            try:
                self.cases.store.update(case_id, dict(feature, properties=new),
                                        expected_version=props["version"])
                return True
            except VersionConflict:
                continue  # someone acted on it meanwhile: look again
        log.warning("case %s not moved to %s: it kept changing", case_id, to)
        return False

    def rollback(self, number, author, role, ip=None):
        """Make published generation ``number`` active again; recorded in the audit log.
        Returns ``(old, new)``. Cases keep their grids."""
        old, new = self.store.rollback(number, author)
        self.audit.record(BOUNDARY_ROLLBACK, author, role=role, target=str(new.number), ip=ip,
                          detail={"from": old.number, "to": new.number})
        self.community.refresh()
        return old, new
