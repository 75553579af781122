"""Malformed requests to the resident endpoints, through Flask: never a 5xx,
every refusal a JSON ``{"error", "message"}``, and never a stored change.

POST /api/reports gets fuzzed field values and types, unknown fields,
duplicate keys, NaN/Infinity tokens, invalid UTF-8, broken JSON, wrong
content types and bodies over the size limit (413); GET /api/track/<code>
gets fuzzed codes; POST /api/track/<code>/rating fuzzed ratings on a closed
case. After every request the store is read back from disk by a fresh
reader: a refusal must leave every byte, count and version as it was; a 201
adds exactly one case (version 1) holding what was sent.

Inputs that ever got a 500 have a regression test of their own at the end.
"""

import json
import math
import unicodedata
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from gridmap.cases.intake import DESCRIPTION_MAX, FIELDS
from gridmap.cases.workflow import Actor
from gridmap.config import ROOT
from gridmap.store.geojsonseq import GeoJSONSeqStore
from gridmap.web import create_app


MAX_BODY = 256 * 1024
CATEGORY_CODES = [c["code"] for c in json.loads(
    (ROOT / "geodata" / "categories.json").read_text(encoding="utf-8"))["categories"]]
JSON_TYPES = ["application/json", "application/json; charset=utf-8", "Application/JSON"]
OTHER_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
               "application/xml", "application/geo+json", "text/json", ""]
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.data_too_large])

# -- values ------------------------------------------------------------------------

SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\udc80b", "\ud83d", "\ude00x"])
# a surrogate encoded as UTF-8 is invalid UTF-8, but json.loads(bytes) decodes it
SURROGATE_BYTES = [b"\xed\xa0\x80", b"\xed\xbf\xbf"]
NASTY = st.sampled_from([
    "", " ", "\t", "]]>", "<", "&", "<b>&amp;</b>", "<![CDATA[x]]>", "<script>alert(1)</script>",
    "\x00", "\x01", "\x1e", "\x1f", "\x7f", "\x85", "\u2028", "\u202e", "\ufeff", "\ufffe",
    "\uffff", "😀", "x" * 5000, "井" * (DESCRIPTION_MAX + 1), " " * 5000, "a\r\nb", "%00", "&#0;",
    "nan", "NaN", "Infinity", "-Infinity", "1e999", "108.8", "29.5", "true", "null", "06", "99",
    "wgs84", "GCJ-02", "baidu", "mars ", "138 0000 0000", "+86 (23) 555-0100", "１２３"])
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-200, max_value=200),
    st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324, 180, 180.0000001, -90, 90.5, 2**63, 10**300]))
HUGE_INTEGERS = st.sampled_from([10**309, -(10**400), 10**4000])


def scalars():
    return st.one_of(st.none(), st.booleans(), NUMBERS, TEXT, NASTY, SURROGATES, HUGE_INTEGERS)


VALUES = st.recursive(scalars(), lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6)
# a huge integer where a coordinate goes is an open defect (OverflowError)
COORDINATES = st.recursive(
    scalars(),
    lambda inner: st.lists(inner, max_size=2), max_leaves=3)
FIELD_NAMES = st.one_of(st.sampled_from(sorted(FIELDS)), st.sampled_from(
    ["Lon", "latitude", "long", "lng", "__proto__", "constructor", "description ", ""]),
    TEXT, SURROGATES)


#: values a field may well take, mixed into the fuzz so that many reports still pass
PLAUSIBLE = {
    "lon": st.floats(108.78, 108.82), "lat": st.floats(29.505, 29.54),
    "datum": st.sampled_from(["wgs84", "WGS-84", "gps", "cgcs2000", "gcj02", "mars", "bd09"]),
    "category": st.sampled_from(CATEGORY_CODES),
    "description": st.text(min_size=1, max_size=60).filter(str.strip),
    "contact": st.sampled_from(["13800000000", "+86 (23) 555-0100", "023-8888 8888"]),
    "name": st.text(max_size=32), "hide_name": st.booleans(),
    "idempotency_key": st.text(min_size=1, max_size=128)}


