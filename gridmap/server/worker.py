"""The gunicorn worker ``gridmap serve`` runs: tornado's HTTP server, requests buffered.

gunicorn's own ``TornadoWorker`` with tornado's limits set from the app's
configuration, the app called through ``wsgi.WSGIRequests`` (each request read
whole before the app runs; answers logged with secrets masked), and a
graceful stop that lets answers already written reach their clients.

Limits (a body as big as the app takes on its route: ``web/uploads.py``;
``CLIENT_TIMEOUT_SECONDS`` = T, 20 s by default): a request's headers must
arrive within T of the connection's start or of the previous answer (so an
idle kept-alive connection closes after T too); its body within 3 T; a client
gets 3 T to take its answer. Headers over 64 KiB close the connection; a
malformed request gets tornado's bare 400.
"""

import errno
import resource
import time

import tornado.httpserver
from gunicorn.workers.gtornado import TornadoWorker
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.iostream import IOStream

from gridmap.errors import GridmapError
from gridmap.photos.sweeper import CHECK_EVERY_S
from gridmap.server.wsgi import WSGIRequests

MAX_HEADER_BYTES = 64 * 1024
#: bodies above the app's limit are read and dropped, not kept; beyond this
#: tornado refuses them outright (a bare 400) instead
MAX_BODY_BYTES = 1 << 40


class BufferingWorker(TornadoWorker):
    """A gunicorn worker on tornado's event loop; the app gets only whole requests."""

    def run(self):
        self.ioloop = IOLoop.current()
        # not alive = True (as gunicorn's TornadoWorker does): a SIGTERM while the
        # app loaded has already said to stop
        self.server_alive = False
        self.stopping_since = None
        self.callbacks = [PeriodicCallback(self.watchdog, 1000),
                          PeriodicCallback(self.heartbeat, 1000),
                          PeriodicCallback(self.sweep_photos, CHECK_EVERY_S * 1000)]
        for callback in self.callbacks:
            callback.start()
        self.ioloop.add_callback(self.sweep_photos)  # at start too: a crash may have left some

        config = self.wsgi.config
        timeout = config["CLIENT_TIMEOUT_SECONDS"]
        self.requests = WSGIRequests(self.wsgi,
                                     body_limit=self.wsgi.extensions["gridmap.body_limit"],
                                     write_timeout_s=3 * timeout,
                                     access_log=self.log.access_log)
        worker = self

        class Server(tornado.httpserver.HTTPServer):
            def on_close(self, server_conn):
                worker.handle_request()  # counts towards gunicorn's max_requests
                super().on_close(server_conn)

        self.server = Server(self.requests, no_keep_alive=self.cfg.keepalive <= 0,
                             max_header_size=MAX_HEADER_BYTES, idle_connection_timeout=timeout,
                             body_timeout=3 * timeout, max_body_size=MAX_BODY_BYTES)
        # each slow client holds a descriptor: allow as many as the hard limit lets
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        self.server_alive = True
        for sock in self.sockets:
            sock.setblocking(False)
            self.ioloop.add_handler(sock, self.accept, IOLoop.READ)
        self.ioloop.start()

    def accept(self, sock, events):
        """Take one connection per turn of the loop (tornado's own handler takes all that
        wait): the workers share the listening socket, and one that is busy running the
        app leaves the next connection to an idle one."""
        if not self.server_alive:
            return
        try:
            conn, address = sock.accept()
        except (BlockingIOError, ConnectionAbortedError):
            return  # another worker took it, or the client left
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE):
                raise
            # out of file descriptors: leave new connections to the other workers (or
            # the backlog) for a second instead of spinning on them
            self.log.warning("worker %s: no file descriptor left for a new connection (%s)",
                             self.pid, exc.strerror)
            self.ioloop.remove_handler(sock)
            self.ioloop.call_later(1, self._listen_again, sock)
            return
        self.server.handle_stream(IOStream(conn), address)

    def _listen_again(self, sock):
        if self.server_alive:
            self.ioloop.add_handler(sock, self.accept, IOLoop.READ)

    def sweep_photos(self):
        """Delete photos no case names, if no worker did today (``photos/sweeper.py``).
        It runs between requests, on the loop's thread, like a request."""
        try:
            removed = self.wsgi.extensions["gridmap.photo_sweep"]()
        except (GridmapError, OSError) as exc:
            self.log.error("worker %s: the photo sweep failed: %s", self.pid,
                           getattr(exc, "message", exc))
            return
        if removed is not None:
            self.log.info("worker %s: swept %d photos that no case names", self.pid, len(removed))

    def heartbeat(self):
        """Once stopped (SIGTERM, a changed parent, max_requests): accept no more, then
        end once every answer written has been taken, or after ``graceful_timeout``."""
        if self.alive:
            return
        if self.server_alive:
            for sock in self.sockets:
                self.ioloop.remove_handler(sock)
            self.server_alive = False
            self.stopping_since = time.monotonic()
        waited = time.monotonic() - self.stopping_since
        if self.requests.unsent and waited < self.cfg.graceful_timeout:
            return
        for callback in self.callbacks:
            callback.stop()
        self.ioloop.stop()
