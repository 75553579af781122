"""The store interface's aggregates, computed on a :class:`~gridmap.store.columns.Selection`.

Each function takes the rows a filter kept (copied out of the columns under
the owner's lock) and runs without any lock: pages of cases, counts by key,
heat cells and clusters on a screen-space grid, figures per grid.
"""

import math
from datetime import date, datetime, timedelta

import numpy as np

from gridmap.cases.workflow import OPEN_STATES
from gridmap.store.base import CLOSED_STATES, MAX_CELLS
from gridmap.store.columns import mercator_px

DAY = 86_400
EPOCH = date(1970, 1, 1)
NO_TIME = np.iinfo(np.int64).min
_BINCOUNT_MAX = 1 << 24  # combinations counted in a dense table; more: np.unique
_RANGE_MAX = 1 << 16  # days (etc.) labelled as a range; more: only those present


# -- pages ---------------------------------------------------------------------------

def page(selection, order, limit, offset, properties=None):
    """One page of the selection in ``order``, as Features; returns (features, total)."""
    rows, total = selection.rows, len(selection)
    stop = None if limit is None else offset + limit
    descending = order.startswith("-")
    if order.endswith("case_no"):  # rows are case_no - 1, ascending already
        ranked = (rows[::-1] if descending else rows)[offset:stop]
    else:
        reported = selection.arrays["reported"]
        key = np.where(np.isnan(reported), -np.inf, reported)  # no reported_at: oldest
        tie = rows
        if descending:
            key, tie = -key, -rows
        if stop is not None and stop < total // 4:
            # only the rows up to the stop-th key (ties included) need sorting
            bound = np.partition(key, stop - 1)[stop - 1] if stop else -np.inf
            near = np.flatnonzero(key <= bound)
            key, tie, rows = key[near], tie[near], rows[near]
        ranked = rows[np.lexsort((tie, key))][offset:stop]
    return selection.features(ranked, properties), total


# -- counts by key -----------------------------------------------------------------------

def utc_offsets(ts, tz):
    """The UTC offset of ``tz`` (seconds) at each POSIX time in ``ts`` (NaN: any).

    The zone is asked once a day over the span of ``ts``; where the answer
    changes, the change is found to the second by bisection.
    """
    lo, hi = np.fmin.reduce(ts, initial=np.inf), np.fmax.reduce(ts, initial=-np.inf)  # NaN-blind
    if not lo <= hi:  # no finite time
        return np.zeros(len(ts))

    def offset(t):
        return datetime.fromtimestamp(t, tz).utcoffset().total_seconds()

    lo, hi = math.floor(lo), math.ceil(hi)
    changes, offsets = [], [offset(lo)]
    previous = lo
    for t in [*range(lo + DAY, hi, DAY), hi]:
        if offset(t) != offsets[-1]:
            a, b = previous, t  # offset(a) is the old one, offset(b) new
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if offset(mid) == offsets[-1] else (a, mid)
            changes.append(b)
            offsets.append(offset(t))
        previous = t
    if not changes:  # one offset all along (most zones, most years)
        return np.full(len(ts), offsets[0])
    return np.asarray(offsets)[np.searchsorted(changes, ts, side="right")]


def _day_label(day):
    return (EPOCH + timedelta(days=int(day))).isoformat()


def _week_label(week):
    thursday = EPOCH + timedelta(days=int(week) * 7)  # week 0 holds Thursday 1970-01-01
    year, number, _ = thursday.isocalendar()
    return f"{year}-W{number:02d}"


def _month_label(month):
    year, month0 = divmod(int(month), 12)
    return f"{1970 + year}-{month0 + 1:02d}"


def _time_key(key, day):
    """``key`` ("day", "week" or "month") of local ``day`` numbers, and its label."""
    if key == "day":
        return day, _day_label
    if key == "week":
        return np.floor_divide(day + 3, 7), _week_label  # Monday-based; 1970-01-01 was a Thursday
    return day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64), _month_label


