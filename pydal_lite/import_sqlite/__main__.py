"""``python -m pydal_lite.import_sqlite``."""

import sys

from .cli import main

sys.exit(main())
