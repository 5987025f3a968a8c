"""`python -m trunkdrop`: the same command as `trunkdrop`."""

from trunkdrop.cli import app

app(prog_name="trunkdrop")
