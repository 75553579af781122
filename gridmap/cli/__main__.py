"""Run the command as ``python -m gridmap.cli``."""

from gridmap.cli import main

main(prog_name="gridmap")
