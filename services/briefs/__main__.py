"""`python -m services.briefs`: the same as `switchboard serve briefs`."""

import sys

from switchboard.cli import main

sys.exit(main(["serve", "briefs", *sys.argv[1:]]))
