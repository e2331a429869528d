"""`python -m services.cache`: the same as `switchboard serve cache`."""

import sys

from switchboard.cli import main

sys.exit(main(["serve", "cache", *sys.argv[1:]]))