def _dimensions(selection, by, tz):
    """Per key of ``by``: (codes 0..size-1 of each row, size, label of a code)."""
    arrays, values = selection.arrays, selection.values
    dims, day = [], None
    for key in by:
        if key in ("grid_code", "category", "state"):
            known = values[key.removesuffix("_code")]
            dims.append((arrays[key.removesuffix("_code")], len(known), known.__getitem__))
            continue
        if day is None:  # local day numbers (days since 1970-01-01 in tz)
            reported = arrays["reported"]
            local = reported + utc_offsets(reported, tz)
            missing = np.isnan(reported)
            some_missing = missing.any()
            if some_missing:
                local[missing] = 0.0
            np.divide(local, DAY, out=local)  # exact at midnight, unlike a product
            day = np.floor(local, out=local).astype(np.int64)
        raw, label = _time_key(key, day)
        valid = raw[~missing] if some_missing else raw
        base, span = (int(valid.min()), int(valid.max() - valid.min()) + 1) if valid.size else (0, 0)
        if span <= _RANGE_MAX:  # code = value - base; span: no reported_at
            codes = raw - base
            if some_missing:
                codes[missing] = span
            dims.append((codes, span + 1,
                         lambda c, base=base, span=span, label=label:
                         None if c == span else label(base + c)))
        else:  # a very wide span: number the values present
            present, codes = np.unique(np.where(missing, NO_TIME, raw), return_inverse=True)
            dims.append((codes.astype(np.int64), len(present),
                         lambda c, present=present, label=label:
                         None if present[c] == NO_TIME else label(present[c])))
    return dims


def count_by(selection, by, tz):
    """Rows ``{key: value, ..., "count": n}`` per combination of ``by`` present,
    sorted by the values (None first)."""
    dims = _dimensions(selection, by, tz)
    sizes = [size for _, size, _ in dims]
    if math.prod(sizes) <= _BINCOUNT_MAX:  # count in a dense table
        combined = np.zeros(len(selection), dtype=np.int64)
        for codes, size, _ in dims:
            combined = combined * size + codes
        counts = np.bincount(combined, minlength=math.prod(sizes))
        found = np.flatnonzero(counts)
        counts, parts = counts[found], np.unravel_index(found, sizes)
    else:
        stacked = np.stack([codes for codes, _, _ in dims], axis=1)
        unique, counts = np.unique(stacked, axis=0, return_counts=True)
        parts = unique.T
    columns, ranks = [], []
    for (_, _, label), part in zip(dims, parts):
        present, where = np.unique(part, return_inverse=True)  # label each code once
        labels = [label(int(c)) for c in present]
        order = sorted(range(len(labels)), key=lambda j: (labels[j] is not None, labels[j] or ""))
        rank = np.empty(len(labels), dtype=np.int64)
        rank[order] = np.arange(len(labels))
        columns.append(np.array(labels, dtype=object)[where])
        ranks.append(rank[where])
    ordered = np.lexsort(ranks[::-1])
    columns = [column[ordered].tolist() for column in columns]
    keys = (*by, "count")
    return [dict(zip(keys, row)) for row in zip(*columns, counts[ordered].tolist())]


# -- screen-space bins -----------------------------------------------------------------------

def _bins(selection, bbox, zoom, cell_px):
    """Cell numbers of the selection's rows on the pixel grid of the view, and how
    many cells there are (at most MAX_CELLS: cells double until they fit)."""
    scale = 2.0 ** zoom
    west, south, east, north = bbox
    left, top = mercator_px(west, north)
    right, bottom = mercator_px(east, south)
    cell = float(cell_px)
    while True:
        col0, row0 = math.floor(left * scale / cell), math.floor(top * scale / cell)
        cols = math.floor(right * scale / cell) - col0 + 1
        rows = math.floor(bottom * scale / cell) - row0 + 1
        if cols * rows <= MAX_CELLS:
            break
        cell *= 2
    # pixels are >= 0, so truncating is flooring
    col = (selection.arrays["x"] * (scale / cell)).astype(np.int64)
    col -= col0
    row = (selection.arrays["y"] * (scale / cell)).astype(np.int64)
    row -= row0
    # a point on the box's edge may round one cell out: keep it in the box's cells
    np.clip(col, 0, cols - 1, out=col)
    np.clip(row, 0, rows - 1, out=row)
    col *= rows
    col += row
    return col, cols * rows