def value_for(name):
    anything = COORDINATES if name in ("lon", "lat") else VALUES
    return st.one_of(PLAUSIBLE[name], anything) if name in PLAUSIBLE else anything


# -- the store, read back from disk ----------------------------------------------------

def case_folder(app):
    return app.extensions["gridmap.cases"].store.folder


def stored(app):
    """``({case_id: feature}, bytes on disk)``, read by a fresh store, not the app's memory."""
    folder = case_folder(app)
    size = sum(p.stat().st_size for p in folder.glob("cases*.geojson*"))
    with GeoJSONSeqStore(folder, compact_bytes=None) as store:
        return {f["id"]: f for f in store.all()}, size


def versions(cases):
    return {i: f["properties"]["version"] for i, f in cases.items()}


def check_answer(r):
    """No 5xx; every 4xx is JSON naming the error. Returns the JSON body."""
    assert r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:500])
    body = r.get_json(silent=True)
    if r.status_code >= 400:
        assert r.mimetype == "application/json", (r.status_code, r.mimetype)
        assert isinstance(body, dict), r.get_data()[:300]
        assert isinstance(body.get("error"), str) and body["error"], body
        assert isinstance(body.get("message"), str) and body["message"], body
    return body


def check_effect(app, before, r, answer):
    """A refusal (and a repeated key) changes nothing; a 201 adds exactly one case.
    Returns the new case (or None)."""
    after = stored(app)
    app.extensions["gridmap.cases"].store.refresh()
    assert app.extensions["gridmap.cases"].store.count() == len(after[0])
    if r.status_code != 201:
        assert versions(after[0]) == versions(before[0]), r.status_code
        assert after[1] == before[1], f"{r.status_code} but the files changed"
        return None
    new = set(after[0]) - set(before[0])
    assert new == {answer["case_id"]}, (new, answer)
    assert versions({i: f for i, f in after[0].items() if i in before[0]}) == versions(before[0])
    case = after[0][answer["case_id"]]
    assert case["properties"]["version"] == 1
    assert case["properties"]["tracking_code"] == answer["tracking_code"]
    return case


def app_for(tmp_path):
    return create_app({"DATA_DIR": str(tmp_path / "data"), "REPORT_IP_LIMIT": 1_000_000})


def inside_points(app):
    return [(g.geometry.representative_point().x, g.geometry.representative_point().y)
            for g in app.extensions["gridmap"].grids]


def report_points(app):
    """A point inside each grid, and two far outside (a 422)."""
    return inside_points(app) + [(108.70, 29.40), (108.80, 29.56)]


def must_refuse(body):
    """Why ``body`` is plainly against the rules (a 400 is due), or None."""
    if not isinstance(body, dict):
        return "not an object"
    if set(body) - FIELDS:
        return "unknown field"
    if not isinstance(body.get("category"), str) or body["category"] not in CATEGORY_CODES:
        return "category"
    for name in ("lon", "lat"):
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not math.isfinite(value)):
            return name
    description = body.get("description")
    if not isinstance(description, str) or not description.strip() or len(
            description.strip()) > DESCRIPTION_MAX or any(
            unicodedata.category(c) == "Cc" and c not in "\n\t" for c in description.strip()):
        return "description"
    for name in ("contact", "name", "idempotency_key"):
        if body.get(name) is not None and not isinstance(body[name], str):
            return name
    if "hide_name" in body and not isinstance(body["hide_name"], bool):
        return "hide_name"
    return None


def encode(pairs, style):
    """JSON text of ``pairs`` (a list: duplicate keys stay), as bytes.

    ``ascii``: \\uXXXX escapes (lone surrogates as ``\\ud800``), NaN/Infinity as
    bare tokens; ``utf8``: raw UTF-8 (a lone surrogate becomes invalid UTF-8).
    """
    if style == "ascii":
        text = "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v, allow_nan=True)}"
                              for k, v in pairs) + "}"
        return text.encode("ascii")
    text = "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:"
                          f"{json.dumps(v, ensure_ascii=False, allow_nan=True)}"
                          for k, v in pairs) + "}"
    return text.encode("utf-8", "surrogatepass")


