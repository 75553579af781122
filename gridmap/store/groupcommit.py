"""Group commit: the threads of one process share one write and one fsync.

A thread hands its operation to :meth:`GroupCommit.submit`. If no commit is
running, it leads: it takes every operation queued so far and commits them
with one call of ``commit(batch)``. Threads arriving meanwhile queue up and
wait; when the leader is done, the first of them leads the next batch. A
batch thus grows by itself while an fsync runs, and a lone thread pays
nothing for the queue (no Event is made for it).
"""

import threading


class Op:
    """A queued operation; ``commit`` sets ``result`` or ``error`` on each."""

    __slots__ = ("done", "lead", "result", "error")

    def __init__(self):
        self.done, self.lead, self.result, self.error = None, False, None, None


class GroupCommit:
    """Batch operations of concurrent threads into calls of ``commit(batch)``.

    Parameters
    ----------
    commit : callable
        ``commit(list of Op)``; sets ``result`` or ``error`` on every op and
        returns when they are durable (or, for ops that defer it, when their
        fsync is under way).
    """

    def __init__(self, commit):
        self._commit = commit
        self._lock = threading.Lock()
        self._queue, self._leading = [], False

    def submit(self, op):
        """Commit ``op`` (with whatever else is queued); returns it, or raises its error."""
        with self._lock:
            self._queue.append(op)
            lead, self._leading = not self._leading, True
            if not lead:
                op.done = threading.Event()
        if not lead:
            op.done.wait()
            lead = op.lead and op.result is None and op.error is None
        if lead:
            self._lead()
        if op.error is not None:
            raise op.error
        return op

    def _lead(self):
        batch = []
        try:
            with self._lock:
                batch, self._queue = self._queue, []
            self._commit(batch)
        finally:
            for op in batch:
                if op.result is None and op.error is None:
                    op.error = RuntimeError("commit ended without an outcome")
                if op.done is not None:
                    op.done.set()
            with self._lock:
                if self._queue:  # hand the lead to the first who came meanwhile
                    successor = self._queue[0]
                    successor.lead = True
                    successor.done.set()
                else:
                    self._leading = False
