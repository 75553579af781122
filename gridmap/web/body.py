"""Request bodies are read whole or refused with a 400, whatever the WSGI server.

:func:`guard` wraps the WSGI app and the server's ``wsgi.input``, so a view
reading the body (``request.get_data()``, ``request.form``) sees our errors
instead of the server's:

- any error the server's stream raises (gunicorn's ``InvalidChunkSize``,
  ``ChunkMissingTerminator``, ``InvalidHeader`` for a bad chunk size,
  extension or terminator; another server's own) is a 400 ``malformed_body``;
  a connection reset or a read timeout (``OSError``) a 400 ``incomplete_body``;
- a body that ends before its ``Content-Length`` (the client half-closed or
  the connection dropped) is a 400 ``incomplete_body`` too: gunicorn hands the
  short body over as if it were whole, and Werkzeug cannot tell.

Nothing is stored: every view reads its whole body before it writes.
"""

import logging

from gridmap.errors import GridmapError

log = logging.getLogger(__name__)


class MalformedBody(GridmapError):
    """A request body the server could not decode, e.g. a bad chunked encoding (HTTP 400).

    Not a ``ValueError`` (as :class:`~gridmap.errors.BadInput` is): Werkzeug's form
    parser would take it for a parse error and hand the view an empty form.
    """

    status = 400
    code = "malformed_body"


class IncompleteBody(MalformedBody):
    """A request body that stopped before its end (HTTP 400)."""

    code = "incomplete_body"


def _malformed():
    return MalformedBody("error.body.malformed", field="body")


def _incomplete(message, **params):
    return IncompleteBody(message, field="body", **params)


class GuardedInput:
    """``wsgi.input`` whose read errors are ours, and which knows where the body must end.

    Parameters
    ----------
    stream : file-like
        The server's input stream.
    length : int or None
        The ``Content-Length``; None for a chunked body (the server finds its end).
    """

    def __init__(self, stream, length):
        self._stream, self._left = stream, length

    def _read(self, method, args):
        try:
            data = method(*args)
        except GridmapError:
            raise
        except OSError as exc:  # reset, timed out: the body stopped coming
            log.info("request body unreadable: %r", exc)
            raise _incomplete("error.body.connection_dropped") from exc
        except Exception as exc:  # the server's parser refused it: whatever the server
            log.info("request body unreadable: %r", exc)
            raise _malformed() from exc
        if self._left is not None:
            wanted = not args or args[0] is None or args[0] != 0
            if not data and wanted and self._left > 0:
                raise _incomplete("error.body.short", missing=self._left)
            self._left -= len(data)
        return data

    def read(self, *args):
        return self._read(self._stream.read, args)

    def readline(self, *args):
        return self._read(self._stream.readline, args)

    def readlines(self, hint=-1):
        lines, total = [], 0
        for line in self:
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        while line := self.readline():
            yield line


def _content_length(environ):
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return None
    raw = environ.get("CONTENT_LENGTH", "")
    return int(raw) if raw.isascii() and raw.isdigit() else None


def guard(wsgi_app):
    """``wsgi_app`` reading every request body through a :class:`GuardedInput`."""

    def guarded(environ, start_response):
        if "CONTENT_LENGTH" in environ or "HTTP_TRANSFER_ENCODING" in environ:
            environ["wsgi.input"] = GuardedInput(environ["wsgi.input"], _content_length(environ))
        return wsgi_app(environ, start_response)

    return guarded