@st.composite
def fuzzed_reports(draw, points):
    """A valid report with up to four fields replaced (any type), up to two
    dropped, maybe unknown fields and repeated keys (the last one counts)."""
    lon, lat = draw(st.sampled_from(points))
    body = {"lon": lon, "lat": lat, "category": draw(st.sampled_from(CATEGORY_CODES)),
            "description": draw(st.sampled_from(["路灯不亮", "a ]]> & <b>", "x" * 3999]))}
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=4, unique=True)):
        body[name] = draw(value_for(name))
    for name in draw(st.sets(st.sampled_from(sorted(FIELDS)), max_size=2)):
        body.pop(name, None)
    for name in draw(st.lists(FIELD_NAMES, max_size=2)):
        body[name] = draw(value_for(name))
    pairs = list(body.items())
    repeats = draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=2))
    pairs = [(name, draw(value_for(name))) for name in repeats] + pairs  # earlier ones lose
    return dict(pairs), pairs


# -- POST /api/reports ---------------------------------------------------------------

def test_fuzzed_report_fields_never_fail_nor_store_a_refusal(tmp_path):
    app = app_for(tmp_path)
    client = app.test_client()
    router = app.extensions["gridmap"].router
    seen = {"created": 0, "refused": 0}

    @settings(max_examples=130, **SETTINGS)
    @given(report=fuzzed_reports(report_points(app)), style=st.sampled_from(["ascii", "utf8"]),
           content_type=st.sampled_from(JSON_TYPES),
           key=st.one_of(st.none(), st.sampled_from(["k-1", "k-2"]), TEXT, NASTY).filter(
               lambda k: k is None or not set(k) & set("\r\n\x00")))
    def run(report, style, content_type, key):
        body, pairs = report
        data = encode(pairs, style)
        headers = {} if key is None else {"Idempotency-Key": key.encode("utf-8").decode("latin-1")}
        before = stored(app)
        r = client.post("/api/reports", data=data, content_type=content_type, headers=headers)
        event(f"POST {r.status_code}")
        answer = check_answer(r)
        if len(data) > MAX_BODY:
            assert r.status_code == 413
        elif must_refuse(body) is not None:
            assert r.status_code == 400, (must_refuse(body), r.status_code, answer)
        assert r.status_code in (200, 201, 400, 409, 413, 422), r.status_code
        if r.status_code == 409:  # a key seen before with another report
            assert key or body.get("idempotency_key"), answer
        case = check_effect(app, before, r, answer)
        if r.status_code == 200:  # a repeated key: the first case, nothing new
            assert answer["case_id"] in before[0]
        if case is None:
            seen["refused"] += r.status_code != 200
            return
        seen["created"] += 1
        props = case["properties"]  # what was accepted is what is stored
        assert props["description"] == body["description"].strip()
        assert props["input"]["lon"] == body["lon"] and props["input"]["lat"] == body["lat"]
        assert props["grid_code"] == answer["grid"]["code"] == router.route_point(
            body["lon"], body["lat"], props["input"]["datum"]).code

    run()
    assert seen["created"] >= 10 and seen["refused"] >= 40, seen


