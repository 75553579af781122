"""A thread that runs fsyncs for a process while its requests go on.

Lighter than ``concurrent.futures``: a request thread hands over a call and
gets a :class:`Ticket`, whose wait is one C-level lock; the thread takes
calls from a ``SimpleQueue``. Little Python runs between a hand-over and
the fsync, so the request thread gets the GIL back quickly.
"""

import queue
import threading


class Ticket:
    """The outcome of one handed-over call."""

    __slots__ = ("_done", "error")

    def __init__(self):
        self._done = threading.Lock()
        self._done.acquire()
        self.error = None

    def wait(self):
        """Block until the call has run; raise what it raised."""
        self._done.acquire()
        self._done.release()  # a second wait returns at once
        if self.error is not None:
            raise self.error


class Syncer:
    """One daemon thread running handed-over calls in order.

    Parameters
    ----------
    name : str
        The thread's name.
    """

    def __init__(self, name):
        self._queue = queue.SimpleQueue()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn, *args):
        """Run ``fn(*args)`` in the thread; returns its Ticket. RuntimeError once shut down."""
        if self._stopped:
            raise RuntimeError("the syncer thread was shut down")
        ticket = Ticket()
        self._queue.put((fn, args, ticket))
        return ticket

    def shutdown(self):
        """Run what was handed over, then stop the thread (callers serialise this
        with their submits)."""
        self._stopped = True
        self._queue.put(None)
        self._thread.join()

    def _run(self):
        while (item := self._queue.get()) is not None:
            fn, args, ticket = item
            try:
                fn(*args)
            except BaseException as exc:  # handed to the waiter
                ticket.error = exc
            finally:
                ticket._done.release()
