"""The access log: one line per answer in gunicorn's default format, secrets masked.

A tracking code is a resident's only key to their case (and its rating), and
an Open311 ``api_key`` a client's: neither may land in a log. Wherever one can
appear in a request line or a Referer (``/track/<code>``,
``/api/track/<code>[/rating]``, ``/open311/v2/tokens/<code>.json``,
``?code=``, ``?token=``, ``?api_key=``, or any code-shaped word), only its
first two characters are kept: ``/track/AB***``.
"""

import re
import time

KEEP = 2
#: the path segment after these is a secret
SECRET_SEGMENT = re.compile(r"(?<=/track/)[^/?#.\s\"]+|(?<=/tokens/)[^/?#.\s\"]+", re.IGNORECASE)
#: query parameters whose value is a secret
SECRET_PARAM = re.compile(r"(?<=[?&;])((?:code|token|api_key|api%5fkey)=)([^&#\s\"]*)",
                          re.IGNORECASE)
#: a tracking code anywhere (5 + 5 characters of its alphabet, any case, "-" maybe encoded)
CODE_SHAPED = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{5}(?:-|%2d)[0-9A-Za-z]{5}(?![0-9A-Za-z])",
                         re.IGNORECASE)


def _hide(secret):
    return secret[:KEEP] + "***" if secret else secret


def mask(text):
    """``text`` (a request line, a URL) with every secret cut to its first characters."""
    text = SECRET_SEGMENT.sub(lambda m: _hide(m.group(0)), text)
    text = SECRET_PARAM.sub(lambda m: m.group(1) + _hide(m.group(2)), text)
    return CODE_SHAPED.sub(lambda m: _hide(m.group(0)), text)


def line(environ, status, size, duration_s, started):
    """One access line: ``host - - [time] "request" status bytes "referer" "agent" ms``."""
    request = (f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} "
               f"{environ['SERVER_PROTOCOL']}")
    when = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(started))
    return (f'{environ["REMOTE_ADDR"]} - - [{when}] "{_printable(mask(request))}" {status} '
            f'{size} "{_printable(mask(environ.get("HTTP_REFERER", "-")))}" '
            f'"{_printable(environ.get("HTTP_USER_AGENT", "-"))}" {duration_s * 1000:.1f}ms')


def _printable(text):
    """No control characters or quotes a client could use to forge a line or a field."""
    return text.encode("unicode_escape").decode("ascii").replace('"', '\\"')
