"""Known-device cookies: signed, per account and password, expiring, a new nonce at each
sign-in."""

from gridmap.auth.devices import DEVICE_DAYS, MAX_ACCOUNTS, known_device, read_devices, remember_device

KEY, NOW, STAMP = "a secret key", 1_750_000_000.0, "0123456789abcdef"


def test_a_device_is_known_for_its_days_then_forgotten():
    value, nonce = remember_device(KEY, None, "alice", STAMP, NOW)
    assert read_devices(KEY, value, NOW + DEVICE_DAYS * 86400 - 1) == {"alice": (nonce, STAMP)}
    assert read_devices(KEY, value, NOW + DEVICE_DAYS * 86400) == {}
    assert read_devices(KEY, value, NOW - 1) == {}  # issued in the future: not ours
    assert read_devices("another key", value, NOW) == {}


def test_a_device_is_known_only_with_the_password_it_signed_in_with():
    value, nonce = remember_device(KEY, None, "alice", STAMP, NOW)
    assert known_device(KEY, value, "alice", STAMP, NOW + 1) == nonce
    assert known_device(KEY, value, "alice", "fedcba9876543210", NOW + 1) is None  # reset since
    assert known_device(KEY, value, "alice", None, NOW + 1) is None  # no such account (any more)
    assert known_device(KEY, value, "bob", STAMP, NOW + 1) is None


def test_each_sign_in_renews_its_account_and_keeps_the_latest_others():
    value, first = remember_device(KEY, None, "alice", STAMP, NOW)
    value, again = remember_device(KEY, value, "alice", "new stamp", NOW + 10)
    assert again != first and read_devices(KEY, value, NOW + 10) == {"alice": (again, "new stamp")}
    for i in range(MAX_ACCOUNTS + 2):
        value, _ = remember_device(KEY, value, f"user{i}", STAMP, NOW + 20 + i)
    known = read_devices(KEY, value, NOW + 100)
    assert len(known) == MAX_ACCOUNTS and "alice" not in known and f"user{MAX_ACCOUNTS + 1}" in known
    assert len(value) < 1800  # well inside a browser's 4 KB per cookie


def test_garbage_is_no_device():
    for value in (None, "", ".", "abc", "e30.0", "!!!.zz", "\udcff.x", "a" * 5000):
        assert read_devices(KEY, value, NOW) == {}
