"""Who may call what. The role × endpoint matrix walks the app's URL map, so a
new route cannot escape it; refused calls get 401/403 and change nothing."""

import io
import itertools
import json
import re

import pytest
from PIL import Image

from gridmap.web import create_app

from signed_in_clients import signed_in

ROLES = (None, "grid_staff", "dispatcher", "planner", "admin")
STAFF = {"grid_staff", "dispatcher", "planner", "admin"}
ANY = set(ROLES)
PASSWORD = "correct horse battery"
CSRF = "t" * 43

#: (endpoint, method) -> the roles that may call it (None: anonymous resident)
EXPECTED = {
    ("pages.index", "GET"): ANY,
    ("api.route", "GET"): ANY,
    ("api.grids", "GET"): ANY,
    ("api.health", "GET"): ANY,
    ("cases_api.create_report", "POST"): ANY,
    ("cases_api.track", "GET"): ANY,
    ("cases_api.rate", "POST"): ANY,
    ("cases_api.get_case", "GET"): {"grid_staff", "dispatcher"},
    ("cases_api.act_on_case", "POST"): {"grid_staff", "dispatcher"},
    ("cases_api.grid_queue", "GET"): {"grid_staff", "dispatcher"},
    ("case_pages.report", "GET"): ANY,
    ("case_pages.track_lookup", "GET"): ANY,
    ("case_pages.track", "GET"): ANY,
    ("case_pages.public_case", "GET"): ANY,
    ("staff_pages.grid_queue", "GET"): {"grid_staff", "dispatcher"},
    ("staff_pages.all_cases", "GET"): {"grid_staff", "dispatcher"},
    ("staff_pages.case_page", "GET"): {"grid_staff", "dispatcher"},
    ("staff_pages.act", "POST"): {"grid_staff", "dispatcher"},
    **{(f"dispatch.{name}", "GET"): {"grid_staff", "dispatcher"}
       for name in ("console", "heat", "clusters", "overdue", "cases", "one_case", "cases_csv",
                    "figures", "frames", "live")},
    ("photo_views.reporter_photo", "GET"): ANY,  # by the tracking code
    # open to anyone for public photos; a private one (as here) to the case's staff
    ("photo_views.case_photo", "GET"): {"grid_staff", "dispatcher"},
    ("photo_views.set_public_api", "POST"): {"grid_staff", "dispatcher"},
    ("photo_views.set_public_form", "POST"): {"grid_staff", "dispatcher"},
    ("assets.asset", "GET"): ANY,
    ("auth.login_form", "GET"): ANY,
    ("auth.login", "POST"): ANY,
    ("auth.logout", "POST"): STAFF,
    ("admin_users.users", "GET"): {"admin"},
    ("admin_users.add_user", "POST"): {"admin"},
    ("admin_users.user", "GET"): {"admin"},
    ("admin_users.edit_user", "POST"): {"admin"},
    ("admin_users.change_user", "POST"): {"admin"},
    ("admin_users.reset_password", "POST"): {"admin"},
    ("admin_audit.audit_log", "GET"): {"admin"},
    ("admin.categories", "GET"): {"admin"},
    ("admin.add_category", "POST"): {"admin"},
    ("admin.change_category", "POST"): {"admin"},
    ("admin.calendar", "GET"): {"admin"},
    ("admin.change_calendar", "POST"): {"admin"},
    ("open311.discovery", "GET"): ANY,
    ("open311.service_list", "GET"): ANY,
    ("open311.service_definition", "GET"): ANY,
    ("open311.request_list", "GET"): ANY,
    ("open311.create_request", "POST"): ANY,
    ("open311.request_detail", "GET"): ANY,
    ("open311.token", "GET"): ANY,
    ("planning_api.generations", "GET"): {"planner"},
    ("planning_api.generation", "GET"): {"planner"},
    ("planning_api.get_draft", "GET"): {"planner"},
    ("planning_api.make_draft", "POST"): {"planner"},
    ("planning_api.discard_draft", "DELETE"): {"planner"},
    ("planning_api.draft_teams", "PUT"): {"planner"},
    ("planning_api.preview", "GET"): {"planner"},
    ("planning_api.publish", "POST"): {"planner"},
    ("planning_api.rollback", "POST"): {"planner"},
    ("planning_api.edit_draft", "POST"): {"planner"},
    ("planning_api.undo_edit", "POST"): {"planner"},
    ("planning_api.redo_edit", "POST"): {"planner"},
    ("planning_api.difference", "GET"): {"planner"},
    ("planning_page.editor", "GET"): {"planner"},
}

