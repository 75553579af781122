"""Two real gunicorn workers share one undo stack: edits and undos sent on new
connections (so either worker answers) see every earlier step."""

import json
import urllib.error
import urllib.request

from gridmap.web import create_app

C = "500114005001"


def call(url, secret, body=None):
    req = urllib.request.Request(url, method="POST", data=json.dumps(body or {}).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:  # a new connection each time
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_edits_and_undos_across_workers(start_server, tmp_path_factory):
    data = tmp_path_factory.mktemp("edit-workers") / "data"
    accounts = create_app({"DATA_DIR": str(data)}).extensions["gridmap.accounts"]
    accounts.add_user("plan", "correct horse battery", ["planner"])
    _, secret = accounts.create_token("plan", "editor")
    server = start_server(data, workers=2)
    base = f"{server.url}/api/planning/draft"
    names = [f"第{k}次" for k in range(8)]
    for k, name in enumerate(names):
        status, body = call(f"{base}/edits", secret,
                            {"op": "set_props", "grid": C + "004", "name": name})
        assert status == 200 and body["edits"] == k + 1
    for k in reversed(range(len(names))):
        status, body = call(f"{base}/undo", secret)
        assert status == 200 and body["edits"] == k
        got = {f["properties"]["grid_code"]: f["properties"]["name"]
               for f in body["features"]["features"]}[C + "004"]
        assert got == (names[k - 1] if k else "第4网格（舟白苑）")
    status, body = call(f"{base}/undo", secret)
    assert status == 409 and body["error"] == "nothing_to_undo"
    status, body = call(f"{base}/redo", secret)
    assert status == 200 and body["edits"] == 1 and body["can_redo"]
