"""``python -m keeper``: the ``keeper`` command (``keeper.cli:main``)."""

import sys

from keeper.cli import main

sys.exit(main())
