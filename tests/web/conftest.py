"""Fixtures for the web layer: the app over a temporary data folder, and a
real gunicorn server with a real headless Chromium for browser tests."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gridmap.web import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def app(tmp_path):
    return create_app({"DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def client(app):
    return app.test_client()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``gridmap serve`` in a subprocess on a free port (real gunicorn)."""

    def __init__(self, data_dir, **env):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(data_dir).parent / f"server-{self.port}.log"
        environ = dict(os.environ, GRIDMAP_DATA_DIR=str(data_dir),
                       GRIDMAP_TILES=f"{self.url}/test-tiles/{{z}}/{{x}}/{{y}}.png", **env)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gridmap.cli", "serve", "--port", str(self.port),
                 "--workers", "1"], env=environ, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                urllib.request.urlopen(self.url + "/api/grids", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def start_server():
    """Start ``LiveServer``s on demand; all are stopped after the module."""
    servers = []

    def start(data_dir, **env):
        servers.append(LiveServer(data_dir, **env))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def live_server(start_server, tmp_path_factory):
    return start_server(tmp_path_factory.mktemp("live") / "data")


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
