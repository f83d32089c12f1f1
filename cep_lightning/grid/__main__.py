"""``python -m cep_lightning.grid``: see ``cep_lightning.grid.command``."""

from __future__ import annotations

import sys

from cep_lightning.grid.command import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
