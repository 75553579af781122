"""Open311 GeoReport v2 at ``/open311/v2/`` (docs/open311.md), in JSON and XML.

Services are the case categories; a service request is a case. Its public
``service_request_id`` is the case id (random, not enumerable). The tracking
code is the resident's secret (it lets them rate the case), so it is never
listed: a POST answers it once as the ``token``, and ``tokens/{token}`` turns
it into the ``service_request_id``. Output is built from
:meth:`CaseService.public_view`, so a reporter's contact and name cannot leak.
Errors answer as the spec's list of ``{code, description}``: 404 for an
unknown resource, 403 for a missing or wrong ``api_key``, 429 when throttled,
400 for everything else a client got wrong.
"""

import hmac
import logging
import re
import unicodedata
import xml.etree.ElementTree as ET
from datetime import datetime, time, timedelta

from flask import Blueprint, current_app, request, url_for
from werkzeug.exceptions import HTTPException

from gridmap.cases.categories import CODE, check_offered, in_use
from gridmap.cases.intake import CONTACT_RE, DESCRIPTION_MAX
from gridmap.cases.service import DATE_ONLY, TRACKING_ALPHABET, _choices
from gridmap.cases.workflow import OPEN_STATES, STATE_NAMES, STATES
from gridmap.config import HOST
from gridmap.errors import BadCoordinate, BadInput, Forbidden, GridmapError, NotFound
from gridmap.web.access import ANYONE, allow
from gridmap.web.cases_api import limit_by_address, service
from gridmap.web.errors import request_lang
from gridmap.web.i18n import t
from gridmap.web.security import csrf_exempt, no_store

log = logging.getLogger(__name__)

bp = Blueprint("open311", __name__, url_prefix="/open311")
FMT = "<any(json, xml):fmt>"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-28T00:00:00+08:00"
STATUS_STATES = {"open": OPEN_STATES, "closed": tuple(s for s in STATES if s not in OPEN_STATES)}
WINDOW = timedelta(days=90)  # the spec's default and widest date range
MAX_REQUESTS = 1000  # the spec's default query limit
#: a list element's name -> the name of its items, in XML
ITEMS = {"services": "service", "service_requests": "request", "errors": "error",
         "endpoints": "endpoint", "formats": "format", "attributes": "attribute"}
#: characters XML 1.0 cannot carry, even escaped
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?")
CJK_NAME = re.compile(r"[\u3400-\u9fff\uf900-\ufaff·]+")
TOKEN = re.compile(f"[{TRACKING_ALPHABET}]{{5}}-[{TRACKING_ALPHABET}]{{5}}")
REQUEST_ID = re.compile("[0-9a-f]{32}")
#: the field names of CaseService.report -> the Open311 form fields they come from
FORM_FIELDS = {"category": "service_code", "lon": "long", "lat": "lat", "contact": "phone",
               "name": "first_name", "description": "description"}


# -- rendering ------------------------------------------------------------------

def clean(value):
    """``value`` with every string made safe for XML 1.0 (and UTF-8): U+FFFD for the rest."""
    if isinstance(value, str):
        return NOT_XML.sub("\ufffd", value)
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def to_xml(root, value):
    """The spec's XML: ``<root>`` holding ``value`` (lists as repeated item elements)."""
    element = ET.Element(root)
    _fill(element, value)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="unicode")


