"""``python -m pydal_lite.migrate``."""

import sys

from .cli import main

sys.exit(main())