@st.composite
def broken_bodies(draw, points):
    """Bytes that are not a report: broken or non-object JSON, bad UTF-8, binary,
    NaN tokens, bodies over the limit."""
    lon, lat = draw(st.sampled_from(points))
    good = json.dumps({"lon": lon, "lat": lat, "category": "06", "description": "垃圾"},
                      ensure_ascii=False).encode()
    kinds = ["truncated", "spliced", "binary", "bad_utf8", "not_object", "empty", "tokens",
             "oversized", "deep"]
    kind = draw(st.sampled_from(kinds))
    if kind == "truncated":
        data = good[:draw(st.integers(0, len(good) - 1))]
    elif kind == "spliced":
        at = draw(st.integers(0, len(good) - 1))
        data = good[:at] + draw(st.binary(min_size=1, max_size=4)) + good[at + 1:]
    elif kind == "binary":
        data = draw(st.binary(max_size=2000))
    elif kind == "bad_utf8":
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xf4\x90\x80\x80", b"\xe2\x82",
                                     b"\xc0\xaf", b"\x80"] + SURROGATE_BYTES))
        data = good.replace("垃圾".encode(), b"x" + junk + b"y")
    elif kind == "not_object":
        data = draw(st.sampled_from([b"[]", b"[{}]", b'"report"', b"1", b"null", b"true", b"NaN",
                                     b"{", b"}", b"{}", b"{,}", b"{'lon': 1}", b"\xef\xbb\xbf{}"]))
    elif kind == "empty":
        data = b""
    elif kind == "tokens":
        token = draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999",
                                      b"1" * 5000, b"0x1A", b"+1", b".5", b"01"]))
        data = good.replace(json.dumps(lon).encode(), token, 1)
    elif kind == "oversized":
        pad = draw(st.sampled_from([MAX_BODY, MAX_BODY + 1, 2 * MAX_BODY]))
        data = good[:-1] + b', "description": "' + b"x" * pad + b'"}'
    else:
        depth = draw(st.integers(500, 100_000))
        data = b'{"lon": ' + b"[" * depth + b"]" * depth + good[1:]
    return kind, data


def test_broken_bodies_and_wrong_content_types_are_refused(tmp_path):
    app = app_for(tmp_path)
    client = app.test_client()
    seen = set()

    @settings(max_examples=70, **SETTINGS)
    @example(body=("oversized", b'{"description": "' + b"x" * MAX_BODY + b'"}'),
             content_type="application/json")
    @given(body=broken_bodies(inside_points(app)),
           content_type=st.sampled_from(JSON_TYPES * 3 + OTHER_TYPES))
    def run(body, content_type):
        kind, data = body
        before = stored(app)
        r = client.post("/api/reports", data=data, content_type=content_type or None)
        event(f"{kind} {r.status_code}")
        seen.add(r.status_code)
        answer = check_answer(r)
        if len(data) > MAX_BODY and content_type in JSON_TYPES:
            assert r.status_code == 413, r.status_code
        elif content_type not in JSON_TYPES:
            # the CSRF check stops form-like types (403); others are not JSON (400)
            assert r.status_code in (400, 403, 413), r.status_code
        elif kind not in ("spliced", "binary"):  # a splice may leave a valid report
            assert r.status_code in (400, 413), r.status_code
        check_effect(app, before, r, answer)

    run()
    assert {400, 413} <= seen, seen


def test_an_oversized_report_is_a_json_413_and_stores_nothing(tmp_path):
    app = app_for(tmp_path)
    client = app.test_client()
    before = stored(app)
    r = client.post("/api/reports", json={"lon": 108.8, "lat": 29.52, "category": "06",
                                          "description": "x" * MAX_BODY})
    assert r.status_code == 413 and check_answer(r)["error"]
    check_effect(app, before, r, check_answer(r))
    r = client.post("/api/reports", json={"lon": 108.8, "lat": 29.52, "category": "06",
                                          "description": "x" * 5000})
    assert r.status_code == 400 and check_answer(r)["field"] == "description"
    check_effect(app, before, r, check_answer(r))


# -- GET /api/track/<code> -----------------------------------------------------------

