"""``gridmap serve`` sweeps photos no case names by itself (at a worker's start, then
daily): what a crash between saving a report's photos and storing its case leaves."""

import os
import sys
import time
from pathlib import Path

from gridmap.photos import PhotoStore
from gridmap.photos.files import SWEEP_GRACE_S
from gridmap.web import create_app

sys.path.insert(0, str(Path(__file__).parents[1] / "photos"))
from photomaker import noise_jpeg  # noqa: E402


def test_the_server_sweeps_old_photos_no_case_names_when_it_starts(start_server, tmp_path):
    data_dir = tmp_path / "data"
    app = create_app({"DATA_DIR": str(data_dir)})
    svc = app.extensions["gridmap.cases"]
    spot = app.extensions["gridmap"].grids.grids[0].geometry.representative_point()
    feature, _, _ = svc.report({"lon": spot.x, "lat": spot.y, "category": "06",
                                "description": "井盖缺失"}, photos=[noise_jpeg(1)])
    kept = feature["properties"]["photos"][0]["id"]
    orphan = svc.photos.put(noise_jpeg(2)).id  # saved, then the worker died before the case
    young = svc.photos.put(noise_jpeg(3)).id  # maybe a report under way: kept
    long_ago = time.time() - SWEEP_GRACE_S - 3600
    for photo_id in (kept, orphan):
        for thumb in (False, True):
            os.utime(svc.photos.path(photo_id, thumb), (long_ago, long_ago))
    svc.store.close()

    server = start_server(data_dir)
    photos = PhotoStore(data_dir)
    deadline = time.monotonic() + 15
    while orphan in photos.ids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert photos.ids() == sorted([kept, young])
    assert not list((data_dir / "photos").glob(f"??/{orphan}*"))  # its thumbnail too
    assert "swept 1 photos that no case names" in server.log.read_text()
