"""A data file that a preset names by path and address (``data.path``, ``data.url``): found, or fetched on request."""

from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path

from cep_lightning.errors import DataError

TIMEOUT_S = 60  # a connection that sends nothing for this long fails (no total limit: the files are large)
CHUNK = 1 << 20


def ensure_file(path: str | os.PathLike, url: str | None, download: bool) -> Path:
    """``path``, fetched from ``url`` first when it is missing and ``download`` (written to ``<path>.<pid>.part``,
    then renamed: an interrupted download leaves no truncated file at ``path``, and processes that fetch it at once
    do not write into one file). Without a ``url`` there is nothing to fetch: ``path`` as it is (its reader reports a
    missing file)."""
    path = Path(path)
    if path.is_file() or url is None:
        return path
    if not download:
        raise DataError(
            f"HDF5 file not found: '{path}'. Fetch it from {url} by running with data.download=true, or beforehand "
            f"with `wget -O {path} {url}`; or pass a copy you have with data.path=/path/to/file.hdf5."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, CHUNK)
    except (OSError, ValueError) as exc:  # no network, unknown host, HTTP error, time-out, a malformed address
        part.unlink(missing_ok=True)
        raise DataError(
            f"Could not download {url} to '{path}' ({type(exc).__name__}: {exc}). Fetch it by hand "
            f"(`wget -O {path} {url}`), or pass a copy you have with data.path=/path/to/file.hdf5."
        ) from exc
    os.replace(part, path)
    return path
