"""Fixtures for the web layer: the app over a temporary data folder, and a
real gunicorn server with a real headless Chromium for browser tests."""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gridmap.web import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class EnglishClient(FlaskClient):
    """A test client whose requests ask for English (``Accept-Language: en``): API errors
    answer in it, so tests read their English text (pages keep ``?lang=``; the language
    choice itself is tested in test_api_language.py)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


Flask.test_client_class = EnglishClient  # every app the web tests make


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


def _die_with_parent():
    """In the child: get SIGKILL when the test process dies. A server in a session
    of its own escapes a kill of the test run's process group; its workers leave
    when they see their master gone."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class LiveServer:
    """``gridmap serve`` in a subprocess on a free port (real gunicorn).

    ``workers``, ``port`` and ``args`` go to ``gridmap serve``; with ``own_group`` the
    server runs in a session of its own, so :meth:`kill` takes down the
    master and every worker at once (``kill -9`` of the process group).
    The server's output goes to ``log_dir`` (default: beside the data folder).
    """

    def __init__(self, data_dir, workers=1, port=None, own_group=False, log_dir=None, args=(),
                 **env):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(log_dir or Path(data_dir).parent) / f"server-{self.port}-{time.monotonic_ns()}.log"
        environ = dict(os.environ, GRIDMAP_DATA_DIR=str(data_dir),
                       GRIDMAP_TILES=f"{self.url}/test-tiles/{{z}}/{{x}}/{{y}}.png")
        environ.update(env)  # e.g. another GRIDMAP_TILES
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gridmap.cli", "serve", "--port", str(self.port),
                 "--workers", str(workers), *args], env=environ, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=own_group, preexec_fn=_die_with_parent if own_group else None)
        self.own_group = own_group
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

    def kill(self):
        """SIGKILL the server (its whole process group if ``own_group``) and reap it."""
        if self.own_group:
            try:  # the workers too, even if the master is already gone
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        elif self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

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


@pytest.fixture
def grid_on_screen():
    """``(page, geometry) -> (x, y)``: where a grid's representative point is on the page
    (the map scrolled into view first: a long form may have scrolled it away)."""
    return _grid_on_screen


def _grid_on_screen(page, geometry):
    spot = geometry.representative_point()
    return page.evaluate(
        """([lat, lon]) => {
            const map = Object.values(window).find(v => v instanceof L.Map);
            map.getContainer().scrollIntoViewIfNeeded(true);
            const p = map.latLngToContainerPoint([lat, lon]);
            const r = map.getContainer().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
        }""", [spot.y, spot.x])