#: (endpoint, method) -> what an allowed call answers: the status, and a text its body
#: holds (for a redirect: a pattern of where it leads; for a photo: its type)
ANSWERS = {
    ("pages.index", "GET"): (200, "<title>路东社区网格地图</title>"),
    ("api.route", "GET"): (200, '"status":"inside","grid_code":"500114005001007"'),
    ("api.grids", "GET"): (200, '"code":"500114005001013"'),
    ("api.health", "GET"): (200, '{"ok":true,"grids":13,"components":{"store":"ok","accounts":"ok"}}'),
    ("cases_api.create_report", "POST"): (201, '"state":"reported","routing":"inside"'),
    ("cases_api.track", "GET"): (200, '"state":"reported"'),
    ("cases_api.rate", "POST"): (200, '"state":"rated"'),
    ("cases_api.get_case", "GET"): (200, '"description":"矩阵测试"'),
    ("cases_api.act_on_case", "POST"): (200, '"state":"signed"'),
    ("cases_api.grid_queue", "GET"): (200, '"grid_code":"500114005001001"'),
    ("case_pages.report", "GET"): (200, "<title>我要上报 · 路东社区网格地图</title>"),
    ("case_pages.track_lookup", "GET"): (200, "<title>进度查询 · 路东社区网格地图</title>"),
    ("case_pages.track", "GET"): (200, "矩阵测试"),
    ("case_pages.public_case", "GET"): (200, "矩阵测试"),
    ("staff_pages.grid_queue", "GET"): (200, "<title>第1网格（正阳北片） · 案件队列</title>"),
    ("staff_pages.all_cases", "GET"): (200, "<title>全部案件 · 路东社区网格地图</title>"),
    ("staff_pages.case_page", "GET"): (200, "矩阵测试"),
    ("staff_pages.act", "POST"): (302, "{url}"),  # back to the case page it was sent from
    ("dispatch.console", "GET"): (200, "<title>调度台 · 路东社区网格地图</title>"),
    ("dispatch.heat", "GET"): (200, '"max":'),
    ("dispatch.clusters", "GET"): (200, '"clusters":'),
    ("dispatch.overdue", "GET"): (200, '"cases":'),
    ("dispatch.cases", "GET"): (200, '"per_page":20'),
    ("dispatch.one_case", "GET"): (200, '"description":"矩阵测试"'),
    ("dispatch.cases_csv", "GET"): (200, "No.,Reported,Grid code"),
    ("dispatch.figures", "GET"): (200, '"oldest_overdue":'),
    ("dispatch.frames", "GET"): (200, '"step":"day"'),
    ("dispatch.live", "GET"): (200, '"latest":'),
    ("photo_views.reporter_photo", "GET"): (200, "image/jpeg"),
    ("photo_views.case_photo", "GET"): (200, "image/jpeg"),
    ("photo_views.set_public_api", "POST"): (200, '"public":true'),
    ("photo_views.set_public_form", "POST"): (302, "{case_url}"),  # back to the case page
    ("assets.asset", "GET"): (200, "Leaflet 1.9.4"),
    ("auth.login_form", "GET"): (200, 'name="password"'),
    ("auth.login", "POST"): (302, "/planning"),  # victim is a planner: the editor
    ("auth.logout", "POST"): (302, "/"),
    ("admin_users.users", "GET"): (200, "victim"),
    ("admin_users.add_user", "POST"): (302, r"/admin/users/new\d+"),
    ("admin_users.user", "GET"): (200, 'data-username="victim"'),
    ("admin_users.edit_user", "POST"): (302, "/admin/users/victim"),
    ("admin_users.change_user", "POST"): (302, "/admin/users/victim"),
    ("admin_users.reset_password", "POST"): (200, 'id="confirm-yes"'),  # asks first
    ("admin_audit.audit_log", "GET"): (200, "<title>审计日志 · 路东社区网格地图</title>"),
    ("admin.categories", "GET"): (200, "环境卫生"),
    ("admin.add_category", "POST"): (302, "/admin/categories"),
    ("admin.change_category", "POST"): (302, "/admin/categories"),
    ("admin.calendar", "GET"): (200, "<title>工作日历 · 路东社区网格地图</title>"),
    ("admin.change_calendar", "POST"): (302, "/admin/calendar"),
    ("open311.discovery", "GET"): (200, '"endpoints"'),
    ("open311.service_list", "GET"): (200, '"service_code": "06"'),
    ("open311.service_definition", "GET"): (200, '{"service_code": "06", "attributes": []}'),
    ("open311.request_list", "GET"): (200, '"status": "open"'),
    ("open311.create_request", "POST"): (201, '"token"'),
    ("open311.request_detail", "GET"): (200, '"status_notes": "待签收 / reported"'),
    ("open311.token", "GET"): (200, '"token"'),
    # in this order (sorted): no draft yet, then one made, previewed, not published
    ("planning_api.discard_draft", "DELETE"): (404, '"message_id":"error.generations.no_draft"'),
    ("planning_api.draft_teams", "PUT"): (409, '"message_id":"error.generations.no_draft"'),
    ("planning_api.generation", "GET"): (200, '"number":1'),
    ("planning_api.generations", "GET"): (200, '"active":1'),
    ("planning_api.get_draft", "GET"): (404, '"message_id":"error.generations.no_draft"'),
    ("planning_api.make_draft", "POST"): (201, '"number":2'),
    ("planning_api.preview", "GET"): (200, '"impact"'),
    ("planning_api.publish", "POST"): (409, '"message_id":"error.generations.other_draft"'),
    ("planning_api.rollback", "POST"): (409, '"message_id":"error.generations.already_active"'),
    ("planning_api.edit_draft", "POST"): (400, '"field":"op"'),
    ("planning_api.undo_edit", "POST"): (409, '"error":"nothing_to_undo"'),
    ("planning_api.redo_edit", "POST"): (409, '"error":"nothing_to_redo"'),
    ("planning_api.difference", "GET"): (200, '"features":[]'),
    ("planning_page.editor", "GET"): (200, "<title>边界编辑 · 路东社区网格地图</title>"),
}


