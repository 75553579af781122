"""The ``gridmap`` command.

Each subcommand group lives in its own module and imports its heavy
dependencies (geopandas, shapely) inside its commands, so ``gridmap --help``
stays fast. Register a new group here with one ``main.add_command`` line.
"""

import click

from gridmap import __version__
from gridmap.cli.demo import demo
from gridmap.cli.grids import grids
from gridmap.cli.photos import photos
from gridmap.cli.route import route
from gridmap.cli.serve import serve
from gridmap.cli.users import tokens, users


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="gridmap")
def main():
    """gridmap: 社区网格化管理 / community grid mapping."""


main.add_command(demo)
main.add_command(grids)
main.add_command(photos)
main.add_command(route)
main.add_command(serve)
main.add_command(users)
main.add_command(tokens)
