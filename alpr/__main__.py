"""`python -m alpr` = the `alpr` console script (handy on nodes without an install)."""
from alpr.cli import main

main(prog_name="alpr")