@pytest.fixture(scope="module")
def matrix_app(tmp_path_factory):
    app = create_app({"DATA_DIR": str(tmp_path_factory.mktemp("matrix") / "data"),
                      "SIGNIN_IP_LIMIT": 10_000, "REPORT_IP_LIMIT": 10_000})
    store = app.extensions["gridmap.accounts"]
    first_grid = app.extensions["gridmap"].grids.codes[0]
    for role in ROLES[1:]:
        store.add_user(f"u_{role}", PASSWORD, [role],
                       grid_codes=[first_grid] if role == "grid_staff" else ())
    store.add_user("victim", PASSWORD, ["planner"])
    return app


def client_as(app, role):
    return signed_in(app, role and f"u_{role}", CSRF)


def new_case(app, state="reported", photos=()):
    """A fresh case in the first grid (the grid of the grid_staff user), driven to ``state``."""
    from gridmap.cases.workflow import Actor

    service = app.extensions["gridmap.cases"]
    grid = app.extensions["gridmap"].grids.grids[0]
    spot = grid.geometry.representative_point()
    feature, _, _ = service.report({"lon": spot.x, "lat": spot.y, "category": "06",
                                    "description": "矩阵测试", "contact": "100-0000-0000"},
                                   photos=photos)
    staff = Actor("grid_staff", "u_grid_staff", frozenset({grid.code}))
    steps = {"closed": [("sign", staff), ("start", staff), ("reply", staff),
                        ("close", Actor("dispatcher", "u_dispatcher"))]}.get(state, [])
    for action, actor in steps:
        feature = service.act(feature["id"], action, actor, note="处理完毕")
    return feature


