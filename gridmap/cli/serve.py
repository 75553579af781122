"""``gridmap serve``: run the service under gunicorn."""

import gc
import os
import sys
import time

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--demo", is_flag=True,
              help="Run on the embedded demo data (13 schematic grids); the default data folder "
                   "is created from geodata/ on first start, and an empty store of the demo grids "
                   "gets a year of demo cases (see gridmap demo cases).")
def serve(host, port, workers, demo):
    """Start the web service (gunicorn, WSGI app gridmap.web:create_app())."""
    from gunicorn.app.base import BaseApplication

    from gridmap.auth.demo import DEMO_FILE, active_demo_accounts, ensure_demo_accounts
    from gridmap.cases.demo import SERVE_MONTHS, seed_demo_store
    from gridmap.errors import GridmapError
    from gridmap.web import create_app

    try:  # fail here, once, with a clear message rather than in every worker
        app = create_app()
    except GridmapError as exc:
        click.echo(f"gridmap: 无法启动 / cannot start: {exc}", err=True)
        sys.exit(2)
    community = app.extensions["gridmap"]
    if demo:
        accounts = ensure_demo_accounts(app.extensions["gridmap.accounts"], community.grids.codes,
                                        community.data_dir)
        click.echo("演示账号 / demo accounts (also in "
                   f"{community.data_dir / DEMO_FILE}):", err=True)
        for username, password, roles, grids in accounts:
            where = f"  grids {', '.join(grids)}" if grids else ""
            password = password or "—"  # disabled, or not made here: not known
            click.echo(f"  {username:<12} {password:<20} {', '.join(roles)}{where}", err=True)
        started = time.perf_counter()
        states = seed_demo_store(app.extensions["gridmap.cases"])
        if states:
            click.echo(f"演示案件 / demo case history: {sum(states.values())} cases over "
                       f"{SERVE_MONTHS} months written in {time.perf_counter() - started:.1f} s ("
                       + ", ".join(f"{state} {n}" for state, n in sorted(states.items())) + ")",
                       err=True)
    else:
        left = active_demo_accounts(app.extensions["gridmap.accounts"], community.data_dir)
        if left:
            click.echo(f"注意：演示账号仍可登录，页面会标明演示系统 / demo accounts still enabled, "
                       f"pages say this is a demo: {', '.join(left)}. Disable them (gridmap users "
                       f"disable NAME) and delete {community.data_dir / DEMO_FILE}.", err=True)
    click.echo(f"gridmap {'demo ' if demo else ''}running on http://{host}:{port}/ "
               f"({len(community.grids)} grids, data folder {community.data_dir})", err=True)

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            # tornado reads each request whole before the app runs: slow clients cost a
            # file descriptor, not a worker (gridmap/server/worker.py)
            self.cfg.set("worker_class", "gridmap.server.worker.BufferingWorker")
            self.cfg.set("accesslog", "-")  # written by the worker, secrets masked
            # gunicorn's control socket is one path per user: a second installation's
            # server would take over the first one's; gridmap does not use it
            self.cfg.set("control_socket_disable", True)
            # the app's long-lived objects (grids, router, index) leave the collector's
            # full passes, which otherwise rescan them all every few thousand requests
            self.cfg.set("post_worker_init", lambda worker: gc.freeze())
            if os.path.isdir("/dev/shm"):  # heartbeats off the disk, as gunicorn's docs advise
                self.cfg.set("worker_tmp_dir", "/dev/shm")

        def load(self):
            return create_app()

    Server().run()
