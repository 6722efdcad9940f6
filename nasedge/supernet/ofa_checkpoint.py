"""Once-for-All's published supernets (github.com/mit-han-lab/once-for-all) as nasedge supernets.

OFA saves a supernet as ``{"state_dict": ...}`` or as a bare state dict. Its networks and nasedge's
have the same tensors in the same shapes under other names, so importing is renaming plus checks:
every tensor nasedge needs is present with nasedge's shape and finite values (BatchNorm's
``num_batches_tracked`` may be absent, as in older checkpoints), and nothing is left over.

    supernet = from_ofa_state_dict(torch.load("ofa_mbv3_d234_e346_k357_w1.2")["state_dict"])
    supernet = import_ofa_checkpoint("ofa_mbv3_d234_e346_k357_w1.2")   # file: read, check, provenance in .meta

Each supernet family has its own rename (nasedge key -> OFA key) in ``_OFA_KEYS`` (OFAMobileNetV3 and
OFAProxylessNASNets differ in their fixed parts only); another OFA family adds one there and its spaces to
``OFA_SPACES``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from nasedge.arch import Arch
from nasedge.errors import NasedgeError
from nasedge.spaces import get_space

# The published OFA supernets nasedge has search spaces for, tried in this order when none is named.
OFA_SPACES = ("ofa_mbv3_w1.0", "ofa_mbv3_w1.2", "ofa_proxyless_w1.3")

# OFA's own load_state_dict accepts older names: `mobile_inverted_conv` for a block's layer, and
# wrapped modules without their inner `.bn` / `.conv` / `.linear` level. One spelling for all of them:
_OLD_NAMES = ((".mobile_inverted_conv.", ".conv."), (".bn.bn.", ".bn."), (".conv.conv.", ".conv."),
              (".linear.linear.", ".linear."))

_MBV3_MODULES = {  # nasedge module path -> OFA module path (after normalisation)
    "stem.0": "first_conv.conv", "stem.1": "first_conv.bn",
    "first_block.depthwise.0": "blocks.0.conv.depth_conv.conv",
    "first_block.depthwise.1": "blocks.0.conv.depth_conv.bn",
    "first_block.project.0": "blocks.0.conv.point_linear.conv",
    "first_block.project.1": "blocks.0.conv.point_linear.bn",
    "head.final_expand.0": "final_expand_layer.conv", "head.final_expand.1": "final_expand_layer.bn",
    "head.feature_mix": "feature_mix_layer.conv", "head.classifier": "classifier.linear",
}
# OFAProxylessNASNets: the same stem, first block and blocks; its head's 1x1 conv before pooling (with BN) is
# OFA's `feature_mix_layer`, and there is no conv after pooling
_PROXYLESS_MODULES = {**{k: v for k, v in _MBV3_MODULES.items() if not k.startswith("head.")},
                      "head.final_expand.0": "feature_mix_layer.conv", "head.final_expand.1": "feature_mix_layer.bn",
                      "head.classifier": "classifier.linear"}
_MBV3_BLOCK_MODULES = {  # inside elastic block i (OFA's blocks.{i+1}.conv: its blocks.0 is the first block)
    "expand_conv": "inverted_bottleneck.conv", "expand_bn": "inverted_bottleneck.bn",
    "depthwise": "depth_conv.conv", "depthwise_bn": "depth_conv.bn",
    "se.reduce": "depth_conv.se.fc.reduce", "se.expand": "depth_conv.se.fc.expand",
    "project_conv": "point_linear.conv", "project_bn": "point_linear.bn",
}
_BLOCK_KEY = re.compile(r"blocks\.(\d+)\.(.+)\.([^.]+)")


def _ofa_key(key: str, modules: Mapping[str, str]) -> str:
    """OFA's name of the nasedge supernet's tensor ``key`` (``modules``: the family's fixed parts)."""
    m = re.fullmatch(r"blocks\.(\d+)\.depthwise\.transforms\.(\d+to\d+)", key)
    if m:  # kernel transformation matrices: `7to5` -> `7to5_matrix` beside the depthwise conv
        return f"blocks.{int(m[1]) + 1}.conv.depth_conv.conv.{m[2]}_matrix"
    m = _BLOCK_KEY.fullmatch(key)
    if m:
        return f"blocks.{int(m[1]) + 1}.conv.{_MBV3_BLOCK_MODULES[m[2]]}.{m[3]}"
    module, leaf = key.rsplit(".", 1)
    return f"{modules[module]}.{leaf}"


_OFA_KEYS: dict[str, Callable[[str], str]] = {
    "ofa_mbv3": lambda key: _ofa_key(key, _MBV3_MODULES),  # OFAMobileNetV3
    "ofa_proxyless": lambda key: _ofa_key(key, _PROXYLESS_MODULES),  # OFAProxylessNASNets
}


def normalise_key(key: str) -> str:
    """One spelling of an OFA state-dict key (newer and older OFA releases, DataParallel's ``module.``)."""
    key = key.removeprefix("module.")
    for old, new in _OLD_NAMES:
        key = key.replace(old, new)
    return key


def ofa_state_dict(payload: Any) -> dict[str, torch.Tensor] | None:
    """The state dict in an OFA checkpoint (``{"state_dict": ...}`` or bare), keys normalised; None if not one."""
    if isinstance(payload, Mapping) and isinstance(payload.get("state_dict"), Mapping):
        payload = payload["state_dict"]
    if not isinstance(payload, Mapping) or not payload:
        return None
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items()):
        return None
    state = {normalise_key(k): v for k, v in payload.items()}
    return state if "first_conv.conv.weight" in state else None


