"""PhotoStore (gridmap.photos.files): real files in a temporary data folder, and a
child process killed with SIGKILL while it saves."""

import fcntl
import hashlib
import io
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from photomaker import noise_jpeg, phone_jpeg, png_header_only

from gridmap.errors import DiskFull, NotFound
from gridmap.photos import NotAnImage, PhotoStore, PhotoTooManyPixels, process
from gridmap.photos.files import SWEEP_GRACE_S
from gridmap.store.base import StoreError

HERE = Path(__file__).resolve().parent


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


def stored_files(data_dir):
    return sorted(p.relative_to(data_dir / "photos").as_posix()
                  for p in (data_dir / "photos").rglob("*") if p.is_file() and p.name != ".lock")


def test_a_saved_photo_is_read_back_by_its_id(data_dir):
    ref = PhotoStore(data_dir).put(phone_jpeg())
    store = PhotoStore(data_dir)  # another process, say
    full, thumb = store.read(ref.id), store.read(ref.id, thumb=True)
    assert hashlib.sha256(full).hexdigest() == ref.id
    assert (ref.width, ref.height, ref.thumb_width, ref.thumb_height) == (200, 300, 200, 300)
    with Image.open(io.BytesIO(full)) as img:
        assert img.size == (200, 300) and not img.getexif()
    with Image.open(io.BytesIO(thumb)) as img:
        assert img.format == "JPEG"
    with store.open(ref.id) as f:
        assert f.read() == full
    assert stored_files(data_dir) == [f"{ref.id[:2]}/{ref.id}.jpg", f"{ref.id[:2]}/{ref.id}.thumb.jpg"]
    assert store.ids() == [ref.id]


def test_files_are_0600_and_folders_0700(data_dir):
    old = os.umask(0)  # even with a permissive umask
    try:
        ref = PhotoStore(data_dir).put(noise_jpeg(1))
    finally:
        os.umask(old)
    root = data_dir / "photos"
    for folder in (root, root / ref.id[:2]):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in (root / ".lock", *(root / ref.id[:2]).iterdir()):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_the_same_photo_twice_is_stored_once(data_dir):
    store = PhotoStore(data_dir)
    first, second = store.put(noise_jpeg(1)), store.put(noise_jpeg(1))
    assert first == second and len(stored_files(data_dir)) == 2


@pytest.mark.parametrize("bad_id", [
    "../../../etc/passwd", "../" * 20 + "x" * 4, "A" * 64, "a" * 63, "a" * 65,
    "ab/" + "a" * 61, "a" * 64 + "/", "a" * 64 + "\0", "ä" * 64, "", None, 12, b"a" * 64])
def test_a_bad_id_is_a_404_and_never_a_path(data_dir, bad_id):
    store = PhotoStore(data_dir)
    (data_dir / "photos" / "aa").mkdir()
    (data_dir / "photos" / "aa" / ("a" * 63 + ".jpg")).write_bytes(b"x")  # near misses exist
    with pytest.raises(NotFound) as err:
        store.read(bad_id)
    assert err.value.status == 404 and "no such photo" in str(err.value)


def test_an_unknown_id_is_a_404(data_dir):
    store = PhotoStore(data_dir)
    with pytest.raises(NotFound):
        store.read("0" * 64)
    ref = store.put(noise_jpeg(1))
    os.remove(data_dir / "photos" / ref.id[:2] / f"{ref.id}.thumb.jpg")
    assert store.read(ref.id)
    with pytest.raises(NotFound):
        store.read(ref.id, thumb=True)


def test_one_bad_upload_refuses_the_lot_and_stores_nothing(data_dir):
    store = PhotoStore(data_dir)
    with pytest.raises(PhotoTooManyPixels) as err:
        store.put_all([noise_jpeg(1), noise_jpeg(2), png_header_only(50_000, 50_000)])
    assert err.value.field == "photos[2]"
    with pytest.raises(NotAnImage) as err:
        store.put_all([b"text named .jpg", noise_jpeg(1)])
    assert err.value.field == "photos[0]"
    assert stored_files(data_dir) == []
    refs = store.put_all([noise_jpeg(1), noise_jpeg(2)])
    assert [r.id for r in refs] == [process(noise_jpeg(i)).id for i in (1, 2)]


def test_a_failed_write_is_a_store_error_and_leaves_no_temporary_file(data_dir):
    store = PhotoStore(data_dir)
    photo = process(noise_jpeg(1))
    folder = data_dir / "photos" / photo.id[:2]
    (folder / f"{photo.id}.jpg").mkdir(parents=True)  # the rename into place will fail
    (folder / f"{photo.id}.jpg" / "x").write_bytes(b"x")
    with pytest.raises(StoreError) as err:
        store.save([photo])
    assert err.value.status == 500 and "cannot save the photo" in str(err.value)
    assert [p.name for p in folder.iterdir()] == [f"{photo.id}.jpg"]


