"""`python -m services.router`: the same as `switchboard serve router`."""

import sys

from switchboard.cli import main

sys.exit(main(["serve", "router", *sys.argv[1:]]))
