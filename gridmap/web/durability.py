"""A request's answer leaves only once its writes are on disk.

For every method that may write (all but GET, HEAD and OPTIONS) the case
store runs in ``deferred_sync`` mode from the start of the request: a write
returns once its record is appended and visible, its fsync runs in the
store's syncer thread while the request goes on (duplicate hints, the
answer, the other response hooks), and the last response hook waits for it.
If the fsync failed, the answer becomes a 500 instead: nothing is
acknowledged before it is durable, and the disk and the CPU work at once.

A request that may write is refused with a 503 (``disk_full``) before it
starts when a disk of the data folder is (nearly) full
(:func:`refuse_without_room`): it is never left halfway.
"""

from flask import current_app, g, request

from gridmap.errors import GridmapError
from gridmap.web import errors, security

READ_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))


def _begin():
    if request.method not in READ_METHODS:
        block = current_app.extensions["gridmap.cases"].store.deferred_sync()
        block.__enter__()
        g.deferred_sync = block


def refuse_without_room():
    """Before a request that may write (after its caller is known): 503 if a disk is full."""
    if request.method not in READ_METHODS:
        current_app.extensions["gridmap.disks"].check_room()


def flush():
    """Wait now until this request's writes are on disk (StoreError if they cannot be):
    before recording or telling anyone what they did. Later writes defer again."""
    block = g.pop("deferred_sync", None)
    if block is not None:
        block.__exit__(None, None, None)
        _begin()


def _finish(response):
    block = g.pop("deferred_sync", None)
    if block is not None:
        try:
            block.__exit__(None, None, None)  # waits for the fsyncs
        except GridmapError as exc:  # a failed fsync: say so instead
            return security.add_headers(errors.error_response(exc))
    return response


def _end(exc):
    block = g.pop("deferred_sync", None)  # only when the response hooks never ran
    if block is not None:  # with an exception: forget the syncs; without: wait for them
        block.__exit__(type(exc) if exc else None, exc, None)


def init_app(app):
    """Register first: its response hook must run after all the others."""
    app.before_request(_begin)
    app.after_request(_finish)
    app.teardown_request(_end)