def small_jpeg():
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def request_for(app, endpoint, method, counter):
    """A well-formed request for the endpoint, so only the role decides.

    Returns ``(url, query, form, json)``.
    """
    args = {"filename": "leaflet/dist/leaflet.js", "version": app.extensions["gridmap.assets"].version, "username": "victim", "change": "enable",
            "code": app.extensions["gridmap"].grids.codes[0], "number": 1}
    body = {"planning_api.make_draft": {"type": "FeatureCollection", "features":
                                        app.extensions["gridmap"].generations.features(1)},
            "planning_api.draft_teams": {"teams": {}},
            "planning_api.publish": {"draft": 99},
            "planning_api.rollback": {"generation": 1},
            "planning_api.edit_draft": {"op": "nope"}}.get(endpoint)

    args.update(fmt="json", service_code="06")
    if endpoint in ("open311.request_detail", "open311.token"):
        feature = new_case(app)
        args["service_request_id"] = feature["id"]
        args["token"] = feature["properties"]["tracking_code"]
    if endpoint == "admin.change_category":
        args["code"] = "06"
    if endpoint in ("cases_api.get_case", "cases_api.act_on_case", "staff_pages.case_page",
                    "staff_pages.act", "case_pages.public_case", "dispatch.one_case"):
        args["case_id"] = new_case(app)["id"]
        body = {"action": "sign"} if endpoint == "cases_api.act_on_case" else None
    elif endpoint in ("cases_api.track", "cases_api.rate", "case_pages.track"):
        feature = new_case(app, "closed" if method == "POST" else "reported")
        args["code"] = feature["properties"]["tracking_code"]
        body = {"rating": 5, "comment": "好"} if method == "POST" else None
    elif endpoint.startswith("photo_views."):  # a private photo of a case of the first grid
        feature = new_case(app, photos=[small_jpeg()])
        photo_id = feature["properties"]["photos"][0]["id"]
        args.update(case_id=feature["id"], code=feature["properties"]["tracking_code"],
                    photo_id=photo_id, name=f"{photo_id}.jpg")
        body = {"public": True} if endpoint == "photo_views.set_public_api" else None
    elif endpoint == "cases_api.create_report":
        spot = app.extensions["gridmap"].grids.grids[3].geometry.representative_point()
        body = {"lon": spot.x, "lat": spot.y, "category": "07", "description": "路灯不亮"}
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    with app.test_request_context():
        from flask import url_for

        url = url_for(endpoint, **{k: args[k] for k in rule.arguments})
    query = {"api.route": {"lon": "108.8", "lat": "29.52"},
             "planning_api.difference": {"from": "1", "to": "1"}}.get(endpoint, {})
    form = {"csrf_token": CSRF}
    if endpoint == "staff_pages.act":
        form["action"] = "sign"
    if endpoint == "photo_views.set_public_form":
        form["public"] = "1"
    if endpoint == "open311.create_request":
        spot = app.extensions["gridmap"].grids.grids[3].geometry.representative_point()
        form.update(service_code="07", lat=str(spot.y), long=str(spot.x), description="路灯不亮")
    if endpoint == "auth.login":
        form.update(username="victim", password=PASSWORD)
    if endpoint == "admin_users.add_user":
        form.update(username=f"new{next(counter)}", password=PASSWORD, roles="planner")
    if endpoint == "admin_users.edit_user":
        form.update(roles="planner", display_name="受害者")
    if endpoint in ("admin.add_category", "admin.change_category", "admin.change_calendar"):
        form.update(settings_form(app, endpoint))
    if body is not None or method != "POST":
        form = None
    return url, query, form, body


def settings_form(app, endpoint):
    """Well-formed settings forms: category 06 as it is, a new unused code, the calendar as it is."""
    community = app.extensions["gridmap"]
    if endpoint == "admin.change_calendar":
        doc = community.calendar.to_dict()
        return {"working_days": doc["working_days"],
                "working_hours": "\n".join(f"{a}-{b}" for a, b in doc["working_hours"]),
                "holidays": "\n".join(doc["holidays"]), "workdays": "\n".join(doc["workdays"]),
                "years": "\n".join(f"{y}{'*' if e['provisional'] else ''} {e['source']}"
                                   for y, e in doc["years"].items())}
    category = community.categories["06"]
    form = {"name": category.name, "name_en": category.name_en,
            **{f"{k}_hours": str(getattr(category, f"{k}_hours")) for k in ("sign", "handle", "verify")}}
    if endpoint == "admin.add_category":
        form.update(code=next(c for c in (f"{i:02d}" for i in range(20, 99))
                              if c not in community.categories), name="新类别", name_en="New")
    return form


def snapshot(app):
    store = app.extensions["gridmap.accounts"]
    cases = sorted((f["id"], f["properties"]["version"])
                   for f in app.extensions["gridmap.cases"].store.all())
    data_dir = app.extensions["gridmap"].data_dir
    return ([u.to_dict() for u in store.list_users()], store.list_tokens(), cases,
            *((data_dir / name).read_bytes()
              for name in ("grids.geojson", "generations/manifest.json", "categories.json",
                           "calendar.json")))


