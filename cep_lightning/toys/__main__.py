"""python -m cep_lightning.toys task=toy-<name> [key=value ...]"""

from __future__ import annotations

import sys

from cep_lightning.cli import quiet_lightning
from cep_lightning.config import load_config
from cep_lightning.errors import CepError
from cep_lightning.toys.compare import compare


def main(argv: list[str]) -> int:
    quiet_lightning()
    try:
        compare(load_config(argv))
    except CepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
