"""A demo says so on every page while its demo accounts (passwords in the data
folder) can sign in; a production start (``gridmap serve``) does not."""

import pytest

from conftest import LiveServer
from gridmap.auth.demo import ensure_demo_accounts
from gridmap.web import create_app

BANNER_ZH = "演示系统：账号密码公开，请勿用于真实数据"
BANNER_EN = "Demo system: account passwords are public. Do not use it for real data."
PAGES = ("/", "/report", "/track", "/login", "/track/NOPE0-NOPE0")


def make_demo(app):
    community = app.extensions["gridmap"]
    return ensure_demo_accounts(app.extensions["gridmap.accounts"], community.grids.codes,
                                community.data_dir)


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    app = create_app({"DATA_DIR": str(tmp_path_factory.mktemp("demo") / "data")})
    make_demo(app)
    return app


def test_every_page_of_a_demo_says_so(demo_app):
    for path in PAGES:
        client = demo_app.test_client()
        page = client.get(path).get_data(as_text=True)
        assert 'id="demo-banner"' in page and BANNER_ZH in page, path
        english = client.get(path + "?lang=en").get_data(as_text=True)
        assert BANNER_EN in english and BANNER_ZH not in english, path


def test_a_signed_in_admin_page_of_a_demo_says_so(demo_app):
    password = dict((u, p) for u, p, *_ in make_demo(demo_app))["admin"]
    client = demo_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post("/login", data={"username": "admin", "password": password, "csrf_token": csrf})
    assert r.status_code in (302, 303)
    assert BANNER_ZH in client.get("/admin/users").get_data(as_text=True)


def test_production_pages_have_no_banner(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data")})
    for path in PAGES:
        assert 'id="demo-banner"' not in app.test_client().get(path).get_data(as_text=True)


def test_the_banner_goes_once_every_demo_account_is_disabled(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data")})
    names = [u for u, *_ in make_demo(app)]
    store = app.extensions["gridmap.accounts"]
    store.add_user("root", "a real admin's password", ["admin"])  # before the demo admin goes
    for name in names[:-1]:
        store.disable_user(name)
    assert BANNER_ZH in app.test_client().get("/").get_data(as_text=True)
    store.disable_user(names[-1])
    assert 'id="demo-banner"' not in app.test_client().get("/").get_data(as_text=True)


def test_a_production_start_on_a_demo_folder_warns(demo_app):
    """``gridmap serve`` without --demo on a folder whose demo accounts still work
    says so when it starts."""
    server = LiveServer(demo_app.extensions["gridmap"].data_dir)
    server.stop()
    log = server.log.read_text(encoding="utf-8")
    assert "demo accounts still enabled" in log and "admin" in log
