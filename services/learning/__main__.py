"""`python -m services.learning`: the same as `switchboard serve learning`."""

import sys

from switchboard.cli import main

sys.exit(main(["serve", "learning", *sys.argv[1:]]))
