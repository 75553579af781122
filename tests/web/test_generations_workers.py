"""Two real gunicorn workers route by a newly published generation at once, with
no restart: each request stats the manifest and follows it."""

import json
import re
import urllib.request

from shapely.geometry import shape

from gridmap.audit import AuditLog
from gridmap.auth.accounts import ACCOUNTS_FILE, AccountStore
from gridmap.cases.service import CaseService
from gridmap.config import load_config
from gridmap.datafolder import load_community
from gridmap.planning import Planning
from gridmap.store.geojsonseq import GeoJSONSeqStore

C = "500114005001"


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:  # a new connection each time
        return json.loads(r.read()), r.headers


def test_every_worker_routes_by_the_new_generation_at_once(start_server, tmp_path_factory):
    data = tmp_path_factory.mktemp("workers") / "data"
    server = start_server(data, workers=2)
    community = load_community(load_config({"DATA_DIR": str(data)}))
    store = GeoJSONSeqStore(data / "cases")
    planning = Planning(community, CaseService(store, community), AuditLog(data / "audit.jsonl"),
                        AccountStore(data / ACCOUNTS_FILE))
    ring = list(community.grids[C + "013"].geometry.exterior.coords)[:-1]
    parts = [ring[2:7], ring[6:] + ring[:3]]
    features = [{"type": "Feature", "properties": {},
                 "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in x + x[:1]]]}}
                for x in parts]
    spot = shape(features[1]["geometry"]).representative_point()
    url = f"{server.url}/api/route?lon={spot.x}&lat={spot.y}"
    for _ in range(40):  # both workers answer, both by generation 1
        body, headers = get(url)
        assert (body["generation"], body["grid_code"]) == (1, C + "013")
    planning.draft(features, "plan")
    planning.publish("plan", "planner")
    answers = {(b["generation"], b["grid_code"]) for b in (get(url)[0] for _ in range(40))}
    assert answers == {(2, C + "014")} or answers == {(2, C + "015")}
    before = {get(f"{server.url}/api/health")[0]["grids"] for _ in range(20)}
    assert before == {14}
    # a report made through either worker records the generation it was routed under
    for _ in range(6):
        req = urllib.request.Request(f"{server.url}/api/reports", method="POST",
                                     data=json.dumps({"lon": spot.x, "lat": spot.y,
                                                      "category": "06",
                                                      "description": "垃圾"}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 201
    store.refresh()
    assert {f["properties"]["generation"] for f in store.all()} == {2}
    switched = re.findall(r"process (\d+) now routes by grid generation 2", server.log.read_text())
    assert len(set(switched)) == 2  # each of the two workers followed, none restarted
    planning.rollback(1, "plan", "planner")
    assert {get(url)[0]["generation"] for _ in range(40)} == {1}
    store.close()
