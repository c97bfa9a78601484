"""``python -m orchestra`` runs the command line."""

import sys

from orchestra.cli.main import main

sys.exit(main())
