"""Every file and folder the service writes is private to its user (0600 / 0700),
whatever the umask and the modes of the folders it finds."""

import os
import sqlite3
import stat

import pytest
import requests

from gridmap.auth.accounts import AccountStore
from gridmap.auth.demo import ensure_demo_accounts
from gridmap.geo.grids import GridSet
from gridmap.store.geojsonseq import GeoJSONSeqStore
from gridmap.web import create_app
from live_signin import csrf_of, sign_in

PASSWORD = "correct horse battery"


@pytest.fixture
def permissive_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def modes(folder):
    """{relative path: mode} of ``folder`` and everything in it."""
    found = {".": stat.S_IMODE(os.stat(folder).st_mode)}
    for top, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(top, name)
            found[os.path.relpath(path, folder)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def open_to_others(folder):
    return {path: oct(mode) for path, mode in modes(folder).items() if mode & 0o077}


def report(url, spot, n):
    r = requests.post(url + "/api/reports", json={
        "lon": spot.x, "lat": spot.y, "category": "06", "description": f"路灯不亮 {n}",
        "contact": "13800138000", "name": "张三"}, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_realistic_run_under_umask_0_leaves_nothing_open(permissive_umask, tmp_path,
                                                            start_server):
    os.chmod(tmp_path, 0o777)  # a folder anyone may enter and write in
    data = tmp_path / "data"
    server = start_server(data, workers=2)
    grid = GridSet.load(data / "grids.geojson").grids[6]
    spot = grid.geometry.representative_point()
    accounts = AccountStore(data / "accounts.sqlite3")
    accounts.add_user("worker7", PASSWORD, ["grid_staff"], [grid.code])
    ensure_demo_accounts(accounts, [grid.code], data)
    # a reader kept open, as a busy worker would: SQLite keeps its -wal and -shm files
    holder = sqlite3.connect(data / "accounts.sqlite3")
    holder.execute("SELECT count(*) FROM users").fetchone()
    first = report(server.url, spot, 1)
    assert GeoJSONSeqStore(data / "cases").compact()  # the snapshot with every contact
    report(server.url, spot, 2)
    assert sign_in(server.url, "worker7", "wrong password")[0].status_code == 401
    r, session = sign_in(server.url, "worker7", PASSWORD)
    assert r.status_code == 302
    r = session.post(f"{server.url}/api/cases/{first['case_id']}/actions", json={"action": "sign"},
                     headers={"X-CSRF-Token": csrf_of(session, server.url)}, timeout=10)
    assert r.status_code == 200, r.text
    assert session.get(f"{server.url}/api/track/{first['tracking_code']}").status_code == 200

    found = modes(data)  # while it runs: SQLite's -wal and -shm files are there
    for name in ("cases/cases.geojson", "cases/cases.sync", "audit.jsonl", "secret_key",
                 "accounts.sqlite3", "accounts.sqlite3-wal", "accounts.sqlite3-shm",
                 "throttle.sqlite3", "throttle.sqlite3-wal", "demo-accounts.txt", "grids.geojson"):
        assert name in found, sorted(found)
    assert any(name.endswith(".buckets") for name in found)
    assert any(name.startswith("cases/cases-") for name in found)
    assert not open_to_others(data)
    holder.close()
    server.stop()
    assert not open_to_others(data)


def test_missing_parents_of_the_data_folder_are_made_private(permissive_umask, tmp_path):
    os.chmod(tmp_path, 0o777)
    create_app({"DATA_DIR": str(tmp_path / "instance" / "data")})
    assert not open_to_others(tmp_path / "instance")
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o777  # not ours: left alone


def test_an_existing_folder_made_by_others_is_narrowed_at_start(permissive_umask, tmp_path):
    data = tmp_path / "data"
    app = create_app({"DATA_DIR": str(data)})
    store = app.extensions["gridmap.cases"].store
    grid = app.extensions["gridmap"].grids.grids[6]
    spot = grid.geometry.representative_point()
    app.test_client().post("/api/reports", json={"lon": spot.x, "lat": spot.y, "category": "06",
                                                 "description": "路灯", "contact": "13800138000"})
    store.compact()
    store.close()
    sealed = data / "cases" / "old-sealed.geojsons"  # a read-only file must stay read-only
    sealed.write_text("")
    for path in [data, *data.rglob("*")]:  # as an older release or a backup left them
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    os.chmod(sealed, 0o444)
    create_app({"DATA_DIR": str(data)})
    assert not open_to_others(data)
    assert modes(data)["cases/old-sealed.geojsons"] == 0o400
    assert modes(data)["cases/cases.geojson"] == 0o600 and modes(data)["cases"] == 0o700
