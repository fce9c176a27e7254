"""``python -m aioneo``: see :mod:`aioneo._cli` (``python -m aioneo --help``)."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
