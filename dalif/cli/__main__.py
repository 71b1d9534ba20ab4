"""``python -m dalif.cli``."""

import sys

from dalif.cli import main

sys.exit(main())