def _fill(element, value):
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(ET.SubElement(element, key), item)
    elif isinstance(value, list):
        for item in value:
            _fill(ET.SubElement(element, ITEMS[element.tag]), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


def render(fmt, root, data, status=200):
    """``data`` as JSON (bare, as the spec's Spark convention has it) or as XML under ``root``."""
    data = clean(data)
    if fmt == "xml":
        body, content_type = to_xml(root, data), "text/xml; charset=utf-8"
    else:
        body, content_type = current_app.json.dumps(data), "application/json; charset=utf-8"
    return current_app.response_class(body, status, content_type=content_type)


def error_response(status, description):
    """The spec's error list, in the format the path asks for (JSON unless it ends in .xml)."""
    status = status if status in (403, 404, 429) or status >= 500 else (
        403 if status == 401 else 400)
    fmt = "xml" if request.path.endswith(".xml") else "json"
    return render(fmt, "errors", [{"code": status, "description": description}], status)


@bp.errorhandler(GridmapError)
def _gridmap_error(exc):
    if exc.status >= 500:
        log.error("%s: %s", type(exc).__name__, exc)
    response = error_response(exc.status, exc.render(request_lang()))
    if "retry_after_s" in exc.detail:
        response.headers["Retry-After"] = str(exc.detail["retry_after_s"])
    return response


@bp.errorhandler(HTTPException)
def _http_error(exc):
    return error_response(exc.code, f"{exc.name}: {exc.description}")


@bp.errorhandler(Exception)
def _unexpected(exc):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, t("http_500"))


@bp.before_app_request
def _unrouted():
    """Unknown paths and methods under /open311/ answer in the spec's error format too."""
    exc = request.routing_exception
    if exc is not None and request.path.startswith("/open311/") and (exc.code or 0) >= 400:
        return error_response(exc.code, f"{exc.name}: {request.method} {request.path[:200]}")
    return None


# -- mapping --------------------------------------------------------------------

def _hours(value):
    return f"{value:g}"


def service_name(category):
    return f"{category.name} / {category.name_en}" if category.name_en else category.name


def service_notice(category):
    """What happens next, from the category's time limits (both clocks start at the report)."""
    sign, handle = _hours(category.sign_hours), _hours(category.sign_hours + category.handle_hours)
    return (f"{category.name}：{sign} 个工作小时内签收，{handle} 个工作小时内处置 / "
            f"{category.name_en or category.code}: signed for within {sign} and handled within "
            f"{handle} working hours")


def notice_of(code):
    """The service notice of a case's category; None once a hand edit removed it from
    ``categories.json`` (no limits left to tell)."""
    category = service().community.categories.get(code)
    return None if category is None else service_notice(category)


def as_service(category):
    return {"service_code": category.code, "service_name": service_name(category),
            "description": service_notice(category), "metadata": False, "type": "realtime",
            "keywords": ", ".join(filter(None, (category.name, category.name_en))), "group": None}


def as_request(feature):
    """A case as an Open311 service request; built from the public view only."""
    view = service().public_view(feature)
    category = service().community.category(view["category"]["code"])
    zh, en = STATE_NAMES[view["state"]]
    lon, lat = view["location"]
    return {
        "service_request_id": feature["id"],
        "status": "open" if view["state"] in OPEN_STATES else "closed",
        "status_notes": f"{zh} / {en}",
        "service_name": service_name(category),
        "service_code": category.code,
        "description": view["description"],
        "agency_responsible": f"{view['grid']['name']} ({view['grid']['code']})",
        "service_notice": notice_of(category.code),
        "requested_datetime": view["reported_at"],
        "updated_datetime": view["history"][-1]["at"] if view["history"] else view["reported_at"],
        "expected_datetime": view["deadlines"].get("handle"),
        "address": None, "address_id": None, "zipcode": None,
        "lat": lat, "long": lon, "media_url": media_url(feature["id"], view["photos"]),
    }


def media_url(case_id, photos):
    """Where the first photo staff made public is (``photos`` from the public view), or None."""
    if not photos:
        return None
    return public_url(url_for("photo_views.case_photo", case_id=case_id,
                              name=f"{photos[0]['id']}.jpg"))


def get_request(service_request_id=None, token=None):
    """The case named by its service_request_id (case id) or its token (tracking code)."""
    feature = None
    if service_request_id is not None and REQUEST_ID.fullmatch(service_request_id.strip().lower()):
        feature = service().store.get(service_request_id.strip().lower())
    elif token is not None and TOKEN.fullmatch(token.strip().upper()):
        feature = service().store.get_by_tracking(token.strip().upper())
    if feature is None:
        raise NotFound("error.open311.no_such_request",
                       value=repr((service_request_id or token or "")[:40]))
    return feature