class _Fit(NamedTuple):
    """How ``state`` fits the supernet of one space: the supernet, and the first difference (None: none)."""

    supernet: nn.Module
    problem: str | None
    matched: int  # tensors that fit before the first difference


def _optional(key: str) -> bool:
    """Whether a checkpoint may lack tensor ``key``: BatchNorm's ``num_batches_tracked`` counts training steps
    (used only when momentum is None, never at inference), and checkpoints of PyTorch before 0.4.1 have none;
    torch's own loading tolerates their absence, and so does this (the supernet keeps its default, 0)."""
    return key.endswith(".num_batches_tracked")


def _fit(state: Mapping[str, torch.Tensor], space_name: str) -> _Fit:
    from nasedge.supernet.families import build_supernet

    space = get_space(space_name)
    classifier = state.get("classifier.linear.weight")
    num_classes = classifier.shape[0] if classifier is not None and classifier.dim() == 2 else None
    supernet = build_supernet(space, num_classes)
    to_ofa = _OFA_KEYS[space.family]
    expected = {to_ofa(k): v.shape for k, v in supernet.state_dict().items()}
    for matched, (key, shape) in enumerate(expected.items()):
        if key not in state and _optional(key):
            continue
        if key not in state:
            return _Fit(supernet, f"missing tensor {key}", matched)
        if state[key].shape != shape:
            return _Fit(supernet, f"{key} has shape {tuple(state[key].shape)}, {space_name} has {tuple(shape)}",
                        matched)
    extra = sorted(set(state) - set(expected))
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        return _Fit(supernet, f"unexpected tensor {extra[0]}{more}", len(expected))
    return _Fit(supernet, None, len(expected))


def from_ofa_state_dict(state: Mapping[str, torch.Tensor], space: str | None = None,
                        source: str = "OFA state dict") -> nn.Module:
    """The nasedge supernet holding OFA's weights ``state`` (an OFA state dict, any spelling of its keys).

    ``space``: one of :data:`OFA_SPACES`; None picks the one whose shapes fit. Any missing, extra or
    differently shaped tensor, or one with NaN or infinite values, is a one-line :class:`NasedgeError` naming it.
    """
    state = {normalise_key(k): v for k, v in state.items()}
    if space and space not in OFA_SPACES:
        raise NasedgeError(f"{source}: --space {space!r} has no OFA checkpoint layout; "
                           f"known: {', '.join(OFA_SPACES)}")
    fits = {}
    for name in (space,) if space else OFA_SPACES:
        fits[name] = _fit(state, name)
        if fits[name].problem is None:
            break
    else:
        if space:
            others = [n for n in OFA_SPACES if n != space and _fit(state, n).problem is None]
            hint = f" (it fits {others[0]})" if others else ""
            raise NasedgeError(f"{source}: not an OFA checkpoint of {space}: {fits[space].problem}{hint}")
        name = max(fits, key=lambda n: fits[n].matched)  # the space it comes closest to
        raise NasedgeError(f"{source}: matches no OFA space ({', '.join(OFA_SPACES)}); for {name}: "
                           f"{fits[name].problem}")
    supernet = fits[name].supernet
    to_ofa = _OFA_KEYS[supernet.space.family]
    weights = {k: state[to_ofa(k)].detach().to(v.dtype).clone() if to_ofa(k) in state else v  # v: an _optional one
               for k, v in supernet.state_dict().items()}
    for k, v in weights.items():  # after the cast: a float64 value beyond float32's range is infinite too
        _check_finite(v, to_ofa(k), source)
    supernet.load_state_dict(weights)
    return supernet


