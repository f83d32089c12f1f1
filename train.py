"""cep_lightning command line: ``python train.py [key=value ...]`` (see ``python train.py --help``)."""

from __future__ import annotations

import sys

from cep_lightning.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
