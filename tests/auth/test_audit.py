"""AuditLog: append-only JSON Lines shared by processes."""

import json
from datetime import datetime

import pytest

from gridmap.audit import ACTIONS, AUDIT_FILE, AuditLog
from gridmap.errors import BadInput, DiskFull


class TickingClock:
    def __init__(self, t=1_750_000_000.0):
        self.t = t

    def __call__(self):
        self.t += 1  # every entry one second after the last
        return self.t


@pytest.fixture
def audit(tmp_path):
    return AuditLog(tmp_path / AUDIT_FILE, clock=TickingClock())


def test_record_writes_one_json_line(audit):
    entry = audit.record("signin", "alice", role="dispatcher", ip="10.0.0.7",
                         detail={"note": "第一次"})
    text = audit.path.read_text(encoding="utf-8")
    assert text.count("\n") == 1 and text.endswith("\n") and "第一次" in text
    assert json.loads(text) == entry
    assert list(entry) == ["at", "action", "actor", "role", "target", "detail", "ip"]
    at = datetime.fromisoformat(entry["at"])
    assert at.utcoffset().total_seconds() == 8 * 3600 and entry["at"].endswith("+08:00")
    assert audit.path.stat().st_mode & 0o777 == 0o600


def test_read_newest_first_with_filters_and_paging(audit):
    for i in range(10):
        audit.record("signin" if i % 2 else "signin_failed", f"user{i % 3}", target=str(i))
    assert [e["target"] for e in audit.read()] == [str(i) for i in range(9, -1, -1)]
    assert [e["target"] for e in audit.read(limit=3)] == ["9", "8", "7"]
    assert [e["target"] for e in audit.read(action="signin")] == ["9", "7", "5", "3", "1"]
    assert [e["target"] for e in audit.read(actor="user0")] == ["9", "6", "3", "0"]
    page = audit.read(limit=4)
    assert [e["target"] for e in audit.read(limit=4, before=page[-1]["at"])] == ["5", "4", "3", "2"]
    assert [e["target"] for e in audit.read(action="signin", actor="user1", limit=1)] == ["7"]
    assert [e["target"] for e in audit.read(limit=3, offset=3)] == ["6", "5", "4"]
    assert [e["target"] for e in audit.read(target="4")] == ["4"]
    assert [e["target"] for e in audit.read(action="signin", limit=2, offset=2)] == ["5", "3"]
    assert audit.read(offset=10) == []


def test_read_a_time_range_and_pages_of_entries_sharing_a_time(tmp_path):
    log = AuditLog(tmp_path / AUDIT_FILE, clock=lambda: 1_750_000_000.0)  # 2025-06-15T23:06:40+08
    for i in range(5):
        log.record("signin", "alice", target=str(i))
    log.clock = lambda: 1_750_000_000.0 + 3600  # the next day, local time
    log.record("signout", "alice", target="5")
    pages = [[e["target"] for e in log.read(limit=2, offset=n)] for n in (0, 2, 4)]
    assert pages == [["5", "4"], ["3", "2"], ["1", "0"]]  # none lost at a page's edge
    assert [e["target"] for e in log.read(since="2025-06-16T00:00:00")] == ["5"]  # +08:00
    assert [e["target"] for e in log.read(since="2025-06-15T23:06:40+08:00",
                                          before="2025-06-16")] == ["4", "3", "2", "1", "0"]
    with pytest.raises(BadInput, match="since must be an ISO 8601"):
        log.read(since="last week")
    for offset in (-1, True, "2"):
        with pytest.raises(BadInput, match="offset"):
            log.read(offset=offset)


def test_read_of_a_missing_log_is_empty(tmp_path):
    assert AuditLog(tmp_path / AUDIT_FILE).read() == []


def test_read_spans_many_blocks(audit):
    for i in range(300):
        audit.record("case_transition", "bot", target=f"case-{i}", detail={"pad": "x" * 500})
    found = audit.read(limit=1000)
    assert [e["target"] for e in found] == [f"case-{i}" for i in range(299, -1, -1)]


def test_torn_last_line_is_skipped_and_then_closed(audit):
    audit.record("signin", "alice")
    with open(audit.path, "ab") as f:
        f.write(b'{"at":"2025-01-01T00:00:00+08:00","action":"sig')  # a crash mid-write
    assert [e["actor"] for e in audit.read()] == ["alice"]
    audit.record("signout", "alice")
    lines = audit.path.read_bytes().split(b"\n")
    assert lines[1].startswith(b'{"at":"2025') and lines[-1] == b""
    assert [e["action"] for e in audit.read()] == ["signout", "signin"]


def test_only_torn_content(audit):
    audit.path.write_bytes(b'{"at": "2025')
    assert audit.read() == []


def test_bad_entries_are_refused(audit):
    with pytest.raises(BadInput, match="unknown audit action 'login'"):
        audit.record("login", "alice")
    with pytest.raises(BadInput, match="actor"):
        audit.record("signin", "")
    with pytest.raises(BadInput, match=r"detail\.new\.password"):
        audit.record("password_reset", "cli:root", detail={"new": {"password": "hunter2hunter2"}})
    with pytest.raises(BadInput, match="secrets"):
        audit.record("token_create", "cli:root", detail={"Secret": "gm_x"})
    assert not audit.path.exists()
    with pytest.raises(BadInput):
        audit.read(limit=0)
    with pytest.raises(BadInput, match="ISO 8601"):
        audit.read(before="yesterday")


def test_vocabulary_and_no_way_to_change_entries():
    assert {"signin", "signin_failed", "signout", "user_add", "user_disable", "user_enable",
            "password_reset", "roles_change", "user_rename", "token_create", "token_revoke",
            "case_transition", "case_forward", "case_photo", "boundary_publish", "boundary_rollback", "category_add",
            "category_change", "calendar_change"} == set(ACTIONS)
    public = {name for name in dir(AuditLog) if not name.startswith("_")}
    assert public == {"record", "read"}


def record_in_process(path, index, barrier, results):
    audit = AuditLog(path)
    barrier.wait(timeout=60)
    for i in range(50):
        audit.record("case_transition", f"worker{index}", target=f"{index}-{i}",
                     detail={"pad": "数据" * (i * 40)})
    results.put(index)


def test_processes_append_without_interleaving(tmp_path, run_in_processes):
    path = tmp_path / AUDIT_FILE
    assert sorted(run_in_processes(record_in_process, path)) == [0, 1, 2, 3]
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 201
    entries = [json.loads(line) for line in lines[:-1]]
    assert sorted(e["target"] for e in entries) == sorted(f"{w}-{i}" for w in range(4) for i in range(50))
    for w in range(4):  # each process's own entries stay in order
        mine = [e["target"] for e in entries if e["actor"] == f"worker{w}"]
        assert mine == [f"{w}-{i}" for i in range(50)]
    assert len(AuditLog(path).read(limit=500)) == 200


def test_a_full_disk_refuses_an_entry_whole_and_the_log_goes_on_after(small_disk):
    log = AuditLog(small_disk.path / AUDIT_FILE)
    log.record("signin", "alice")
    before = (small_disk.path / AUDIT_FILE).read_bytes()
    small_disk.fill()
    with pytest.raises(DiskFull) as refused:  # more than the file's last page holds
        log.record("user_add", "alice", target="bob", detail={"note": "x" * 8000})
    assert refused.value.status == 503
    assert (small_disk.path / AUDIT_FILE).read_bytes() == before  # no torn line
    small_disk.free()
    log.record("user_add", "alice", target="bob", detail={"note": "x" * 8000})
    assert [e["action"] for e in log.read()] == ["user_add", "signin"]
