"""``python -m autopainter ...`` (also what ``torchrun -m autopainter train ...`` runs)."""

import sys

from .cli import main

sys.exit(main())
