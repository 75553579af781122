"""open_private and private_folder: owner-only modes whatever the umask or what was there."""

import os
import stat

from gridmap.private_files import make_tree_private, open_private, private_folder


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_files_and_folders_are_private_under_umask_0(tmp_path):
    old = os.umask(0)
    try:
        os.close(open_private(tmp_path / "f", os.O_WRONLY))
        private_folder(tmp_path / "a" / "b", parents=True)
    finally:
        os.umask(old)
    assert (mode(tmp_path / "f"), mode(tmp_path / "a"), mode(tmp_path / "a" / "b")) == (
        0o600, 0o700, 0o700)


def test_existing_ones_lose_only_the_bits_of_others(tmp_path):
    (tmp_path / "open").write_text("x")
    (tmp_path / "sealed").write_text("x")
    (tmp_path / "dir").mkdir()
    os.chmod(tmp_path / "open", 0o666)
    os.chmod(tmp_path / "sealed", 0o444)
    os.chmod(tmp_path / "dir", 0o777)
    os.close(open_private(tmp_path / "open", os.O_RDWR))
    os.close(open_private(tmp_path / "sealed", os.O_RDONLY))
    private_folder(tmp_path / "dir")
    assert (mode(tmp_path / "open"), mode(tmp_path / "sealed"), mode(tmp_path / "dir")) == (
        0o600, 0o400, 0o700)
    assert (tmp_path / "open").read_text() == "x"


def test_a_tree_is_narrowed_without_following_links(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours to change")
    tree = tmp_path / "data"
    (tree / "cases").mkdir(parents=True)
    (tree / "cases" / "cases.geojson").write_text("{}")
    (tree / "link").symlink_to(outside)
    for path in (outside, tree / "cases" / "cases.geojson"):
        os.chmod(path, 0o644)
    for path in (tree, tree / "cases"):
        os.chmod(path, 0o755)
    assert make_tree_private(tree) == 3
    assert (mode(tree), mode(tree / "cases"), mode(tree / "cases" / "cases.geojson")) == (
        0o700, 0o700, 0o600)
    assert mode(outside) == 0o644
    assert make_tree_private(tree) == 0
