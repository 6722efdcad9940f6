"""Weight-sharing supernets, one per search-space family, and their checkpoint files.

>>> supernet = build_supernet(get_space("ofa_mbv3_cifar"))
>>> save_supernet(supernet, "supernet.pt"); supernet = load_supernet("supernet.pt")

Importing the package does not import torch (1-2 s): a plugin registers its supernet with
:func:`register_supernet` while every command's input checks run. torch loads with the first function
that needs it, or with :class:`OFAMobileNetV3Supernet` and :func:`recalibrate_bn` (imported when asked for).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasedge.atomic import atomic_write_bytes
from nasedge.errors import NasedgeError
from nasedge.lazy import lazy_names
from nasedge.spaces import SearchSpace, get_space
from nasedge.supernet.families import build_supernet, file_digest, register_supernet

if TYPE_CHECKING:
    import torch
    from torch import nn

    from nasedge.supernet.bn_recalibration import recalibrate_bn
    from nasedge.supernet.ofa_mbv3 import OFAMobileNetV3Supernet

__all__ = ["OFAMobileNetV3Supernet", "build_supernet", "load_supernet", "save_supernet", "recalibrate_bn",
           "file_digest", "subnet_from_config", "register_supernet", "checkpoint_space", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "nasedge-supernet/1"


__getattr__, __dir__ = lazy_names(__name__, {"OFAMobileNetV3Supernet": "nasedge.supernet.ofa_mbv3",
                                             "recalibrate_bn": "nasedge.supernet.bn_recalibration"},
                                  globals(), __all__)


def save_supernet(supernet: nn.Module, path: str | Path, half: bool = False, meta: dict[str, Any] | None = None) -> None:
    """Write a supernet checkpoint atomically (``half``: store floating tensors as float16)."""
    import torch

    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu()
             for k, v in supernet.state_dict().items()}
    payload = {"format": CHECKPOINT_FORMAT, "space": supernet.space.name, "num_classes": supernet.num_classes,
               "state_dict": state, "meta": meta or {}}
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def load_supernet(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Read a checkpoint written by :func:`save_supernet` or a published Once-for-All one (imported on the fly).

    A missing or corrupt file is a :class:`NasedgeError`.
    """
    import torch

    from nasedge.supernet.ofa_checkpoint import from_ofa_state_dict, ofa_provenance, ofa_state_dict, read_torch_file

    path = _existing(path)
    try:
        cuda = torch.device(map_location).type == "cuda"
    except (RuntimeError, TypeError):  # else torch's error reads as if the file were at fault
        raise NasedgeError(f"map_location {map_location!r} is not a torch device (cpu, cuda, cuda:N)") from None
    if cuda and not torch.cuda.is_available():  # else torch's error reads as if the file were at fault
        raise NasedgeError(f"device {str(map_location)!r}: no CUDA device is available here; use cpu or auto")
    payload = read_torch_file(path, "supernet checkpoint", map_location)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        ofa_state = ofa_state_dict(payload)
        if ofa_state is not None:  # a published Once-for-All checkpoint: imported in memory
            supernet = from_ofa_state_dict(ofa_state, source=str(path))
            supernet.meta = ofa_provenance(path, supernet.space.name)
            return supernet.to(map_location)
        raise NasedgeError(f"{path}: not a nasedge supernet checkpoint (expected format {CHECKPOINT_FORMAT})")
    supernet = build_supernet(get_space(payload["space"]), payload["num_classes"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    try:
        supernet.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise NasedgeError(f"{path}: weights do not fit search space {payload['space']!r}: {first}") from None
    supernet.meta = payload.get("meta", {})
    return supernet.to(map_location)


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise NasedgeError(f"{path}: supernet checkpoint not found")
    return path


def checkpoint_space(path: str | Path) -> str | None:
    """The search space of a checkpoint :func:`save_supernet` wrote, read off its pickle without torch and without
    a tensor (milliseconds: for the checks of a command's inputs); ``None`` where the file does not say so this way
    (a published Once-for-All checkpoint, whose space its weights tell; torch's legacy format; a damaged file, which
    :func:`load_supernet` names). A missing file is a :class:`NasedgeError`, as it is to :func:`load_supernet`."""
    import pickle
    import zipfile

    path = _existing(path)

    class Opaque(dict):  # every object of the pickle but its plain containers: nothing is imported nor run
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def __setstate__(self, state: Any) -> None:
            pass

        def append(self, item: Any) -> None:
            pass

        def extend(self, items: Any) -> None:
            pass

    class Header(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> type:
            return Opaque

        def persistent_load(self, pid: Any) -> None:  # a tensor's storage: left in the archive
            return None

    try:
        with zipfile.ZipFile(path) as archive:  # torch.save's format: <name>/data.pkl holds the payload
            member = next(n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/data.pkl"))
            payload = Header(io.BytesIO(archive.read(member))).load()
    except Exception:  # any damage, in any of the ways unpickling fails: loading the file says what is wrong
        return None
    ours = isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT
    return payload["space"] if ours and isinstance(payload.get("space"), str) else None


def subnet_from_config(cfg: Any, arch: Any, space: SearchSpace, seed: int = 0) -> nn.Module:
    """The static subnet a ``supernet`` config selects: extracted from its checkpoint, or freshly initialised."""
    from nasedge.nn.mobilenetv3 import build_mobilenetv3

    if cfg.init == "random":
        import torch

        torch.manual_seed(seed)
        return build_mobilenetv3(arch, space).eval()
    if cfg.init != "checkpoint":
        raise NasedgeError(f"supernet.init: value {cfg.init!r} is not valid; expected checkpoint or random")
    if not cfg.checkpoint:
        raise NasedgeError("no supernet checkpoint configured; pass --supernet PATH or --init random")
    path = Path(cfg.checkpoint)
    if not path.is_file():
        raise NasedgeError(f"supernet.checkpoint: {path}: supernet checkpoint not found; "
                           "pass --supernet PATH or --init random")
    supernet = load_supernet(path)
    if supernet.space.name != arch.space:
        raise NasedgeError(f"{path}: supernet is for search space {supernet.space.name!r}, the arch for {arch.space!r}; "
                           f"pass --supernet with a supernet of {arch.space!r} (nasedge import ofa makes the published "
                           f"ones), or --init random")
    return supernet.extract(arch)