# -- reading the client's input ---------------------------------------------------

def _form_text(form, name, max_len, pattern=None):
    """An optional form field, stripped; a 400 naming it if it is too long or malformed."""
    value = (form.get(name) or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not value:
        return None
    if len(value) > max_len:
        raise BadInput("error.intake.too_long", limit=max_len, got=len(value), field=name)
    if NOT_XML.search(value) or any(unicodedata.category(c) == "Cc" and c not in "\n\t"
                                    for c in value):
        raise BadInput("error.open311.control_characters", field=name)
    if pattern is not None and not pattern.fullmatch(value):
        raise BadInput("error.intake.malformed", value=repr(value[:40]), field=name)
    return value


def _coordinate(form, name, limit):
    raw = (form.get(name) or "").strip()
    if not raw:
        raise BadInput("error.missing_field", name=name, field=name)
    if len(raw) > 40 or not DECIMAL.fullmatch(raw):
        raise BadCoordinate("error.open311.not_decimal", value=repr(raw[:40]), field=name)
    value = float(raw)
    if not -limit <= value <= limit:
        raise BadCoordinate("error.open311.out_of_range", limit=limit, value=raw, field=name)
    return value


def _person_name(first, last):
    if first and last:
        return last + first if CJK_NAME.fullmatch(first + last) else f"{first} {last}"
    return first or last


def report_body(form, categories):
    """The Open311 form fields as the body :meth:`CaseService.report` takes.

    ``address_string`` and ``media_url`` are kept by appending them to the
    description; ``email``, ``device_id``, ``account_id``, ``jurisdiction_id``
    and ``attribute[...]`` are accepted and not stored.
    """
    code = (form.get("service_code") or "").strip()
    if not code:
        raise BadInput("error.missing_field", name="service_code", field="service_code")
    if code not in categories:  # a retired one is refused by CaseService.report (unless replayed)
        check_offered(code, categories, "service_code")
    address = _form_text(form, "address_string", 200)
    if not (form.get("lat") or "").strip() and not (form.get("long") or "").strip():
        if address or (form.get("address_id") or "").strip():
            raise BadInput("error.open311.no_geocoding", field="lat")
        raise BadInput("error.open311.missing_lat_long", field="lat")
    lat, lon = _coordinate(form, "lat", 90), _coordinate(form, "long", 180)
    description = _form_text(form, "description", DESCRIPTION_MAX)
    if description is None:
        raise BadInput("error.missing_field", name="description", field="description")
    media_url = _form_text(form, "media_url", 500, re.compile(r"https?://\S+"))
    description = _with_extras(description, address, media_url)
    first, last = _form_text(form, "first_name", 32), _form_text(form, "last_name", 32)
    name = _person_name(first, last)
    if name and len(name) > 32:
        raise BadInput("error.open311.name_too_long", got=len(name), field="first_name")
    return {"lon": lon, "lat": lat, "datum": "wgs84", "category": code,
            "description": description, "contact": _form_text(form, "phone", 20, CONTACT_RE),
            "name": name}


def _with_extras(description, address, media_url):
    """The description with the address and media link appended as lines; a 400 naming
    them all if together they pass the description's limit."""
    alone, extras = len(description), []
    for name, label, extra in (("address_string", "地址 / address", address),
                               ("media_url", "图片 / media", media_url)):
        if extra:
            description += f"\n{label}: {extra}"
            extras.append(name)
    if len(description) > DESCRIPTION_MAX:
        names = " + ".join(["description", *extras])
        raise BadInput("error.open311.description_too_long", names=names, limit=DESCRIPTION_MAX,
                       got=len(description), alone=alone, field="description")
    return description


def api_keys():
    """The keys of ``OPEN311_API_KEYS`` (comma-separated); none: POST needs no key."""
    return [k.strip() for k in current_app.config["OPEN311_API_KEYS"].split(",") if k.strip()]


def check_api_key():
    """With ``OPEN311_API_KEYS`` set, POST needs one of them as ``api_key`` (form or query)."""
    keys = api_keys()
    if not keys:
        return
    sent = (request.form.get("api_key") or request.args.get("api_key") or "").encode(
        "utf-8", "replace")
    if not any(hmac.compare_digest(sent, key.encode("utf-8")) for key in keys):
        raise Forbidden("error.open311.bad_api_key")


def _instant(args, name, tz, upper):
    """``(instant, exclusive_upper_bound)`` from a w3 date or date-time; naive means local."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return None, None
    try:
        if DATE_ONLY.fullmatch(raw):
            value = datetime.combine(datetime.fromisoformat(raw).date(), time(), tz)
            return value, value + timedelta(days=1) if upper else value
        value = datetime.fromisoformat(raw)
        value = value if value.tzinfo else value.replace(tzinfo=tz)
        return value, value + timedelta(microseconds=1) if upper else value
    except (ValueError, OverflowError):
        raise BadInput("error.open311.bad_date", value=repr(raw[:30]), field=name) from None


def request_window(args, now):
    """``(since, until)`` for a GET requests query: 90 days at most, the latest by default."""
    tz = now.tzinfo
    start, since = _instant(args, "start_date", tz, upper=False)
    end, until = _instant(args, "end_date", tz, upper=True)
    try:
        if start is None and end is None:
            return now - WINDOW, None
        if start is None:
            start = since = end - WINDOW
        elif end is None:
            end = until = start + WINDOW
    except OverflowError:
        raise BadInput("error.open311.dates_out_of_range",
                       field="end_date" if start is None else "start_date") from None
    if start > end:
        raise BadInput("error.open311.dates_reversed", field="start_date")
    if end - start > WINDOW:
        raise BadInput("error.open311.dates_too_far_apart", field="end_date")
    return since, until


def _joined(args, *names):
    """Each argument, repeated declarations joined by commas (``status=open&status=closed``)."""
    return {name: ",".join(args.getlist(name)) for name in names}


def endpoint_url():
    """Where clients reach this endpoint (:func:`public_url`)."""
    return public_url(bp.url_prefix + "/v2")


def public_url(path):
    """Where clients reach ``path``, never taken from the client's ``Host`` header:
    under ``PUBLIC_URL``; else, behind trusted proxies (``PROXY_HOPS``), at the nearest
    one's ``X-Forwarded-Host`` (a host name, checked) with its scheme; else a path on
    whatever server the client asked (a relative reference, resolved by the client)."""
    public = current_app.config["PUBLIC_URL"]
    if public:
        return public + path
    if current_app.config["PROXY_HOPS"]:
        host = request.headers.get("X-Forwarded-Host", "").rpartition(",")[2].strip()
        if HOST.fullmatch(host):
            return f"{request.scheme}://{host}{path}"  # scheme: ProxyFix's X-Forwarded-Proto
    return path


# -- views ----------------------------------------------------------------------

@bp.get(f"/v2/discovery.{FMT}")
@bp.get(f"/discovery.{FMT}")
@allow(ANYONE)
def discovery(fmt):
    """Service discovery: 200 (one object, as the discovery spec has it)."""
    keyed = bool(api_keys())
    return render(fmt, "discovery", {
        "changeset": CHANGESET,
        "contact": "社区网格服务站 / the community's grid service office",
        "key_service": ("向管理员申请 api_key / ask the administrator for an api_key" if keyed
                        else "POST requests need no api_key here"),
        "endpoints": [{"specification": SPECIFICATION,
                       "url": endpoint_url(),
                       "changeset": CHANGESET, "type": "production",
                       "formats": ["text/xml", "application/json"]}],
    })


@bp.get(f"/v2/services.{FMT}")
@allow(ANYONE)
def service_list(fmt):
    """The case categories in use as services (not the retired): 200."""
    categories = in_use(service().community.categories).values()
    return render(fmt, "services", [as_service(c) for c in categories])


@bp.get(f"/v2/services/<service_code>.{FMT}")
@allow(ANYONE)
def service_definition(service_code, fmt):
    """A service definition (no extra attributes: ``metadata`` is false): 200; 404 unknown."""
    if service_code not in service().community.categories:
        raise NotFound("error.open311.no_such_service", code=repr(service_code[:20]))
    return render(fmt, "service_definition", {"service_code": service_code, "attributes": []})


@bp.get(f"/v2/requests.{FMT}")
@allow(ANYONE)
def request_list(fmt):
    """Requests, newest first, at most 1000: by ``service_request_id`` (comma list; overrides
    the rest) or by ``service_code``, ``status``, ``start_date``/``end_date`` (90 days at most,
    the latest 90 by default): 200; 400 bad filter."""
    svc = service()
    args = _joined(request.args, "service_request_id", "service_code", "status",
                   "start_date", "end_date")
    ids = [i.strip() for i in args["service_request_id"].split(",") if i.strip()]
    if ids:
        if len(ids) > MAX_REQUESTS:
            raise BadInput("error.open311.too_many_ids", limit=MAX_REQUESTS,
                           field="service_request_id")
        wanted = dict.fromkeys(i.lower() for i in ids if REQUEST_ID.fullmatch(i.lower()))
        features = [f for f in map(service().store.get, wanted) if f is not None]
    else:
        categories = _choices(args, "service_code", svc.community.categories, also=CODE)
        statuses = _choices(args, "status", STATUS_STATES)
        states = statuses and [s for status in statuses for s in STATUS_STATES[status]]
        since, until = request_window(args, svc.clock())
        features, _ = svc.store.query(categories=categories, states=states, since=since,
                                      until=until, limit=MAX_REQUESTS)
    return render(fmt, "service_requests", [as_request(f) for f in features])


@bp.post(f"/v2/requests.{FMT}")
@allow(ANYONE)
@csrf_exempt
@no_store
def create_request(fmt):
    """A service request from the spec's form fields, routed to its grid: 201 with
    ``[{service_request_id, token, service_notice, account_id}]`` (200 for a repeated
    ``Idempotency-Key`` header with the same request; 400 if the key came with another
    request); 400 bad or missing field, or outside the service area;
    403 missing or wrong ``api_key``; 429 too many from one address."""
    limit_by_address("report", current_app.config["REPORT_IP_LIMIT"], 600)
    check_api_key()
    svc = service()
    body = report_body(request.form, svc.community.categories)
    try:
        feature, created, _ = svc.report(body, request.headers.get("Idempotency-Key"))
    except BadInput as exc:
        if exc.field == "category":  # retired since the form was checked: in the spec's terms
            check_offered(body["category"], svc.community.categories, "service_code")
        exc.field = FORM_FIELDS.get(exc.field, exc.field)
        raise
    answer = {"service_request_id": feature["id"],
              "token": feature["properties"]["tracking_code"],
              "service_notice": notice_of(feature["properties"]["category"]), "account_id": None}
    return render(fmt, "service_requests", [answer], 201 if created else 200)


@bp.get(f"/v2/requests/<service_request_id>.{FMT}")
@allow(ANYONE)
def request_detail(service_request_id, fmt):
    """One request by its id (the case id): 200 (a list of one); 404 unknown."""
    return render(fmt, "service_requests", [as_request(get_request(service_request_id))])


@bp.get(f"/v2/tokens/<token>.{FMT}")
@allow(ANYONE)
@no_store
def token(token, fmt):
    """The request a token (the tracking code a POST answered) stands for: 200; 404 unknown."""
    feature = get_request(token=token)
    return render(fmt, "service_requests", [{"service_request_id": feature["id"],
                                             "token": feature["properties"]["tracking_code"]}])