def test_a_sweep_deletes_old_photos_no_case_names_and_stale_temporary_files(data_dir):
    store = PhotoStore(data_dir)
    kept, orphan = store.put(noise_jpeg(1)), store.put(noise_jpeg(2))
    folder = data_dir / "photos" / orphan.id[:2]
    tmp = folder / f".{orphan.id}.jpg.123.abcd.tmp"
    tmp.write_bytes(b"half a photo")
    later = time.time() + SWEEP_GRACE_S + 60
    assert store.sweep([kept.id], now=time.time()) == []  # all still young
    assert store.sweep([kept.id], now=later) == [orphan.id]
    assert not tmp.exists()
    assert store.ids() == [kept.id] and len(stored_files(data_dir)) == 2
    assert store.read(kept.id, thumb=True)
    with pytest.raises(NotFound):
        store.read(orphan.id)


def test_saving_a_photo_again_saves_it_from_the_next_sweep(data_dir):
    store = PhotoStore(data_dir)
    ref = store.put(noise_jpeg(1))
    path = data_dir / "photos" / ref.id[:2] / f"{ref.id}.jpg"
    long_ago = time.time() - 2 * SWEEP_GRACE_S
    os.utime(path, (long_ago, long_ago))
    store.put(noise_jpeg(1))  # a new report with the same photo, its case not stored yet
    assert store.sweep([]) == []
    assert store.read(ref.id)


def test_a_sweep_waits_for_a_save_under_way(data_dir):
    store = PhotoStore(data_dir)
    ref = store.put(noise_jpeg(1))
    with store._locked(fcntl.LOCK_SH):  # a save holding the shared lock
        swept = []
        sweeper = threading.Thread(
            target=lambda: swept.append(store.sweep([], now=time.time() + 2 * SWEEP_GRACE_S)))
        sweeper.start()
        sweeper.join(0.2)
        assert sweeper.is_alive() and store.read(ref.id)
    sweeper.join(5)
    assert swept == [[ref.id]]


# -- kill -9 -------------------------------------------------------------------------------

def run_and_kill(data_dir, run, rng):
    """Save photos in a child, SIGKILL it at a random moment; the ids it acknowledged."""
    child = subprocess.Popen([sys.executable, str(HERE / "photomaker.py"), str(data_dir), str(run)],
                             stdout=subprocess.PIPE, text=True)
    acked, target = [], rng.randint(3, 25)
    try:
        assert child.stdout.readline() == "ready\n"
        for line in child.stdout:
            acked.append(line.rstrip("\n"))
            if len(acked) >= target:
                threading.Event().wait(rng.uniform(0, 0.01))  # somewhere inside put()
                break
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        rest = child.stdout.read().split("\n")[:-1]  # a last line without newline is not acked
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL, "the child died before it was killed"
    return acked + rest


def test_acknowledged_photos_survive_kill_9(data_dir):
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    acked = []
    for run in range(3):
        acked += run_and_kill(data_dir, run, rng)
        store = PhotoStore(data_dir)
        for photo_id in acked:
            full = store.read(photo_id)
            assert hashlib.sha256(full).hexdigest() == photo_id, f"torn photo (seed {seed})"
            for data in (full, store.read(photo_id, thumb=True)):
                with Image.open(io.BytesIO(data)) as img:
                    img.load()
        for photo_id in store.ids():  # whatever is in place is whole, acknowledged or not
            assert hashlib.sha256(store.read(photo_id)).hexdigest() == photo_id
    assert len(acked) >= 3 * 3 and len(set(acked)) == len(acked)
    # a photo put in place but not acknowledged (killed before its thumbnail or the
    # folder's fsync) names no case: the sweep takes it, and any temporary file
    before = store.ids()
    removed = store.sweep(acked, now=time.time() + 2 * SWEEP_GRACE_S)
    assert removed == sorted(set(before) - set(acked)) and store.ids() == sorted(acked)
    assert not [p for p in (data_dir / "photos").rglob(".*") if p.name != ".lock"]


def test_a_full_disk_is_a_503_and_leaves_no_file_behind(small_disk):
    store = PhotoStore(small_disk.path)
    photo = process(noise_jpeg(5, (800, 600)))
    small_disk.fill()
    with pytest.raises(DiskFull):
        store.save([photo])
    assert [p.name for p in (small_disk.path / "photos").rglob("*") if p.is_file()] == [".lock"]
    small_disk.free()
    assert store.save([photo])[0].id == photo.id
    assert store.read(photo.id) == photo.jpeg
