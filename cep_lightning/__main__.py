"""``python -m cep_lightning [key=value ...]``: the same command as ``python train.py``."""

from __future__ import annotations

import sys

from cep_lightning.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