def _cells(selection, bbox, zoom, cell_px):
    """The cell of each row, the cells with cases, their counts and their cases'
    mean positions (rounded to 6 places, about 0.1 m)."""
    cell, size = _bins(selection, bbox, zoom, cell_px)
    counts = np.bincount(cell, minlength=size)
    used = np.flatnonzero(counts)
    counts = counts[used]
    lat, lon = ([round(float(v), 6) for v in np.bincount(
        cell, weights=selection.arrays[name], minlength=size)[used] / counts] for name in ("lat", "lon"))
    return cell, used, counts, lat, lon


def heat(selection, bbox, zoom, cell_px):
    """``{"cells": [[lat, lon, weight], ...], "total": n, "max": w}``."""
    _, _, counts, lat, lon = _cells(selection, bbox, zoom, cell_px)
    return {"cells": [list(c) for c in zip(lat, lon, counts.tolist())], "total": len(selection),
            "max": int(counts.max()) if len(counts) else 0}


def clusters(selection, bbox, zoom, cell_px):
    """``{"clusters": [{"lat", "lon", "count", "bbox"[, "id", "case_no"]}, ...], "total": n}``."""
    cell, used, counts, lat, lon = _cells(selection, bbox, zoom, cell_px)
    size = int(cell.max()) + 1 if len(cell) else 0
    row_sums = np.bincount(cell, weights=selection.rows, minlength=size)[used]  # a lone case's row
    box = []  # west, south, east, north of each cell's cases
    for reduce, start in ((np.minimum, np.inf), (np.maximum, -np.inf)):
        for name in ("lon", "lat"):
            edge = np.full(size, start)
            reduce.at(edge, cell, selection.arrays[name])
            box.append(edge[used].tolist())
    found = []
    for i, count in enumerate(counts.tolist()):
        item = {"lat": lat[i], "lon": lon[i], "count": count, "bbox": [edge[i] for edge in box]}
        if count == 1:
            row = int(row_sums[i])
            item["id"], item["case_no"] = selection.features([row], ())[0]["id"], row + 1
        found.append(item)
    return {"clusters": found, "total": len(selection)}


# -- figures per grid -----------------------------------------------------------------------

def grid_figures(selection):
    """``{grid_code: {"received", "open", "overdue", "open_overdue", "closed",
    "closed_on_time"}}``; the selection has the codes and ``late_*`` flags."""
    arrays, values = selection.arrays, selection.values
    kind = np.array([1 if s in OPEN_STATES else 2 if s in CLOSED_STATES else 0
                     for s in values["state"]], dtype=np.int64)  # 0: any other state
    late = arrays["late_sign"] | arrays["late_handle"] | arrays["late_verify"]
    # one count per grid, kind of state, late on any clock and late on handling
    flags = kind[arrays["state"]] * 4 + late * 2 + arrays["late_handle"]
    grids = len(values["grid"])
    counts = np.bincount(arrays["grid"] * 12 + flags, minlength=grids * 12).reshape(grids, 3, 2, 2)
    figures = {"received": counts.sum(axis=(1, 2, 3)), "open": counts[:, 1].sum(axis=(1, 2)),
               "overdue": counts[:, :, 1].sum(axis=(1, 2)), "open_overdue": counts[:, 1, 1].sum(axis=1),
               "closed": counts[:, 2].sum(axis=(1, 2)), "closed_on_time": counts[:, 2, :, 0].sum(axis=1)}
    return {values["grid"][g]: {name: int(column[g]) for name, column in figures.items()}
            for g in np.flatnonzero(figures["received"])}