def new_case(app, client, index=4, **fields):
    point = list(app.extensions["gridmap"].grids)[index].geometry.representative_point()
    r = client.post("/api/reports", json={"lon": point.x, "lat": point.y, "category": "06",
                                          "description": "垃圾堆积", **fields})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_fuzzed_tracking_codes_find_only_their_case(tmp_path):
    app = app_for(tmp_path)
    client = app.test_client()
    known = new_case(app, client)["tracking_code"]
    codes = st.one_of(st.sampled_from([known, known.lower(), f"  {known}\t", known + "0",
                                       known.replace("-", ""), "x" * 201, "x" * 5000]),
                      TEXT, NASTY)

    @settings(max_examples=40, **SETTINGS)
    @given(code=codes, raw=st.sampled_from(["", "%ED%A0%80", "%FF", "%00", "%C0%AF"]))
    def run(code, raw):
        before = stored(app)
        r = client.get(f"/api/track/{quote(code, safe='')}{raw}")
        event(f"GET {r.status_code}")
        answer = check_answer(r)
        if not raw and code.strip().upper() == known:
            assert r.status_code == 200 and answer["tracking_code"] == known
        else:
            assert r.status_code in (400, 404), r.status_code
        assert "reporter" not in (answer or {})
        check_effect(app, before, r, answer)

    run()


# -- POST /api/track/<code>/rating ---------------------------------------------------

DISPATCHER, VERIFIER = Actor("dispatcher", "disp-a"), Actor("dispatcher", "disp-b")


def close(app, case_id):
    """Take a case to ``closed`` the way staff do (one handler, another verifier)."""
    svc = app.extensions["gridmap.cases"]
    state = svc.get(case_id)["properties"]["state"]
    steps = {"reported": [("sign", DISPATCHER, None), ("start", DISPATCHER, None)],
             "rated": [("reopen", VERIFIER, "返工")], "closed": [("reopen", VERIFIER, "返工")]}
    for action, actor, note in steps.get(state, []):
        svc.act(case_id, action, actor, note=note)
    svc.act(case_id, "reply", DISPATCHER, note="已修复")
    svc.act(case_id, "close", VERIFIER)


def test_fuzzed_ratings_of_a_closed_case(tmp_path):
    app = app_for(tmp_path)
    client = app.test_client()
    case = new_case(app, client)
    close(app, case["case_id"])
    bodies = st.fixed_dictionaries({}, optional={
        "rating": st.one_of(st.integers(0, 6), VALUES), "comment": VALUES,
        **{name: VALUES for name in ("note", "Rating", "action", "state")}})
    seen = {"rated": 0, "refused": 0}

    @settings(max_examples=60, **SETTINGS)
    @example(body={"rating": 4, "comment": "]]> <b>&amp;</b>"}, style="utf8",
             content_type="application/json", code=case["tracking_code"])
    @example(body={"rating": 1}, style="ascii", content_type="application/json",
             code=case["tracking_code"].lower())
    @given(body=bodies, style=st.sampled_from(["ascii", "utf8", "broken"]),
           content_type=st.sampled_from(JSON_TYPES * 3 + OTHER_TYPES),
           code=st.one_of(st.just(case["tracking_code"]), st.just(case["tracking_code"].lower()),
                          TEXT.filter(lambda s: s.strip() not in ("", ".", "..")), NASTY))
    def run(body, style, content_type, code):
        data = encode(list(body.items()), style if style != "broken" else "ascii")
        data = data[:-1] if style == "broken" else data
        before = stored(app)
        r = client.post(f"/api/track/{quote(code, safe='')}/rating", data=data,
                        content_type=content_type or None)
        event(f"rating {r.status_code}")
        answer = check_answer(r)
        assert r.status_code in (200, 400, 403, 404, 405), (r.status_code, answer)
        after = stored(app)
        if r.status_code != 200:
            seen["refused"] += 1
            assert versions(after[0]) == versions(before[0]) and after[1] == before[1]
            return
        seen["rated"] += 1
        rating = body["rating"]
        assert isinstance(rating, int) and not isinstance(rating, bool) and 1 <= rating <= 5
        changed = {i for i, v in versions(after[0]).items() if v != versions(before[0])[i]}
        assert changed == {case["case_id"]} and len(after[0]) == len(before[0])
        props = after[0][case["case_id"]]["properties"]
        assert props["version"] == before[0][case["case_id"]]["properties"]["version"] + 1
        assert (props["state"], props["rating"], answer["rating"]) == ("rated", rating, rating)
        close(app, case["case_id"])  # closed again for the next example

    run()
    assert seen["refused"] >= 30 and seen["rated"] >= 2, seen


