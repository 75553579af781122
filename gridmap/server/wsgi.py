"""A WSGI app behind tornado's HTTP/1.1 server, each request read whole first.

Tornado reads a request's headers and body asynchronously; only a complete
request reaches the app, which runs on the event loop's thread, one request at
a time per process (as gunicorn's sync workers do: the app needs no thread
safety). A client that sends slowly, or reads its answer slowly, costs a file
descriptor and its buffers, never a worker.

A body larger than the app's limit for its route (``MAX_CONTENT_LENGTH``, more
on the routes that take photos: ``body_limit``) is read and dropped: the
app then sees its true ``CONTENT_LENGTH`` and an empty stream, and answers its
own 413 (the client has sent all it wanted to, so it reads the answer rather
than a reset connection). A chunked body reaches the app whole, with its
length, like any other.
"""

import io
import logging
import sys
import time
from datetime import timedelta
from urllib.parse import unquote_to_bytes

from tornado import gen, httputil, iostream
from tornado.ioloop import IOLoop

from gridmap.server import accesslog

log = logging.getLogger(__name__)

#: request headers the WSGI environ takes apart from the HTTP_* ones
BODY_HEADERS = ("Content-Length", "Content-Type", "Transfer-Encoding")
NO_BODY_STATUS = frozenset((204, 304))
MAX_URI_BYTES = 8190  # gunicorn's limit for the request line, about
URI_TOO_LONG = ("414 URI Too Long", [("Content-Type", "text/plain; charset=utf-8")],
                "请求地址过长 / request URI too long\n".encode())


class WSGIRequests(httputil.HTTPServerConnectionDelegate):
    """Tornado's request callback: buffers each request, then runs ``app`` on it.

    Parameters
    ----------
    app : WSGI callable
    body_limit : callable
        ``body_limit(method, path, content_type)``: the body bytes kept for a request
        to ``path`` (URL-decoded, without the query); the app's own limit for that
        route and type (it answers 413 above it).
    write_timeout_s : float
        A client that has not taken a whole answer this long after it was
        written is disconnected.
    access_log : logging.Logger
        Gets one line per answer, secrets masked (``accesslog.line``).
    """

    def __init__(self, app, body_limit, write_timeout_s, access_log):
        self.app = app
        self.body_limit = body_limit
        self.write_timeout_s = write_timeout_s
        self.access_log = access_log
        self.unsent = 0  # answers written but not yet taken by their clients

    def start_request(self, server_conn, request_conn):
        return _Request(self, request_conn)

    def respond(self, request):
        """Run the app on a complete request and write its answer."""
        started = time.time()
        environ = request.environ()
        try:
            if len(request.start_line.path) > MAX_URI_BYTES:
                status, headers, body = URI_TOO_LONG
            else:
                status, headers, body = _call(self.app, environ)
        except Exception:  # the server's last line: log it, answer 500, go on
            log.exception("the app failed on %s", accesslog.mask(environ.get("RAW_URI", "")))
            status, headers, body = "500 Internal Server Error", [], b""
        code = int(status.split(" ", 1)[0])
        answer = httputil.HTTPHeaders()
        for name, value in headers:
            answer.add(name, value)
        if code not in NO_BODY_STATUS and code >= 200 and "Content-Length" not in answer:
            answer["Content-Length"] = str(len(body))
        if "Date" not in answer:
            answer["Date"] = httputil.format_timestamp(started)
        if request.method == "HEAD":
            body = b""
        conn = request.connection
        written = conn.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", code, status.split(" ", 1)[-1]), answer,
            chunk=body or None)
        conn.finish()
        self.access_log.info(accesslog.line(environ, code, len(body), time.time() - started,
                                            started))
        self.unsent += 1
        IOLoop.current().spawn_callback(self._deliver, conn, written)

    async def _deliver(self, conn, written):
        try:
            await gen.with_timeout(timedelta(seconds=self.write_timeout_s), written,
                                   quiet_exceptions=iostream.StreamClosedError)
        except TimeoutError:  # a reader too slow to take its answer: let it go
            conn.close()
        except iostream.StreamClosedError:
            pass  # the client left before taking it all
        finally:
            self.unsent -= 1


def _call(app, environ):
    """``(status, headers, body)`` of the app's answer, its iterable read whole."""
    answer = {}

    def start_response(status, headers, exc_info=None):
        if exc_info and answer:
            raise exc_info[1].with_traceback(exc_info[2])
        answer["status"], answer["headers"] = status, headers
        return chunks.append

    chunks = []
    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return answer["status"], answer["headers"], b"".join(chunks)


class _Request(httputil.HTTPMessageDelegate):
    """One request as it arrives: its start line, headers and (bounded) body."""

    def __init__(self, server, connection):
        self.server = server
        self.connection = connection
        self.start_line = self.headers = None
        self.chunks = []
        self.size = 0

    @property
    def method(self):
        return self.start_line.method

    def headers_received(self, start_line, headers):
        self.start_line, self.headers = start_line, headers
        path = unquote_to_bytes(start_line.path.partition("?")[0]).decode("utf-8", "replace")
        self.limit = self.server.body_limit(start_line.method, path, headers.get("Content-Type"))

    def data_received(self, chunk):
        self.size += len(chunk)
        if self.size <= self.limit:
            self.chunks.append(chunk)
        else:  # the app answers 413 from the length alone
            self.chunks.clear()

    def finish(self):
        self.server.respond(self)

    def on_connection_close(self):
        self.chunks = None

    def environ(self):
        """The WSGI environ (PEP 3333), as gunicorn builds it."""
        uri = self.start_line.path
        path, _, query = uri.partition("?")
        context = self.connection.context
        host, _, port = (self.headers.get("Host") or "").rpartition(":")
        if not port.isdigit() or "]" in port:
            host, port = self.headers.get("Host") or "localhost", "80"
        body = b"".join(self.chunks)
        environ = {
            "REQUEST_METHOD": self.start_line.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": uri,
            "REQUEST_URI": uri,
            "SERVER_PROTOCOL": self.start_line.version,
            "SERVER_NAME": host,
            "SERVER_PORT": port,
            "REMOTE_ADDR": context.remote_ip,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": context.protocol,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if isinstance(context.address, tuple):
            environ["REMOTE_PORT"] = str(context.address[1])
        if "Content-Type" in self.headers:
            environ["CONTENT_TYPE"] = self.headers["Content-Type"]
        if self.size or "Content-Length" in self.headers:  # the body as read, de-chunked
            environ["CONTENT_LENGTH"] = str(self.size)
        for name in self.headers:
            # a name with "_" would pass for one with "-" (X_Forwarded_For): dropped, as gunicorn does
            if name in BODY_HEADERS or "_" in name:
                continue
            environ["HTTP_" + name.upper().replace("-", "_")] = ", ".join(
                self.headers.get_list(name))
        return environ
