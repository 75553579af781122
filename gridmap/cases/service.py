"""The case service: intake, transitions and views, over one store.

Callers (the JSON API, pages, Open311) pass plain values and an
:class:`~gridmap.cases.workflow.Actor`; this module routes, stamps
deadlines, applies the workflow and writes with a version check. It knows
no Flask.
"""

import base64
import hashlib
import json
import logging
import re
import secrets
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from gridmap.cases.categories import CODE, check_offered
from gridmap.cases.intake import check_plain_text, check_report
from gridmap.cases.masking import mask_numbers
from gridmap.cases.photos import add_photos, check_count, set_public, visible_photos
from gridmap.cases.workflow import OPEN_STATES, STATE_NAMES, apply_action
from gridmap.datafolder import LIVE_FILES
from gridmap.errors import BadInput, Conflict, NotFound, OutsideServiceArea
from gridmap.geo.datums import to_wgs84
from gridmap.photos import process
from gridmap.store.base import CLOCKS
from gridmap.store.features import haversine_m
from gridmap.teams import SLOTS

log = logging.getLogger(__name__)

DUPLICATE_RADIUS_M = 50.0
DUPLICATES_SHOWN = 5  # the nearest few; a hot spot must not list (or parse) hundreds
DUPLICATE_PROPERTIES = ("case_no", "state", "reported_at")  # served from the store's index
NEARBY_PROPERTIES = ("case_no", "state", "reported_at", "grid_code", "category")
#: Crockford base32 without I, L, O, U: easy to read out over the phone.
TRACKING_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_TRACKING = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", TRACKING_ALPHABET.encode())
SLOT_TITLES = {slot: (zh, en) for slot, zh, en in SLOTS}
STOPS = {"sign": "sign", "reply": "handle", "close": "verify"}  # action -> the clock it stops
DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: What ``json.dumps(fields, sort_keys=True)`` writes (the idempotency fingerprint's
#: format since the first release: replays must keep matching), built once.
_FINGERPRINT = json.JSONEncoder(sort_keys=True)


def new_ids():
    """A new case id (128 random bits in hex, like ``uuid4().hex``) and tracking code
    (``XXXXX-XXXXX``: 50 random bits, not guessable, easy to read out), from one
    draw of the system's random source."""
    raw = secrets.token_bytes(23)
    return raw[:16].hex(), tracking_code(int.from_bytes(raw[16:]) >> 6)


def tracking_code(bits):
    """The tracking code spelling the 50 bits of ``bits`` (5 bits a character, highest
    first: base32 in C, then its letters swapped for ours)."""
    chars = base64.b32encode((bits << 6).to_bytes(7, "big"))[:10].translate(_TO_TRACKING)
    return f"{chars[:5].decode()}-{chars[5:].decode()}"


class CaseService:
    """Cases of one community.

    Parameters
    ----------
    store : gridmap.store.base.CaseStore
    community : gridmap.datafolder.Community
        Grids, router, teams, categories and the working calendar.
    clock : callable, optional
        Returns the current aware datetime (tests pass a fixed one).
    photos : gridmap.photos.PhotoStore, optional
        Where the photos of reports and replies go (needed only to take photos).
    """

    def __init__(self, store, community, clock=None, photos=None):
        self.store = store
        self.community = community
        self.photos = photos
        tz = ZoneInfo(community.calendar.timezone)
        self.clock = clock or (lambda: datetime.now(tz))

    # -- intake ---------------------------------------------------------------

    def report(self, body, idempotency_key=None, photos=()):
        """Check, route and store a resident's report, with up to 3 photos (the
        uploads' bytes).

        Returns ``(feature, created, duplicates)``; ``created`` is False when
        the idempotency key was seen before with the same report and photos (the
        first case comes back); the same key with a different report is a 409.

        Every upload is checked before anything is stored; the photos are saved
        (durably) once everything else passed, before the case naming them.

        Raises
        ------
        BadInput
            A bad field (400, named); a bad photo is a ``BadPhoto`` (4xx, naming
            ``photos[i]``).
        OutsideServiceArea
            Farther than the tolerance from every grid (422); nothing stored.
        """
        categories = self.community.categories  # one read: an admin may change them meanwhile
        fields = check_report(body, categories)
        check_count(len(photos), "report")
        key = fields.pop("idempotency_key") or idempotency_key
        if key is not None and (not isinstance(key, str) or len(key) > 128):
            raise BadInput("error.cases.long_idempotency_key", field="idempotency_key")
        if key is not None:
            check_plain_text(key, "idempotency_key")
        category = categories[fields["category"]]
        if category.retired and (key is None or self.store.get_by_key(key) is None):
            check_offered(category.code, categories)  # a 400: only a replay may name it now
        bounds = self.community.boundaries  # one generation for the route and its record
        route = bounds.router.route_point(fields["lon"], fields["lat"], fields["datum"])
        if route.grid is None:
            raise OutsideServiceArea(
                "error.cases.outside_service_area", distance=round(route.distance_m),
                grid={"zh": f"{route.nearest.name}（{route.nearest.code}）",
                      "en": route.nearest.code},
                detail={"nearest": {"code": route.nearest.code, "name": route.nearest.name},
                        "distance_m": round(route.distance_m, 1), **(
                            {"hint": route.hint} if route.hint else {})})
        processed = self._process(photos)  # decoding is the costly check: after the cheap ones
        # photo ids are content hashes: the same photos again are the same report
        signed = dict(fields, photos=[p.id for p in processed]) if processed else fields
        fingerprint = key and hashlib.sha256(_FINGERPRINT.encode(signed).encode()).hexdigest()
        feature = self.new_case(fields, category, route, bounds.number, self.clock(), *new_ids())
        props, (lon, lat) = feature["properties"], feature["geometry"]["coordinates"]
        if key:
            props["idempotency_fingerprint"] = fingerprint
        if processed:  # durable before the case that names them
            props["photos"] = add_photos(None, self.photos.save(processed), "report")
        feature, created = self.store.create(feature, idempotency_key=key)
        if not created and feature["properties"].get("idempotency_fingerprint") != fingerprint:
            # a key only replays the report it was made for: knowing someone's key
            # must not hand over their tracking code
            raise Conflict("error.cases.idempotency_key_reused", field="idempotency_key")
        duplicates = [f for f in self.store.near(lon, lat, DUPLICATE_RADIUS_M,
                                                 categories=[category.code], states=OPEN_STATES,
                                                 limit=DUPLICATES_SHOWN + 1,
                                                 properties=DUPLICATE_PROPERTIES)
                      if f["id"] != feature["id"]][:DUPLICATES_SHOWN]
        return feature, created, duplicates

    def new_case(self, fields, category, route, generation, now, case_id, tracking):
        """The Feature of a new report, not stored: ``fields`` as :func:`check_report`
        returns them, routed to ``route``'s grid under grid generation ``generation``,
        reported at ``now``, with the calendar's deadlines, the grid's default assignee
        and the first event."""
        lon, lat = to_wgs84(fields["lon"], fields["lat"], fields["datum"])
        lon, lat = round(lon, 7), round(lat, 7)
        at = now.isoformat(timespec="seconds")
        deadlines = self.community.calendar.deadlines(now, category)
        props = {
            "case_id": case_id, "tracking_code": tracking,
            "grid_code": route.code, "generation": generation, "routing": route.status,
            "routing_distance_m": round(route.distance_m, 2),
            "category": category.code, "description": fields["description"],
            "reporter": {"contact": fields["contact"], "name": fields["name"],
                         "hide_name": fields["hide_name"]},
            "input": {"datum": fields["datum"], "lon": fields["lon"], "lat": fields["lat"]},
            "state": "reported", "reported_at": at,
            "deadlines": {"sign": deadlines["sign"].isoformat(timespec="seconds"),
                          "handle": deadlines["handle"].isoformat(timespec="seconds")},
            "assignee": self.default_assignee(route.code),
            "handlers": [], "history": [{
                "at": at, "action": "report", "actor": None, "role": "resident", "note": None,
                "from": None, "to": "reported", "grid_code": route.code}],
        }
        return {"type": "Feature", "id": case_id,
                "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}

    def nearby(self, feature, radius_m, visible, shown=5, scanned=200):
        """The latest ``shown`` other cases of ``feature``'s category within ``radius_m``
        that ``visible(case)`` allows, newest first, as ``(case, metres away)``; the
        nearest ``scanned`` are looked at (a hot spot holds hundreds)."""
        lon, lat = feature["geometry"]["coordinates"][:2]
        found = [f for f in self.store.near(lon, lat, radius_m,
                                            categories=[feature["properties"]["category"]],
                                            limit=scanned, properties=NEARBY_PROPERTIES)
                 if f["id"] != feature["id"] and visible(f)]
        found.sort(key=lambda f: datetime.fromisoformat(f["properties"]["reported_at"]),
                   reverse=True)
        return [(f, haversine_m(lon, lat, *f["geometry"]["coordinates"][:2]))
                for f in found[:shown]]

    def _process(self, photos):
        """Each upload checked, decoded and re-encoded (nothing stored yet)."""
        return [process(data, f"photos[{i}]") for i, data in enumerate(photos)]

    def default_assignee(self, grid_code):
        """The grid's full-time worker handles its cases; the head while that slot is vacant."""
        team = self.community.teams[grid_code]
        member = team.full_time or team.head
        return member.person_id if member else None

    # -- reading --------------------------------------------------------------

    def get(self, case_id):
        feature = self.store.get(case_id) if isinstance(case_id, str) else None
        if feature is None:
            raise NotFound("error.cases.no_such_case", case=str(case_id)[:64])
        return feature

    def by_tracking(self, code):
        feature = self.store.get_by_tracking(code.strip().upper()) if isinstance(code, str) else None
        if feature is None:
            raise NotFound("error.cases.no_such_tracking_code")
        return feature

    def queue(self, grid_codes, args):
        """The cases of ``grid_codes`` (a list; None: every grid) filtered by query
        arguments (strings, as from a URL).

        ``state``, ``category`` (comma-separated), ``overdue`` (sign, handle,
        verify or any), ``since`` / ``until`` (ISO 8601 dates or times; a date as
        ``until`` includes that day),
        ``page`` (from 1), ``per_page`` (1–200). Returns
        ``(features, total, page, per_page)``; a bad value is a 400 naming it.
        """
        states = _choices(args, "state", STATE_NAMES)
        categories = _choices(args, "category", self.community.categories, also=CODE)
        overdue = args.get("overdue") or None
        if overdue not in (None, "sign", "handle", "verify", "any"):
            raise BadInput("error.cases.bad_overdue", value=repr(overdue[:20]), field="overdue")
        since, until = (_when(args, name, self.clock().tzinfo) for name in ("since", "until"))
        page, per_page = _int(args, "page", 1, 1, 100_000), _int(args, "per_page", 50, 1, 200)
        now = self.clock()

        def is_overdue(feature):
            flags = self.overdue(feature["properties"], now)
            return any(flags.values()) if overdue == "any" else flags[overdue]

        items, total = self.store.query(
            grid_codes=grid_codes, states=states, categories=categories, since=since,
            until=until, predicate=is_overdue if overdue else None,
            limit=per_page, offset=(page - 1) * per_page)
        return items, total, page, per_page

    # -- transitions ----------------------------------------------------------

    def act(self, case_id, action, actor, note=None, photos=(), **params):
        """Apply ``action`` as ``actor`` and store it (409 if someone else got there first).

        A ``reply`` may carry up to 3 photos (the uploads' bytes, taken after the
        work): checked first, saved once the action passed, before the case."""
        if photos and action != "reply":
            raise BadInput("error.cases.photos_only_on_reply", field="photos")
        check_count(len(photos), "reply")
        feature, props = self._acted(case_id, action, actor, note, params)
        processed = self._process(photos)  # decoding is the costly check: after the rules
        if processed:  # durable before the case that names them
            props["photos"] = add_photos(props.get("photos"), self.photos.save(processed), "reply")
        new = dict(feature, properties=props)
        return self.store.update(case_id, new, expected_version=feature["properties"]["version"])

    def check_act(self, case_id, action, actor, note=None, **params):
        """Raise what :meth:`act` would raise for these arguments, storing nothing
        (a page's confirmation step checks first)."""
        self._acted(case_id, action, actor, note, params)

    def _acted(self, case_id, action, actor, note, params):
        """``(feature, new_properties)``: the case and its properties after ``action``."""
        feature = self.get(case_id)
        return feature, self.transition(feature["properties"], action, actor, self.clock(), note,
                                        **params)

    def transition(self, props, action, actor, now, note=None, **params):
        """A case's properties after ``action`` by ``actor`` at ``now``, not stored: the
        workflow's rules (raising as :meth:`act` does) and the calendar's deadlines."""
        if action == "forward":
            self._check_forward(props["grid_code"], **params)
        props = apply_action(props, action, actor, now, note=note, **params)
        category = self.community.categories.get(props["category"])
        if category is None and action in ("forward", "reply", "reopen"):  # need its limits
            raise Conflict("error.cases.category_removed", code=props["category"])
        if action == "forward":
            # the receiving grid gets a fresh sign-for clock; handling keeps its deadline
            props["deadlines"]["sign"] = self.community.calendar.add_working_hours(
                now, category.sign_hours).isoformat(timespec="seconds")
            if "to_person" not in params:
                props["assignee"] = self.default_assignee(props["grid_code"])
        elif action == "reply":
            props["deadlines"]["verify"] = self.community.calendar.verify_deadline(
                now, category).isoformat(timespec="seconds")
        elif action == "reopen":  # the rework gets the category's handling time from now
            props["deadlines"].pop("verify", None)
            props["deadlines"]["handle"] = self.community.calendar.add_working_hours(
                now, category.handle_hours).isoformat(timespec="seconds")
        return props

    def set_photo_public(self, case_id, photo_id, public):
        """Show a photo of the case to everyone (``public``), or to its reporter and
        staff only again; returns the stored case (404 no such photo, 409 a race)."""
        feature = self.get(case_id)
        props = dict(feature["properties"],
                     photos=set_public(feature["properties"].get("photos"), photo_id, public))
        return self.store.update(case_id, dict(feature, properties=props),
                                 expected_version=feature["properties"]["version"])

    def _check_forward(self, grid_code, to_grid=None, to_person=None, **_):
        """A 400 unless ``to_grid`` is a grid and ``to_person`` a member of the team of
        the grid the case goes to."""
        if to_grid is not None and not (isinstance(to_grid, str) and to_grid in self.community.grids):
            shown = repr(to_grid)[:30]
            raise BadInput("error.cases.unknown_grid", grid=shown, field="to_grid")
        if to_person is None:
            return
        team = self.community.teams.get(to_grid or grid_code)
        members = [] if team is None else [m.person_id for _, _, _, m in team.slots() if m] + [
            h.person_id for h in team.helpers]
        if not (isinstance(to_person, str) and to_person in members):
            raise BadInput("error.cases.bad_person" if members else "error.cases.bad_person_no_team",
                           grid=to_grid or grid_code, value=repr(to_person)[:30], allowed=members,
                           field="to_person")

    # -- views ----------------------------------------------------------------

    def _current_round(self, props):
        """:func:`current_round` in this community."""
        return current_round(props, self.community)

    def overdue(self, props, now=None):
        """``{"sign": bool, "handle": bool, "verify": bool}`` at ``now``."""
        return self._late(self._current_round(props), now)

    def _late(self, props, now=None):
        """:meth:`overdue` of props already in their current round."""
        now = now or self.clock()
        deadlines, done = props["deadlines"], clock_stops(props)

        def late(name):
            deadline = deadlines.get(name)
            if deadline is None or props["state"] == "cancelled":
                return False
            end = datetime.fromisoformat(done[name]) if done[name] else now
            return end > datetime.fromisoformat(deadline)

        return {"sign": late("sign"), "handle": late("handle"), "verify": late("verify")}

    def public_view(self, feature, all_photos=False):
        """What anyone with the tracking code may see (and Open311, anyone): no contact, no
        staff names, and the description with phone and ID numbers masked. ``photos``:
        all of them for the reporter (``all_photos``), else those staff made public."""
        props = self._current_round(feature["properties"])
        grid = self.community.grid(props["grid_code"])
        category = self.community.category(props["category"])
        return {
            "tracking_code": props["tracking_code"], "state": props["state"],
            "state_name": STATE_NAMES[props["state"]][0],
            "category": {"code": category.code, "name": category.name, "name_en": category.name_en},
            "description": mask_numbers(props["description"]),
            "grid": {"code": grid.code, "name": grid.name},
            "handled_by": self.handler_role(props),
            "reported_at": props["reported_at"], "deadlines": props["deadlines"],
            "reply": props.get("reply"), "rating": props.get("rating"),
            "history": [{"at": e["at"], "action": e["action"], "role": e["role"],
                         **({"note": e["note"]} if e["action"] in ("reply", "rate") else {})}
                        for e in props["history"]],
            "location": feature["geometry"]["coordinates"],
            "photos": visible_photos(props.get("photos"), all_photos),
        }

    def staff_view(self, feature, may_see_contact):
        """The whole case for staff; the reporter block only if ``may_see_contact``, and
        without the name when the resident asked not to show it."""
        props = dict(self._current_round(feature["properties"]))
        props.pop("idempotency_fingerprint", None)
        reporter = props.pop("reporter", None)
        if may_see_contact and reporter:
            props["reporter"] = dict(reporter, name=None if reporter["hide_name"]
                                     else reporter["name"])
        props["overdue"] = self._late(props)
        props["location"] = feature["geometry"]["coordinates"]
        return props

    def handler_role(self, props):
        """The team role (not the name) of the case's assignee, for public answers."""
        team = self.community.teams.get(props["grid_code"])
        if team is None:
            return None
        assignee = props.get("assignee")
        for slot, (title, title_en) in SLOT_TITLES.items():
            member = getattr(team, slot)
            if member is not None and member.person_id == assignee:
                return {"role": slot, "title": title, "title_en": title_en}
        return None


def current_round(props, community):
    """``props`` as shown and judged: a case reopened before reopens began a new round
    (they now clear the last round's reply and rating, and give handling the
    category's hours from the reopen) gets the same treatment here, on the fly."""
    history = props.get("history", ())
    last = next((i for i in range(len(history) - 1, -1, -1)
                 if history[i]["action"] == "reopen"), None)
    if last is None:
        return props
    reopened = datetime.fromisoformat(history[last]["at"])
    since = {e["action"] for e in history[last + 1:]}
    stale = [k for k, by in (("reply", "reply"), ("rating", "rate"), ("rating_comment", "rate"))
             if k in props and by not in since]
    handle = props["deadlines"].get("handle")
    category = community.categories.get(props["category"])
    late_start = handle is not None and category is not None and (
        datetime.fromisoformat(handle) < reopened)
    if not (stale or late_start):
        return props
    props = {k: v for k, v in props.items() if k not in stale}
    if late_start:
        props["deadlines"] = dict(props["deadlines"], handle=community.calendar.
                                  add_working_hours(reopened, category.handle_hours).
                                  isoformat(timespec="seconds"))
    return props


def clock_stops(props):
    """When each clock stopped (ISO text, or None while it runs): its first stopping
    event since the last event that restarted it (a forward restarts sign-for; a
    reopen handling and verification)."""
    done = {"sign": None, "handle": None, "verify": None}
    for event in props.get("history", ()):
        action = event["action"]
        if action == "forward":
            done["sign"] = None
        elif action == "reopen":
            done["handle"] = done["verify"] = None
        else:
            clock = STOPS.get(action)
            if clock is not None and done[clock] is None:
                done[clock] = event["at"]
    return done


def clock_columns(community):
    """The case store's clock extractor for ``community``
    (:data:`gridmap.store.base.CLOCK_COLUMNS`): each clock's deadline and stop
    in the case's current round, as POSIX seconds or None. The store judges
    lateness from them as :meth:`CaseService.overdue` does."""
    def clocks(props):
        props = current_round(props, community)
        deadlines, done = props.get("deadlines") or {}, clock_stops(props)
        return tuple(None if at is None else datetime.fromisoformat(at).timestamp()
                     for name in CLOCKS for at in (deadlines.get(name), done[name]))

    def fingerprint():
        # the rules clocks depend on besides the case: a store's persisted clock
        # columns made under other ones are not trusted (gridmap.store.snapindex)
        digest = hashlib.blake2b(b"clock_columns/1", digest_size=12)
        for name in LIVE_FILES.values():
            path = community.data_dir / name
            digest.update(path.read_bytes() if path.exists() else b"-")
        return digest.hexdigest()

    clocks.fingerprint = fingerprint
    return clocks


def _choices(args, name, allowed, also=None):
    """The comma-separated values of ``name``, each in ``allowed`` or matching the
    pattern ``also``; None if not given. A bad value is a 400 naming it."""
    raw = args.get(name)
    if not raw:
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed and not (also and also.fullmatch(v))]
    if bad:
        raise BadInput("error.cases.bad_choice", value=repr(bad[0][:20]), allowed=list(allowed),
                       field=name)
    return values


def _when(args, name, tz):
    raw = args.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
        if name == "until" and DATE_ONLY.fullmatch(raw):
            if value.date() == date.max:
                return None  # up to the end of time: no bound
            value += timedelta(days=1)  # a date as the end of a range includes that day
    except ValueError:
        raise BadInput("error.cases.bad_time", value=repr(raw[:30]), field=name) from None
    return value if value.tzinfo else value.replace(tzinfo=tz)


def _int(args, name, default, low, high):
    raw = args.get(name)
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise BadInput("error.cases.bad_integer", low=low, high=high, value=repr(raw[:20]), field=name)
    return int(raw)
