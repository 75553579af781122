"""``gridmap photos sweep``: delete photos that no case names.

A photo is saved before the case that names it, so a report refused after
its photos were saved (or a crash in between) leaves photos no case names.
``gridmap serve`` sweeps by itself once a day (:mod:`gridmap.photos.sweeper`);
this sweeps now, e.g. with another grace period. It keeps anything younger
than the grace period, so requests under way lose nothing. Exit status: 0 done,
1 the data folder cannot be read or written.
"""

import sys
from pathlib import Path

import click

from gridmap.cli.users import EXIT_FAILED, data_dir_option
from gridmap.errors import GridmapError


@click.group()
def photos():
    """照片 / photos."""


@photos.command()
@data_dir_option
@click.option("--grace-hours", type=click.FloatRange(min=0), default=24.0, show_default=True,
              help="保留更新的照片 / keep photos younger than this.")
def sweep(data_dir, grace_hours):
    """删除无案件引用的照片 / delete photos that no case names."""
    from gridmap.cases.photos import referenced_ids
    from gridmap.config import load_config
    from gridmap.photos import PhotoStore
    from gridmap.store import GeoJSONSeqStore

    config = load_config({"DATA_DIR": str(data_dir)} if data_dir is not None else None)
    folder = Path(config["DATA_DIR"])
    if not (folder / "cases").is_dir():  # a mistyped path: make nothing there
        click.echo(f"gridmap: {folder} 不是数据目录（没有 cases/） / {folder} is not a data "
                   "folder (it has no cases/)", err=True)
        sys.exit(EXIT_FAILED)
    try:
        with GeoJSONSeqStore(folder / "cases") as cases:
            referenced = referenced_ids(cases.all())  # before listing photos: see PhotoStore.sweep
        removed = PhotoStore(folder).sweep(referenced, grace_s=grace_hours * 3600)
    except (GridmapError, OSError) as exc:
        click.echo(f"gridmap: 数据目录无法读写 / cannot use the data folder: "
                   f"{getattr(exc, 'message', exc)}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"已删除 {len(removed)} 张无案件引用的照片 / deleted {len(removed)} photos "
               "that no case names", err=True)
    for photo_id in removed:
        click.echo(photo_id)