def _check_finite(tensor: torch.Tensor, key: str, source: str) -> None:
    """Refuse a tensor with NaN or infinite values (a diverged run's checkpoint): imported, it would fail only
    at export, or export a model that computes NaN."""
    if not tensor.is_floating_point():
        return
    nan, inf = int(tensor.isnan().sum()), int(tensor.isinf().sum())
    if nan or inf:
        found = " and ".join(f"{n} {kind}" for n, kind in ((nan, "NaN"), (inf, "infinite")) if n)
        raise NasedgeError(f"{source}: tensor {key} has {found} value{'s' * (nan + inf > 1)}; "
                           f"not a usable checkpoint")


def read_torch_file(path: Path, what: str, map_location: Any = "cpu") -> Any:
    """``torch.load`` of tensors only; a truncated or foreign file is one :class:`NasedgeError` line naming
    ``what`` it should have been, with torch's warnings about the pickle it tried kept off the terminal."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise NasedgeError(f"{path}: not a readable {what} ({type(exc).__name__})") from None


def load_ofa_file(path: str | Path, what: str) -> Any:
    """The contents of the PyTorch file ``path`` holding ``what`` (OFA's ``{"state_dict": ...}`` unwrapped)."""
    path = Path(path)
    if not path.is_file():
        raise NasedgeError(f"{path}: {what} not found")
    payload = read_torch_file(path, "PyTorch file")
    if isinstance(payload, Mapping) and isinstance(payload.get("state_dict"), Mapping):
        return payload["state_dict"]
    return payload


def read_ofa_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The normalised state dict of OFA checkpoint file ``path``; a bad file fails in one line."""
    state = ofa_state_dict(load_ofa_file(path, "OFA checkpoint"))
    if state is None:
        raise NasedgeError(f"{path}: not an OFA supernet checkpoint of a kind nasedge imports "
                           f"(no state dict with first_conv.conv.weight)")
    return state


def ofa_provenance(path: str | Path, space: str) -> dict[str, Any]:
    """The ``meta`` of a supernet imported from OFA checkpoint ``path``: where it came from."""
    from nasedge.supernet.families import file_digest

    return {"imported_from": "once-for-all", "source": Path(path).name, "source_sha256": file_digest(path),
            "space": space}


def import_ofa_checkpoint(path: str | Path, space: str | None = None) -> nn.Module:
    """The supernet in OFA checkpoint ``path``, its provenance in ``.meta``."""
    supernet = from_ofa_state_dict(read_ofa_checkpoint(path), space, source=str(path))
    supernet.meta = ofa_provenance(path, supernet.space.name)
    return supernet


def ofa_arch(arch: Arch) -> dict[str, Any]:
    """OFA's net setting of ``arch``: ``ks``, ``e``, ``d``, ``image_size`` (unused slots 0, as OFA writes them).

    ``ks`` and ``e`` have one entry per block of OFA's supernet: a stage of fixed depth has no entries for the
    slots it never uses (ProxylessNAS's last stage: 21 entries, not 24).
    """
    c = arch.canonical()
    slots = [s.slot for s in get_space(c.space).slots()]
    return {"ks": [c.kernel[i] for i in slots], "e": [c.expand[i] for i in slots], "d": list(c.depth),
            "image_size": c.resolution}
