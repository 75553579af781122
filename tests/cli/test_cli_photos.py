"""``gridmap photos sweep`` over a real data folder: cases in the GeoJSON store,
photos in the PhotoStore."""

import io
import os
import time

from click.testing import CliRunner
from PIL import Image

from gridmap.cases.photos import add_photos
from gridmap.cli import main
from gridmap.photos import PhotoStore
from gridmap.store import GeoJSONSeqStore


def photo_bytes(colour):
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buf, "JPEG")
    return buf.getvalue()


def age(data_dir, photo_id, seconds):
    then = time.time() - seconds
    for suffix in (".jpg", ".thumb.jpg"):
        os.utime(data_dir / "photos" / photo_id[:2] / f"{photo_id}{suffix}", (then, then))


def test_sweep_deletes_old_photos_no_case_names(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    photos = PhotoStore(data_dir)
    named, orphan, young = (photos.put(photo_bytes(c)) for c in ("red", "blue", "green"))
    with GeoJSONSeqStore(data_dir / "cases") as cases:
        cases.create({"type": "Feature", "id": "c1",
                      "geometry": {"type": "Point", "coordinates": [108.77, 29.53]},
                      "properties": {"tracking_code": "T-1", "grid_code": "500114005001001",
                                     "photos": add_photos([], [named], "report")}})
    for ref in (named, orphan):
        age(data_dir, ref.id, 3 * 3600)
    runner = CliRunner()
    result = runner.invoke(main, ["photos", "sweep", "--data-dir", str(data_dir),
                                  "--grace-hours", "2"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == [orphan.id] and "deleted 1 photos" in result.stderr
    assert photos.ids() == sorted([named.id, young.id])
    again = runner.invoke(main, ["photos", "sweep", "--data-dir", str(data_dir)])
    assert again.exit_code == 0 and again.stdout == ""


def test_sweep_refuses_a_folder_that_is_not_a_data_folder(tmp_path):
    result = CliRunner().invoke(main, ["photos", "sweep", "--data-dir", str(tmp_path / "typo")])
    assert result.exit_code == 1 and "not a data folder" in result.stderr
    assert not (tmp_path / "typo").exists()
