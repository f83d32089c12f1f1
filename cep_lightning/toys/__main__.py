"""python -m cep_lightning.toys task=toy-<name> [key=value ...]"""

from __future__ import annotations

import sys

from cep_lightning.cli import run_command
from cep_lightning.toys.compare import compare

if __name__ == "__main__":
    sys.exit(run_command(compare, sys.argv[1:]))
