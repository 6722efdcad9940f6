"""Reading the arrays of an ``.npz`` archive a user names, with one-line errors for a file that is not one."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nasedge.errors import NasedgeError


def read_npz(path: str | Path, keys: Sequence[str], what: str) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the archive at ``path``, read in full (never unpickled).

    A missing file is ``"<path>: no such file"``; a file that is not an archive of arrays (empty, truncated, a bare
    ``.npy``, a pickle, a folder) ``"<path>: cannot read <what> (<reason>)"``; a missing array
    ``"<path>: not a <what>; missing array '<key>'"``.
    """
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise NasedgeError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _unreadable(path, what, exc) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise NasedgeError(f"{path}: cannot read {what} (a single .npy array, not an .npz archive)")
    with archive:
        missing = [k for k in keys if k not in archive.files]
        if missing:
            raise NasedgeError(f"{path}: not a {what}; missing array {missing[0]!r}")
        try:
            return {k: archive[k] for k in keys}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:  # a damaged member
            raise _unreadable(path, what, exc) from None


def _unreadable(path: Path, what: str, exc: Exception) -> NasedgeError:
    # numpy reads any file that is not a zip archive as a pickle, and its refusal suggests loading that unsafely
    reason = "not an .npz archive of arrays" if "pickle" in str(exc) or isinstance(exc, EOFError) else str(exc)
    return NasedgeError(f"{path}: cannot read {what} ({reason})")
