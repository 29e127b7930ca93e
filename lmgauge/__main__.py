"""`python -m lmgauge ...`: the same command line as the `lmgauge` script."""

import sys

from lmgauge.cli.main import main

sys.exit(main())