# -- lone surrogates (a 500 until they were refused at the edge) ------------------------

@pytest.mark.parametrize("field", ["description", "name", "idempotency_key", "an unknown field"])
@pytest.mark.parametrize("style", ["ascii", "utf8"])
def test_a_lone_surrogate_is_a_400(tmp_path, field, style):
    """As a ``\\ud800`` escape, or as the bytes ED A0 80 (invalid UTF-8, but
    ``json.loads`` decodes bytes with ``surrogatepass``)."""
    app = app_for(tmp_path)
    before = stored(app)
    body = {"lon": 108.8, "lat": 29.52, "category": "06", "description": "x"}
    if field == "an unknown field":
        body["x\ud800"] = 1
    else:
        body[field] = "a\ud800b"
    r = app.test_client().post("/api/reports", data=encode(list(body.items()), style),
                               content_type="application/json")
    assert r.status_code == 400 and check_answer(r)
    check_effect(app, before, r, check_answer(r))


def test_a_lone_surrogate_in_a_rating_comment_is_a_400(tmp_path):
    app = app_for(tmp_path)
    client = app.test_client()
    case = new_case(app, client)
    close(app, case["case_id"])
    before = stored(app)
    r = client.post(f"/api/track/{case['tracking_code']}/rating",
                    data=json.dumps({"rating": 5, "comment": "\udc00"}),
                    content_type="application/json")
    assert r.status_code == 400 and check_answer(r)
    check_effect(app, before, r, check_answer(r))


# -- once 500s, now 400s ---------------------------------------------------------------

@pytest.mark.parametrize("token", ["1" + "0" * 400, "-" + "9" * 309])
def test_a_coordinate_too_big_for_a_float_is_a_400(tmp_path, token):
    app = app_for(tmp_path)
    before = stored(app)
    data = f'{{"lon": {token}, "lat": 29.52, "category": "06", "description": "x"}}'
    r = app.test_client().post("/api/reports", data=data, content_type="application/json")
    assert r.status_code == 400 and check_answer(r)["field"] == "lon"
    check_effect(app, before, r, check_answer(r))


@pytest.mark.parametrize("data", [b"[" * 2000 + b"]" * 2000,
                                  b'{"lon": ' + b"[" * 600 + b"]" * 600 + b"}"],
                         ids=["2000 bare", "600 in an object"])
def test_deeply_nested_json_is_a_400(tmp_path, data):
    app = app_for(tmp_path)
    before = stored(app)
    r = app.test_client().post("/api/reports", data=data, content_type="application/json")
    assert r.status_code == 400 and check_answer(r)
    check_effect(app, before, r, check_answer(r))


@pytest.mark.parametrize("depth", [15, 16, 17])
def test_the_nesting_limit_holds_where_the_walk_is_skipped(tmp_path, depth):
    """Bodies with fewer than 16 brackets skip the nesting walk; at 16 the walk
    runs and refuses a value inside 16 containers. Either way the answer names
    the body (the unknown field at 15 levels, the nesting above)."""
    app = app_for(tmp_path)
    before = stored(app)
    nested = "[" * (depth - 1) + "1" + "]" * (depth - 1)
    data = f'{{"lon": 108.8, "lat": 29.52, "category": "06", "description": "x", "z": {nested}}}'
    r = app.test_client().post("/api/reports", data=data, content_type="application/json")
    answer = check_answer(r)
    assert r.status_code == 400
    assert answer["field"] == ("z" if depth <= 15 else "body"), answer
    if depth > 15:
        assert "16" in answer["message"]
    check_effect(app, before, r, answer)
