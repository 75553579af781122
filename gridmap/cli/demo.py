"""``gridmap demo cases``: a deterministic, realistic case history for the demo.

Writes into the configured data folder (``GRIDMAP_DATA_DIR``, or
``--data-dir``), creating it from ``geodata/`` if it is missing. Exit status:
0 done, 1 the store could not be written, 2 refused (bad input, or a store
that already holds cases without ``--append``; nothing written).
"""

import os
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import click

from gridmap.cli.users import data_dir_option
from gridmap.errors import BadInput, GridmapError
from gridmap.store.base import StoreError

EXIT_FAILED, EXIT_REFUSED = 1, 2


@click.group()
def demo():
    """演示数据 / demo data."""


@demo.command("cases")
@click.option("--count", default=3000, show_default=True, type=click.IntRange(1, 10_000_000),
              help="案件数 / cases to make.")
@click.option("--months", default=12, show_default=True, type=click.IntRange(1, 120),
              help="覆盖的月数 / months of history before --end.")
@click.option("--seed", default=1, show_default=True, type=int,
              help="随机种子：相同参数得到相同案件 / the same seed gives the same cases.")
@click.option("--end", metavar="DATE", help="历史截止（ISO 8601 日期或时间）/ end of the history: a "
              "date (its end) or a date-time, not in the future [default: now].")
@click.option("--batch", default=10_000, show_default=True, type=click.IntRange(1, 1_000_000),
              help="每批写入（一次 fsync）/ cases per durable batch.")
@click.option("--jobs", default=min(4, os.cpu_count() or 1), show_default=True,
              type=click.IntRange(1, 64), help="生成进程数 / processes making cases (same result).")
@click.option("--append", is_flag=True,
              help="案件库已有案件时仍写入 / write although the store already holds cases.")
@data_dir_option
def cases(count, months, seed, end, batch, jobs, append, data_dir):
    """生成演示案件历史 / write a demo case history into the data folder's store.

    Cases of the data folder's grids over MONTHS months up to --end: hot spots,
    seasons, the weekly rhythm and the whole workflow (closed and rated, open,
    overdue, forwarded, reopened, cancelled). The same arguments give
    byte-identical files. A store that already holds cases is refused unless
    --append is given.
    """
    from gridmap.cases.demo import write_demo_cases
    from gridmap.cases.service import CaseService, clock_columns
    from gridmap.config import load_config
    from gridmap.datafolder import load_community
    from gridmap.store.geojsonseq import GeoJSONSeqStore

    started = time.perf_counter()
    try:
        community = load_community(load_config(
            {"DATA_DIR": str(data_dir)} if data_dir is not None else None))
        # with the clock extractor, as the service's: the index the compaction writes
        # then holds the clock columns, and workers start from it
        with GeoJSONSeqStore(community.data_dir / "cases", compact_bytes=None,
                             clocks=clock_columns(community)) as store:
            service = CaseService(store, community)
            end_at = parse_end(end, service.clock())
            states = write_demo_cases(service, count, months, seed, end_at, batch, append, jobs)
            store.compact()  # one snapshot, not a log to replay at every start
            held = store.count()
    except StoreError as exc:
        click.echo(f"gridmap demo cases: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    except GridmapError as exc:
        click.echo(f"gridmap demo cases: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    except OSError as exc:
        click.echo(f"gridmap demo cases: 数据目录无法读写 / cannot use the data folder: {exc}",
                   err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"{sum(states.values())} 件演示案件 / demo cases written to {Path(store.folder)} "
               f"in {time.perf_counter() - started:.1f} s, up to {end_at.isoformat()} ("
               + ", ".join(f"{state} {n}" for state, n in sorted(states.items()))
               + f"); the store holds {held}", err=True)


def parse_end(text, now):
    """``--end``: None (``now`` to the minute), a date (its end, midnight after it) or a
    date-time (naive ones in ``now``'s zone)."""
    if text is None:
        return now.replace(second=0, microsecond=0)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text) + timedelta(days=1)
            return datetime(day.year, day.month, day.day, tzinfo=now.tzinfo)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput("error.demo.bad_end", value=repr(text[:40]), field="end") from None
    return value if value.tzinfo else value.replace(tzinfo=now.tzinfo)
