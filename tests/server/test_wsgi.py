"""``WSGIRequests`` on a real tornado HTTPServer in a thread: a slow reader gets
its whole answer within the write timeout, and one that reads nothing is let go."""

import asyncio
import socket
import threading
import time

import pytest
import tornado.httpserver

from gridmap.server.wsgi import WSGIRequests

BIG = 24 * 1024 * 1024  # more than the kernel buffers on both sides of a loopback socket


def big_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [b"x" * BIG]


def failing_app(environ, start_response):
    raise RuntimeError("boom")


class Quiet:
    def info(self, line):
        pass


@pytest.fixture
def serve():
    """``serve(write_timeout_s)`` → port of a server running ``big_app``."""
    loops = []

    def start(write_timeout_s, app=big_app):
        ready = threading.Event()
        box = {}

        def run():
            async def main():
                server = tornado.httpserver.HTTPServer(
                    WSGIRequests(app, lambda method, path, content_type: 1024, write_timeout_s, Quiet()))
                sock = socket.socket()
                sock.bind(("127.0.0.1", 0))
                sock.listen(8)
                sock.setblocking(False)
                server.add_socket(sock)
                box["port"], box["stop"] = sock.getsockname()[1], asyncio.Event()
                loops.append((asyncio.get_running_loop(), box["stop"]))
                ready.set()
                await box["stop"].wait()
                server.stop()

            asyncio.run(main())

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        ready.wait(5)
        return box["port"]

    yield start
    for loop, stop in loops:
        loop.call_soon_threadsafe(stop.set)


def ask(port):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return s


def read_all(s):
    got = 0
    try:
        while chunk := s.recv(1 << 20):
            got += len(chunk)
    except ConnectionResetError:
        pass
    return got


def test_a_reader_that_pauses_gets_the_whole_answer(serve):
    s = ask(serve(write_timeout_s=5))
    time.sleep(0.5)  # nothing read yet: most of the answer waits in the server's buffer
    s.settimeout(5)
    head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert len(head) + read_all(s) - head.index(b"\r\n\r\n") - 4 >= BIG
    s.close()


def test_a_reader_that_takes_nothing_is_let_go(serve):
    s = ask(serve(write_timeout_s=0.5))
    time.sleep(1.5)  # past the write timeout: the server has closed the connection
    s.settimeout(5)
    assert read_all(s) < BIG
    s.close()


def test_an_app_that_fails_gets_a_500_not_a_dropped_connection(serve, caplog):
    with socket.create_connection(("127.0.0.1", serve(5, app=failing_app)), timeout=5) as s:
        s.sendall(b"GET /track/7K3QD-M9XTA HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 500 ")
    assert "the app failed on /track/7K***" in caplog.text and "M9XTA" not in caplog.text
