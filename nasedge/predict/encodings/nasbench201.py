"""Encoding of the NAS-Bench-201 space of the public latency benchmark (HELP, HW-NAS-Bench).

Not an :class:`~nasedge.arch.Arch` space: an item is a tuple of 6 op indices into :data:`OPS`, one per
edge of the cell in the order of the ``arch_str`` notation (``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``).
The macro-architecture (Dong & Yang 2020, CIFAR input 32): a 3x3 stem with 16 channels, three stages
of five cells with 16, 32 and 64 channels separated by residual reduction blocks, then pooling and the
classifier. Convolutions are ReLU-conv-BN.

Besides op counts and costs, the features count the *live* ops: those on a path from the cell's
input to its output through edges that are not ``none``. Graph compilers (TFLite, TVM, FPGA and ASIC
tool flows) remove the others, and when no path exists at all the whole network's output is a
constant: such archs measure near 0 ms on those devices while PyTorch on a GPU still runs every op.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nasedge.errors import NasedgeError, shortened
from nasedge.predict.encodings.base import LatencyEncoding

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_EDGES = 6
_EDGE_INPUT = (0, 0, 1, 0, 1, 2)  # the node each edge reads from
_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # (from node, to node) in arch_str order
_STAGES = ((16, 32), (32, 16), (64, 8))  # channels, feature-map size
_CELLS = 5
_TOKEN = re.compile(r"^([a-z0-9_x]+)~(\d)$")


def parse_arch_str(text: str, source: str | None = None) -> tuple[int, ...]:
    """Op indices of an ``arch_str`` (``|nor_conv_3x3~0|+|...``): exactly the notation, as :func:`arch_str` writes it
    (3 nodes, of 1, 2 and 3 inputs)."""
    where = f"{source}: field 'arch_str': " if source else "field 'arch_str': "
    tokens = [t for t in str(text).replace("+", "|").split("|") if t]
    if len(tokens) != NUM_EDGES:
        edges = f"{len(tokens)} edge{'s' * (len(tokens) != 1)}"
        raise NasedgeError(f"{where}value {shortened(repr(text))} has {edges}; expected {NUM_EDGES}")
    ops = []
    for i, token in enumerate(tokens):
        m = _TOKEN.match(token)
        if not m or m.group(1) not in OPS:
            raise NasedgeError(f"{where}token {token!r} is not valid; expected <op>~<node> with op one of "
                               f"{', '.join(OPS)}")
        if int(m.group(2)) != _EDGE_INPUT[i]:  # the op is fine: the edge's place says which node it reads
            raise NasedgeError(f"{where}token {token!r}: edge {i + 1} of {NUM_EDGES} reads node {_EDGE_INPUT[i]}, not "
                               f"{m.group(2)}; expected '{m.group(1)}~{_EDGE_INPUT[i]}'")
        ops.append(OPS.index(m.group(1)))
    canonical = arch_str(ops)
    if str(text) != canonical:  # the edges are right, the separators of the nodes are not
        raise NasedgeError(f"{where}value {shortened(repr(text))} is not laid out as NAS-Bench-201 notation (3 nodes "
                           f"of 1, 2 and 3 inputs); expected {canonical!r}")
    return tuple(ops)


def _live(ops: Sequence[int]) -> list[float]:
    """Per op, how many edges carry it on a path from node 0 to node 3 through non-``none`` edges."""
    forward, backward = {0}, {3}
    for (i, j), op in zip(_EDGES, ops):  # edges are in topological order of their target node
        if op != 0 and i in forward:
            forward.add(j)
    for (i, j), op in reversed(list(zip(_EDGES, ops))):
        if op != 0 and j in backward:
            backward.add(i)
    counts = [0.0] * len(OPS)
    for (i, j), op in zip(_EDGES, ops):
        if op != 0 and i in forward and j in backward:
            counts[op] += 1
    return counts


def arch_str(ops: Sequence[int]) -> str:
    e = [f"{OPS[o]}~{n}" for o, n in zip(ops, _EDGE_INPUT)]
    return f"|{e[0]}|+|{e[1]}|{e[2]}|+|{e[3]}|{e[4]}|{e[5]}|"


class NASBench201Encoding(LatencyEncoding):
    name = "nasbench201"
    family = "nasbench201"

    @property
    def feature_names(self) -> tuple[str, ...]:
        return (tuple(f"n_{op}" for op in OPS) + ("macs", "params", "act", "layers")
                + tuple(f"live_{op}" for op in OPS[1:]) + ("live_macs", "connected"))

    def parse(self, record: Mapping[str, Any], source: str | None = None) -> tuple[int, ...]:
        return parse_arch_str(self._record(record, "arch_str", (), "NAS-Bench-201 notation", source), source)

    def to_record(self, item: tuple[int, ...]) -> dict[str, Any]:
        return {"arch_str": arch_str(item)}

    def check(self, item: Any, source: str | None = None) -> tuple[int, ...]:
        if isinstance(item, str):
            return parse_arch_str(item, source)
        where = f"{source}: " if source else ""
        bad = not isinstance(item, Sequence) or len(item) != NUM_EDGES or any(
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < len(OPS) for v in item)
        if bad:
            raise NasedgeError(f"{where}value {item!r} is not valid; "
                               f"expected {NUM_EDGES} op indices 0..{len(OPS) - 1}")
        return tuple(int(v) for v in item)

    def onehot(self, items: Sequence[tuple[int, ...]]) -> np.ndarray:
        idx = np.array([self.check(x) for x in items], dtype=np.int64).reshape(len(items), NUM_EDGES)
        out = np.zeros((len(items), NUM_EDGES, len(OPS)))
        np.put_along_axis(out, idx[:, :, None], 1.0, axis=2)
        return out.reshape(len(items), -1)

    def features(self, items: Sequence[tuple[int, ...]]) -> np.ndarray:
        rows = []
        for x in items:
            x = self.check(x)
            counts = np.bincount(np.asarray(x), minlength=len(OPS)).astype(float)
            macs = 3 * 16 * 9 * 32 * 32
            params, act = 3 * 16 * 9, 16 * 32 * 32
            for c, hw in _STAGES:
                per_map = c * hw * hw
                cell_macs = (counts[2] + 9 * counts[3]) * c * per_map
                macs += _CELLS * cell_macs
                params += _CELLS * (counts[2] + 9 * counts[3]) * c * c
                act += _CELLS * (NUM_EDGES - counts[0] + 3) * per_map  # every op output and the node sums
            for (c1, hw1), (c2, hw2) in zip(_STAGES, _STAGES[1:]):  # reduction blocks
                macs += c1 * c2 * 9 * hw2 * hw2 + c2 * c2 * 9 * hw2 * hw2 + c1 * c2 * hw2 * hw2
                params += 9 * c1 * c2 + 9 * c2 * c2 + c1 * c2
                act += 4 * c2 * hw2 * hw2
            layers = 1 + 3 * _CELLS * (NUM_EDGES - counts[0] - counts[1]) + 2 * 4
            live = _live(x)
            live_macs = sum(_CELLS * (live[2] + 9 * live[3]) * c * c * hw * hw for c, hw in _STAGES)
            connected = float(any(live))
            rows.append([*counts.tolist(), macs, params, act, layers, *live[1:], live_macs, connected])
        return np.array(rows, dtype=np.float64).reshape(len(items), len(self.feature_names))
