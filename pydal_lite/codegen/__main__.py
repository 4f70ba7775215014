"""``python -m pydal_lite.codegen``."""

import sys

from .cli import main

sys.exit(main())
