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
    total = len(selection)
    rows = selection.rows
    descending, field = order.startswith("-"), order.lstrip("-")
    if field == "case_no":  # rows are case_no - 1, ascending already
        ranked = np.arange(total)[::-1] if descending else np.arange(total)
        ranked = ranked[offset:] if limit is None else ranked[offset:offset + limit]
    else:
        key = np.nan_to_num(selection.arrays["reported"], nan=-np.inf)
        tie = rows
        if descending:
            key, tie = -key, -rows
        candidates = np.arange(total)
        wanted = None if limit is None else offset + limit
        if wanted is not None and wanted < total // 4:
            # only the rows up to the wanted-th key (ties included) need sorting
            bound = np.partition(key, wanted - 1)[wanted - 1] if wanted else -np.inf
            candidates = np.flatnonzero(key <= bound)
        ranked = candidates[np.lexsort((tie[candidates], key[candidates]))]
        ranked = ranked[offset:] if wanted is None else ranked[offset:wanted]
    entries = selection.entries[ranked]
    if properties is None:
        return [e.feature() for e in entries], total
    return [e.sparse_feature(properties) for e in entries], total


# -- counts by key -----------------------------------------------------------------------

def utc_offsets(ts, tz):
    """The UTC offset of ``tz`` (seconds) at each POSIX time in ``ts`` (NaN: 0).

    The zone is asked once a day over the span of ``ts``; where the answer
    changes, the change is found to the second by bisection.
    """
    finite = ts[np.isfinite(ts)]
    if not finite.size:
        return np.zeros(len(ts))

    def offset(t):
        return datetime.fromtimestamp(t, tz).utcoffset().total_seconds()

    lo, hi = math.floor(finite.min()), math.ceil(finite.max())
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
    found = np.asarray(offsets)[np.searchsorted(changes, np.nan_to_num(ts), side="right")]
    return np.where(np.isnan(ts), 0.0, found)


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
            dims.append((arrays[key.removesuffix("_code")].astype(np.int64), len(known),
                         known.__getitem__))
            continue
        if day is None:  # local day numbers (days since 1970-01-01 in tz)
            reported = arrays["reported"]
            local = np.nan_to_num(reported + utc_offsets(reported, tz))
            day, missing = np.floor(local / DAY).astype(np.int64), np.isnan(reported)
        raw, label = _time_key(key, day)
        valid = raw[~missing]
        base, span = (int(valid.min()), int(valid.max() - valid.min()) + 1) if valid.size else (0, 0)
        if span <= _RANGE_MAX:  # code = value - base; span: no reported_at
            dims.append((np.where(missing, span, raw - base), span + 1,
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
    col = np.floor(selection.arrays["x"] * (scale / cell)).astype(np.int64) - col0
    row = np.floor(selection.arrays["y"] * (scale / cell)).astype(np.int64) - row0
    # a point on the box's edge may round one cell out: keep it in the box's cells
    np.clip(col, 0, cols - 1, out=col)
    np.clip(row, 0, rows - 1, out=row)
    return col * rows + row, cols * rows


def heat(selection, bbox, zoom, cell_px):
    """``{"cells": [[lat, lon, weight], ...], "total": n, "max": w}``."""
    cell, size = _bins(selection, bbox, zoom, cell_px)
    counts = np.bincount(cell, minlength=size)
    lon = np.bincount(cell, weights=selection.arrays["lon"], minlength=size)
    lat = np.bincount(cell, weights=selection.arrays["lat"], minlength=size)
    used = np.flatnonzero(counts)
    weights = counts[used]
    cells = [[round(float(a), 6), round(float(o), 6), int(w)] for a, o, w in
             zip(lat[used] / weights, lon[used] / weights, weights)]
    return {"cells": cells, "total": len(selection),
            "max": int(weights.max()) if len(weights) else 0}


def clusters(selection, bbox, zoom, cell_px):
    """``{"clusters": [{"lat", "lon", "count", "bbox"[, "id", "case_no"]}, ...], "total": n}``."""
    cell, size = _bins(selection, bbox, zoom, cell_px)
    lon, lat = selection.arrays["lon"], selection.arrays["lat"]
    counts = np.bincount(cell, minlength=size)
    sums = [np.bincount(cell, weights=a, minlength=size) for a in (lon, lat)]
    row_sums = np.bincount(cell, weights=selection.rows, minlength=size)  # a lone case's row
    box = []
    for a in (lon, lat):
        low, high = np.full(size, np.inf), np.full(size, -np.inf)
        np.minimum.at(low, cell, a)
        np.maximum.at(high, cell, a)
        box.append((low, high))
    found = []
    for c in np.flatnonzero(counts):
        count = int(counts[c])
        item = {"lat": round(float(sums[1][c] / count), 6), "lon": round(float(sums[0][c] / count), 6),
                "count": count, "bbox": [float(box[0][0][c]), float(box[1][0][c]),
                                         float(box[0][1][c]), float(box[1][1][c])]}
        if count == 1:
            item["id"], item["case_no"] = selection.identity(int(row_sums[c]))
        found.append(item)
    return {"clusters": found, "total": len(selection)}


# -- figures per grid -----------------------------------------------------------------------

def grid_figures(selection):
    """``{grid_code: {"received", "open", "overdue", "open_overdue", "closed",
    "closed_on_time"}}``; the selection has the codes and ``late_*`` flags."""
    arrays, values = selection.arrays, selection.values
    grids, size = arrays["grid"], len(values["grid"])
    states = values["state"]
    is_open = np.isin(arrays["state"], [c for c, s in enumerate(states) if s in OPEN_STATES])
    closed = np.isin(arrays["state"], [c for c, s in enumerate(states) if s in CLOSED_STATES])
    late = arrays["late_sign"] | arrays["late_handle"] | arrays["late_verify"]
    columns = {"received": None, "open": is_open, "overdue": late, "open_overdue": is_open & late,
               "closed": closed, "closed_on_time": closed & ~arrays["late_handle"]}
    counts = {name: np.bincount(grids, weights=None if m is None else m, minlength=size)
              for name, m in columns.items()}
    return {values["grid"][g]: {name: int(counts[name][g]) for name in columns}
            for g in np.flatnonzero(counts["received"])}
