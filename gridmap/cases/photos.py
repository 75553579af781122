"""A case's photos as case data: which photos, from which stage, shown to whom.

The files live in :class:`gridmap.photos.PhotoStore`; a case keeps a list of
entries in ``properties["photos"]``, in the order they were added::

    {"id": "3fa4…c2", "stage": "report", "public": false, "width": 2048, "height": 1536}

``stage`` is ``report`` (the resident's, with the report) or ``reply``
(staff's, after the work). Every photo starts private. The visibility rule:
the reporter (holding the tracking code) and staff who may see the case see
all of them; everyone else (Open311, the public view of a case) sees only
those staff marked ``public``. The web layer decides who is who; this module
only applies the answer. Pure functions: they return new lists, no storage.
"""

from gridmap.errors import BadInput, NotFound

STAGES = ("report", "reply")
MAX_PHOTOS = {"report": 3, "reply": 3}  #: photos one report, or one reply, may carry


def check_count(count, stage):
    """Refuse more photos than one ``stage`` may carry (400, field ``photos``)."""
    if stage not in STAGES:
        raise ValueError(f"unknown photo stage {stage!r}")
    limit = MAX_PHOTOS[stage]
    if count > limit:
        raise BadInput("error.photos.too_many", limit=limit, count=count, field="photos", detail={"limit": limit, "count": count})


def add_photos(entries, refs, stage):
    """``entries`` (a case's list, or None) with ``refs`` (:class:`~gridmap.photos.PhotoRef`)
    added as private photos of ``stage``. A photo the case already has keeps its entry."""
    check_count(len(refs), stage)
    out = [dict(e) for e in entries or ()]
    seen = {e["id"] for e in out}
    for ref in refs:
        if ref.id not in seen:
            seen.add(ref.id)
            out.append({"id": ref.id, "stage": stage, "public": False,
                        "width": ref.width, "height": ref.height})
    return out


def set_public(entries, photo_id, public):
    """``entries`` with photo ``photo_id`` made public (or private again).

    Raises
    ------
    NotFound
        The case has no such photo (404).
    BadInput
        ``public`` is not a boolean.
    """
    if not isinstance(public, bool):
        raise BadInput("error.photos.bad_public", value=repr(public)[:40], field="public")
    if not any(e["id"] == photo_id for e in entries or ()):
        raise NotFound("error.photos.not_in_case", photo=str(photo_id)[:80], field="photo")
    return [dict(e, public=public) if e["id"] == photo_id else dict(e) for e in entries]


def visible_photos(entries, sees_all):
    """The entries a viewer may see: all for the reporter and the case's staff
    (``sees_all``), only the public ones for everyone else."""
    return [dict(e) for e in entries or () if sees_all or e["public"]]


def may_see_photo(entries, photo_id, sees_all):
    """True if the case has photo ``photo_id`` and the viewer may see it."""
    return any(e["id"] == photo_id for e in visible_photos(entries, sees_all))


def referenced_ids(features):
    """The ids of every photo the given cases name (for :meth:`PhotoStore.sweep`)."""
    return {e["id"] for f in features for e in f["properties"].get("photos") or ()}
