"""What a boundary change does to the cases, before it is made.

:func:`impact` compares two sets of grids over the cases' places: every case
is routed by both with :meth:`Router.route_points` (the raster index, no
shapely call per case), and the answers are counted with numpy. It serves
``gridmap grids diff``, the planning API's preview and the editor.
"""

import numpy as np
import pandas as pd
import shapely

from gridmap.geo.metric import metric_crs_for, to_metric

#: A grid whose expected workload is this share above or below the mean is marked.
WORKLOAD_SHARE = 0.5
#: At most this many moving cases are listed one by one (all are counted).
MOVES_LISTED = 10_000


def area_changes(old, new):
    """``{code: {"old_m2", "new_m2", "change_pct"}}`` over the codes of both grid sets.

    ``change_pct`` is None for a grid only in ``new``, -100 for one only in ``old``.
    """
    geoms = np.concatenate([old.geometries, new.geometries])
    areas = shapely.area(to_metric(geoms, metric_crs_for(geoms)))
    before = dict(zip(old.codes, areas[:len(old)]))
    after = dict(zip(new.codes, areas[len(old):]))
    found = {}
    for code in sorted(set(before) | set(after)):
        a, b = before.get(code), after.get(code)
        pct = None if a is None else -100.0 if b is None else 100.0 * (b - a) / a
        found[code] = {"old_m2": None if a is None else round(float(a), 1),
                       "new_m2": None if b is None else round(float(b), 1),
                       "change_pct": None if pct is None else round(float(pct), 3)}
    return found


def impact(old_router, new_router, points, open_states, current=True,
           workload_share=WORKLOAD_SHARE, listed=MOVES_LISTED):
    """The effect on the cases of going from ``old_router``'s grids to ``new_router``'s.

    Parameters
    ----------
    old_router, new_router : Router
    points : gridmap.store.base.CasePoints
        Every case's id, number, place, grid and state.
    open_states : iterable of str
        The states of an open case.
    current : bool
        Moves compare a case's recorded grid with the new answer (a publish);
        False compares the two routings (any two generations).
    workload_share : float
        Grids whose expected workload (open cases routed to them) differs from
        the mean by more than this share are marked ``marked``.
    listed : int
        Most moving open cases to list.

    Returns
    -------
    dict
        ``transitions``: ``[{"from", "to", "all", "open"}]`` for every pair
        of old and new grid holding cases (``None``: outside every grid);
        ``moves``: the open cases that would change grid (``case_id``,
        ``case_no``, ``from``, ``to``, ``lon``, ``lat``), ``moves_total``;
        ``areas``: :func:`area_changes`; ``workload``: per new grid its open
        and all cases, ratio to the mean and whether it is marked;
        ``cases`` and ``open`` totals.
    """
    old = old_router.route_points(points.lon, points.lat)
    new = new_router.route_points(points.lon, points.lat)
    # strings to numbers by hashing (pandas), not by sorting a million objects
    is_open = pd.Index(list(open_states)).get_indexer(points.state) >= 0
    old_codes = np.array(list(old_router.grids.codes) + [None], dtype=object)
    new_codes = np.array(list(new_router.grids.codes) + [None], dtype=object)
    n_old, n_new = len(old_codes), len(new_codes)
    a = np.where(old.grid_index < 0, n_old - 1, old.grid_index)
    b = np.where(new.grid_index < 0, n_new - 1, new.grid_index)
    pair = a.astype(np.int64) * n_new + b
    counts = np.bincount(pair, minlength=n_old * n_new)
    opens = np.bincount(pair, weights=is_open, minlength=n_old * n_new)
    transitions = [{"from": old_codes[k // n_new], "to": new_codes[k % n_new],
                    "all": int(counts[k]), "open": int(opens[k])}
                   for k in np.flatnonzero(counts)]

    new_index = pd.Index(new_codes[:-1])
    if current:  # the grid each case is in now, as a rank among the new grids (-1: none)
        before = new_index.get_indexer(points.grid_code)
    else:
        before = np.append(new_index.get_indexer(old_codes[:-1]), -1)[a]
    moving = np.flatnonzero(is_open & (new.grid_index >= 0) & (new.grid_index != before))
    shown = moving[:listed]
    was = points.grid_code[shown] if current else old_codes[a[shown]]
    moves = [{"case_id": points.ids[i], "case_no": int(points.case_no[i]), "from": w,
              "to": new_codes[b[i]], "lon": float(points.lon[i]), "lat": float(points.lat[i])}
             for i, w in zip(shown, was)]

    valid = new.grid_index >= 0
    per_grid_all = np.bincount(new.grid_index[valid], minlength=n_new - 1)
    per_grid_open = np.bincount(new.grid_index[valid], weights=is_open[valid],
                                minlength=n_new - 1)
    mean = per_grid_open.mean() if n_new > 1 else 0.0
    workload = []
    for k, code in enumerate(new_codes[:-1]):
        ratio = float(per_grid_open[k] / mean) if mean else None
        workload.append({"code": code, "open": int(per_grid_open[k]),
                         "all": int(per_grid_all[k]),
                         "ratio": None if ratio is None else round(ratio, 3),
                         "marked": ratio is not None and abs(ratio - 1) > workload_share})
    return {"cases": int(len(points.ids)), "open": int(is_open.sum()),
            "transitions": transitions, "moves": moves, "moves_total": int(len(moving)),
            "areas": area_changes(old_router.grids, new_router.grids),
            "workload": workload, "workload_mean": round(float(mean), 3),
            "workload_share": workload_share}
