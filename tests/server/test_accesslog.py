"""Secrets in request lines and Referers are cut to their first two characters."""

import pytest

from gridmap.server.accesslog import line, mask

CODE = "7K3QD-M9XTA"


@pytest.mark.parametrize("text, masked", [
    (f"GET /api/track/{CODE} HTTP/1.1", "GET /api/track/7K*** HTTP/1.1"),
    (f"POST /api/track/{CODE}/rating HTTP/1.1", "POST /api/track/7K***/rating HTTP/1.1"),
    (f"GET /track/{CODE.lower()}?lang=en HTTP/1.1", "GET /track/7k***?lang=en HTTP/1.1"),
    (f"GET /track/{CODE[:4]} HTTP/1.1", "GET /track/7K*** HTTP/1.1"),  # a mistyped code too
    (f"GET /open311/v2/tokens/{CODE}.xml HTTP/1.1", "GET /open311/v2/tokens/7K***.xml HTTP/1.1"),
    (f"GET /track?code={CODE}&lang=en HTTP/1.1", "GET /track?code=7K***&lang=en HTTP/1.1"),
    ("GET /open311/v2/requests.json?api_key=k-123456 HTTP/1.1",
     "GET /open311/v2/requests.json?api_key=k-*** HTTP/1.1"),
    (f"http://example.org/x?other={CODE}", "http://example.org/x?other=7K***"),
    (f"GET /track/{CODE[:5]}%2D{CODE[6:]} HTTP/1.1", "GET /track/7K*** HTTP/1.1"),
    ("GET /api/health HTTP/1.1", "GET /api/health HTTP/1.1"),
    ("GET /grid/500114005001001 HTTP/1.1", "GET /grid/500114005001001 HTTP/1.1"),
])
def test_mask(text, masked):
    assert mask(text) == masked


def test_a_line_cannot_be_forged_and_keeps_no_secret():
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/track/{CODE}", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "192.0.2.1", "HTTP_REFERER": f"http://x/track/{CODE}",
               "HTTP_USER_AGENT": 'evil"\n127.0.0.1 - - "GET /'}
    text = line(environ, 200, 10, 0.0012, 0)
    assert "\n" not in text and CODE not in text and CODE[2:] not in text
    assert text.startswith('192.0.2.1 - - [') and '"GET /track/7K*** HTTP/1.1" 200 10' in text
    assert text.endswith('"evil\\"\\n127.0.0.1 - - \\"GET /" 1.2ms')
