"""The user's nasedge home: what nasedge writes for its user, never inside the package or the source tree.

``NASEDGE_HOME``, else the platform's user data folder (``~/.local/share/nasedge`` on Linux, via
platformdirs). Its folders are created by the first write into them, never by a read::

    <home>/conf/device/<name>.yaml       devices added by `nasedge devices add` (a Hydra config root)
    <home>/profiles/<device>@<space>.json latency profiles fitted by `nasedge predictor fit` / `specialize`
    <home>/measurements/<device>@<space>.csv measurements taken to fit them (a rerun resumes from them)
    <home>/retired/<device>-<time>/      profiles and measurements of an earlier board of a name added again
    <home>/service/profiles.db           the predictor service's database (`nasedge serve`; conf/service)
    <home>/cache/                        what can be rebuilt

The entry layer resolves these paths and passes them down; library functions take folders as arguments.
"""

from __future__ import annotations

import os
from pathlib import Path

from nasedge.atomic import check_out_dir
from nasedge.errors import NasedgeError

ENV = "NASEDGE_HOME"


def home() -> Path:
    """The nasedge home: ``$NASEDGE_HOME``, else the platform's user data folder for nasedge."""
    value = os.environ.get(ENV)
    if value:
        path = Path(value).expanduser()
        if path.exists() and not path.is_dir():  # found only when a file is written into it, after the work
            raise NasedgeError(f"{ENV}={value}: not a folder; point it at a folder (created if missing)")
        return path
    import platformdirs

    return Path(platformdirs.user_data_dir("nasedge", appauthor=False))


def conf_dir() -> Path:
    """The user's Hydra config root (``conf/device/`` holds the user's devices)."""
    return home() / "conf"


def devices_dir() -> Path:
    """The user's device configs, one YAML each (as ``conf/device/`` of nasedge)."""
    return conf_dir() / "device"


def profiles_dir() -> Path:
    """The user's latency profiles (``<device>@<space>.json``)."""
    return home() / "profiles"


def measurements_dir() -> Path:
    """Measurements taken to fit profiles (``<device>@<space>.csv``)."""
    return home() / "measurements"


def retired_dir() -> Path:
    """Profiles and measurements moved aside when a board of the same name was added with other settings."""
    return home() / "retired"


def cache_dir() -> Path:
    """What can be rebuilt from other files."""
    return home() / "cache"


def check_home_dir(folder: Path) -> None:
    """``folder`` of the nasedge home can be written, as an output folder (:func:`nasedge.atomic.check_out_dir`): a
    home that cannot be written fails before the work, naming where the home is set."""
    value = os.environ.get(ENV)
    check_out_dir(ENV, str(folder), where=f"{ENV}={value}" if value else f"the nasedge home {home()}")


def check_profile_folders(flag: str, profiles_dirs: list[str], measuring: bool) -> None:
    """Where a new profile goes can be written: each of ``profiles_dirs`` (given by ``flag``), else the home's profiles
    folder; and, ``measuring``, the home's measurements folder. Checked before a device is measured for minutes, not
    when the profile is stored (``predictor fit`` and ``specialize`` alike)."""
    for folder in profiles_dirs:
        check_out_dir(flag, folder)
    if not profiles_dirs:
        check_home_dir(profiles_dir())
    if measuring:
        check_home_dir(measurements_dir())
