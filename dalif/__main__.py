"""``python -m dalif``: the ``dalif`` command (``dalif.cli``)."""

import sys

from dalif.cli import main

sys.exit(main())
