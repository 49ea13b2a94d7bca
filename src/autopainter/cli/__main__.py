"""``python -m autopainter.cli ...`` (the same as ``python -m autopainter``; torchrun accepts either)."""

import sys

from . import main

sys.exit(main())
