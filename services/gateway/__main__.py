"""`python -m services.gateway`: the same as `switchboard serve gateway`."""

import sys

from switchboard.cli import main

sys.exit(main(["serve", "gateway", *sys.argv[1:]]))