def test_every_route_has_an_expected_policy(matrix_app):
    routes = {(r.endpoint, m) for r in matrix_app.url_map.iter_rules()
              for m in r.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(EXPECTED), "add new routes to EXPECTED with the roles that may call them"
    assert set(ANSWERS) == set(EXPECTED), "and to ANSWERS with what an allowed call answers"


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(matrix_app, role):
    counter = itertools.count()
    for (endpoint, method), allowed in sorted(EXPECTED.items()):
        url, query, form, body = request_for(matrix_app, endpoint, method, counter)
        before = snapshot(matrix_app)
        client = client_as(matrix_app, role)
        r = client.open(url, method=method, query_string=query, data=form, json=body,
                        headers={"X-CSRF-Token": CSRF})
        where = f"{role} {method} {url}"
        if role in allowed:
            status, needle = ANSWERS[endpoint, method]
            text = r.get_data(as_text=r.mimetype != "image/jpeg")
            assert r.status_code == status, (where, r.status_code, text[:300])
            if r.mimetype == "image/jpeg":
                assert needle == r.mimetype and text[:3] == b"\xff\xd8\xff", where
            elif status == 302:  # a form's redirect: where it leads, and what it changed
                case_url = url.split("/photos/")[0]
                assert re.fullmatch(needle.format(url=re.escape(url), case_url=re.escape(case_url)),
                                    r.headers["Location"]), where
                if endpoint in ("staff_pages.act", "photo_views.set_public_form",
                                "admin_users.add_user", "admin_users.edit_user",
                                "admin.add_category"):
                    assert snapshot(matrix_app) != before, where  # (the others change
                    # nothing here: sign-in, and forms sent back as they are)
            else:
                assert needle in text, (where, needle, text[:300])
        else:
            assert r.status_code == (401 if role is None else 403), (where, r.status_code)
            assert snapshot(matrix_app) == before, where


def test_api_tokens_act_as_their_user_until_revoked(matrix_app):
    store = matrix_app.extensions["gridmap.accounts"]
    token_id, secret = store.create_token("u_admin", "test client")
    client = matrix_app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/admin/users", headers=headers).status_code == 200
    # a token is no ambient credential: no CSRF token needed
    r = client.post("/admin/users/victim/enable", headers=headers)
    assert r.status_code == 302
    store.revoke_token(token_id)
    r = client.get("/admin/users", headers=headers)
    assert r.status_code == 401 and "已撤销" in r.get_data(as_text=True)
    assert client.get("/api/grids", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    planner_id, planner_secret = store.create_token("u_planner", "planner client")
    r = client.get("/admin/users", headers={"Authorization": f"Bearer {planner_secret}"})
    assert r.status_code == 403


def test_security_headers_on_pages_and_api(client):
    for path in ("/", "/api/grids", "/login"):
        r = client.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self' 'nonce-" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-eval" not in csp
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    r = client.get("/")
    page = r.get_data(as_text=True)
    nonce = r.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert page.count(f'<script nonce="{nonce}"') >= 2
    assert "<script>" not in page  # every inline script carries the nonce


def test_session_cookie_settings(app, tmp_path):
    client = app.test_client()
    r = client.get("/login")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = create_app({"DATA_DIR": str(tmp_path / "s"), "COOKIE_SECURE": True})
    r = secure.test_client().get("/login")
    assert "Secure" in r.headers["Set-Cookie"]
    assert "max-age" in r.headers["Strict-Transport-Security"]


def test_audit_log_is_readable_by_admins(matrix_app):
    client = client_as(matrix_app, "admin")
    client.post("/admin/users/victim/disable", data={"csrf_token": "t" * 43, "confirm": "yes"})
    client.post("/admin/users/victim/enable", data={"csrf_token": "t" * 43})
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "停用了 <a" in page and "启用了 <a" in page and 'data-actor="u_admin"' in page
    lines = (matrix_app.extensions["gridmap"].data_dir / "audit.jsonl").read_text(encoding="utf-8")
    entry = json.loads(lines.splitlines()[-1])
    assert entry["action"] == "user_enable" and entry["target"] == "victim"
    assert entry["role"] == "admin"
