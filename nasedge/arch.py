"""The architecture type every part of nasedge passes around.

An :class:`Arch` is plain data: the search-space name, a kernel size and an expand ratio for every
block slot (``stages x max_depth`` of them, stage-major), a depth per stage, and the input resolution.
Slots beyond a stage's depth are unused; the canonical form writes them as ``0`` so that they never
change an architecture's identity, equality, hash or digest.

Checking an arch against its space (allowed choices) is the space's job: ``space.validate(arch)``.
This module only checks the shape of the data, so that a malformed file fails with the field named.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from nasedge.atomic import atomic_write_text
from nasedge.errors import ROOT, ArchError, NasedgeError, is_integer, read_text_file
from nasedge.jsonlines import KeyGivenTwice, loads_once_each, past_limits, read_json_lines

FIELDS = ("space", "kernel", "expand", "depth", "resolution")
UNUSED = 0  # value of kernel/expand in a slot beyond its stage's depth (canonical form)
# ``shape_of(space name, source)``: (stages, block slots per stage) of that space's archs, None where unknown; it
# raises the error of a space it does not know, naming ``source`` (the file, line). Given by readers that know the
# spaces: this module knows none (spaces are a layer above).
ShapeOf = Callable[[str, str | None], tuple[int, int] | None]


class ActiveBlock(NamedTuple):
    """One block that an arch uses: its stage, position inside the stage, flat slot index and choices."""

    stage: int
    index: int
    slot: int
    kernel: int
    expand: int


def _int(value: Any, field: str, source: str | None) -> int:
    # bool is an int subclass; `true` in a JSON file is a mistake, not a 1. numpy's integers are integers.
    if not is_integer(value):
        raise ArchError(field, value, "an integer", source)
    return int(value)


def _int_tuple(value: Any, field: str, source: str | None) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ArchError(field, value, "a list of integers", source)
    if all(type(v) is int for v in value):  # the usual case, without a check per element
        return tuple(value)
    return tuple(_int(v, f"{field}[{i}]", source) for i, v in enumerate(value))


def wrong_length(field: str, value: Sequence[int], stages: int, slots: int, source: str | None = None) -> ArchError:
    """The error of ``field`` (depth, kernel, expand) of another length than the archs of a space of ``stages``
    stages of ``slots`` block slots have: one wording, for a file read and for a space's validation."""
    if field == "depth":
        return ArchError(field, list(value), f"{stages} entries (one per stage)", source)
    return ArchError(field, list(value), f"{stages * slots} entries ({stages} stages x {slots} slots)", source)


@dataclass(frozen=True, eq=False)
class Arch:
    """A subnet of a search space. Construct it with lists or tuples; it stores tuples."""

    space: str
    kernel: tuple[int, ...]
    expand: tuple[int, ...]
    depth: tuple[int, ...]
    resolution: int

    def __post_init__(self) -> None:
        self._check_shape(None)

    def _check_shape(self, source: str | None, shape: tuple[int, int] | None = None) -> None:
        """Types and lengths of the fields; ``shape``: (stages, slots per stage) of the arch's space, where known."""
        if not isinstance(self.space, str) or not self.space:
            raise ArchError("space", self.space, "a non-empty search-space name", source)
        set_ = object.__setattr__  # frozen dataclass: normalise once, here
        set_(self, "kernel", _int_tuple(self.kernel, "kernel", source))
        set_(self, "expand", _int_tuple(self.expand, "expand", source))
        set_(self, "depth", _int_tuple(self.depth, "depth", source))
        set_(self, "resolution", _int(self.resolution, "resolution", source))
        if shape is not None:
            # the space's lengths say which field is wrong; the fields' own (slots = len(kernel) / len(depth))
            # blame kernel for a depth of one entry too many, and state lengths the space does not have
            stages, slots = shape
            for field in ("depth", "kernel", "expand"):
                if len(getattr(self, field)) != (stages if field == "depth" else stages * slots):
                    raise wrong_length(field, getattr(self, field), stages, slots, source)
        if not self.depth:
            raise ArchError("depth", list(self.depth), "one depth per stage (a non-empty list)", source)
        n_stages = len(self.depth)
        if len(self.kernel) == 0 or len(self.kernel) % n_stages:
            raise ArchError(
                "kernel", list(self.kernel), f"a multiple of {n_stages} entries (stages x max depth)", source
            )
        if len(self.expand) != len(self.kernel):
            raise ArchError("expand", list(self.expand), f"as many entries as kernel (expand has {len(self.expand)}, "
                            f"kernel {len(self.kernel)}: one per block slot, stages x slots per stage)", source)
        max_depth = self.max_depth
        for i, d in enumerate(self.depth):
            if not 1 <= d <= max_depth:
                raise ArchError(f"depth[{i}]", d, f"1..{max_depth} (the slots per stage)", source)
        # which slots are used, once: is_active is asked per slot by validation, canonical form, encodings
        set_(self, "_active", tuple(index < d for d in self.depth for index in range(max_depth)))

    # --- structure -------------------------------------------------------------------------
    @property
    def num_stages(self) -> int:
        return len(self.depth)

    @property
    def max_depth(self) -> int:
        """Block slots per stage."""
        return len(self.kernel) // len(self.depth)

    def is_active(self, slot: int) -> bool:
        """Whether block slot ``slot`` (flat, stage-major) is used by this arch."""
        return self._active[slot]

    def active_blocks(self) -> Iterator[ActiveBlock]:
        """The blocks this arch uses, in network order."""
        for stage, d in enumerate(self.depth):
            for index in range(d):
                slot = stage * self.max_depth + index
                yield ActiveBlock(stage, index, slot, self.kernel[slot], self.expand[slot])

    # --- identity ---------------------------------------------------------------------------
    def canonical(self) -> Arch:
        """The same arch with unused slots set to ``0``."""
        known = self.__dict__.get("_canonical")  # computed once: equality and hashing ask for it each time
        if known is not None:
            return known
        active = self._active
        kernel = tuple(k if on else UNUSED for k, on in zip(self.kernel, active))
        expand = tuple(e if on else UNUSED for e, on in zip(self.expand, active))
        if kernel == self.kernel and expand == self.expand:
            out = self
        else:
            out = Arch(self.space, kernel, expand, self.depth, self.resolution)
            object.__setattr__(out, "_canonical", out)
        object.__setattr__(self, "_canonical", out)
        return out

    def _key(self) -> tuple:
        c = self.canonical()
        return (c.space, c.kernel, c.expand, c.depth, c.resolution)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Arch):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def digest(self) -> str:
        """A stable 16-hex-digit identifier of the canonical arch (same across processes and versions)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    # --- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON-ready dict."""
        c = self.canonical()
        return {
            "space": c.space,
            "kernel": list(c.kernel),
            "expand": list(c.expand),
            "depth": list(c.depth),
            "resolution": c.resolution,
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, separators=None if indent else (",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None, shape_of: ShapeOf | None = None) -> Arch:
        """Build an arch from a mapping; unknown or missing fields raise :class:`ArchError` naming them.

        ``shape_of`` (see :data:`ShapeOf`): the space the arch names is looked up before its fields' lengths are
        checked, so that an unknown space is said first and a wrong length with the space's own lengths."""
        if not isinstance(data, Mapping):
            raise ArchError(ROOT, data, "a JSON object with fields " + ", ".join(FIELDS), source)
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ArchError(unknown[0], data[unknown[0]], "one of the fields " + ", ".join(FIELDS), source)
        missing = [f for f in FIELDS if f not in data]
        if missing:
            raise ArchError(missing[0], None, "a value (the field is required)", source)
        arch = object.__new__(cls)
        for f in FIELDS:
            object.__setattr__(arch, f, data[f])
        space = data["space"]
        known = shape_of is not None and isinstance(space, str) and space  # else _check_shape names the space field
        arch._check_shape(source, shape_of(space, source) if known else None)
        return arch

    @classmethod
    def from_json(cls, text: str, source: str | None = None, shape_of: ShapeOf | None = None) -> Arch:
        """One arch from JSON text; ``source`` (a file, a CSV cell) is named in errors (``shape_of``: as for
        :meth:`from_dict`)."""
        return cls._from_json(text, source, shape_of=shape_of)

    @classmethod
    def _from_json(cls, text: str, source: str | None, extra_data: str = "", shape_of: ShapeOf | None = None) -> Arch:
        where = f"{source}: " if source else ""
        try:
            data = loads_once_each(text)
        except KeyGivenTwice as exc:
            raise NasedgeError(f"{where}{exc}") from None
        except json.JSONDecodeError as exc:
            more = extra_data if exc.msg == "Extra data" else ""
            raise NasedgeError(f"{where}invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{more}") \
                from None
        except (ValueError, RecursionError) as exc:  # a number of thousands of digits, lists nested thousands deep
            raise NasedgeError(f"{where}not an arch: {past_limits(exc)}") from None
        return cls.from_dict(data, source, shape_of)

    @classmethod
    def load(cls, path: str | Path, shape_of: ShapeOf | None = None) -> Arch:
        """Read one arch from a JSON file (``shape_of``: as for :meth:`from_dict`)."""
        text = read_text_file(path, "a JSON file", encoding="utf-8-sig")  # a BOM (Windows editors) is no JSON
        return cls._from_json(text, str(path), extra_data=" (a second JSON value: this file holds one "
                              "arch; JSON lines of archs go in a .jsonl file)", shape_of=shape_of)

    def save(self, path: str | Path) -> None:
        """Write the arch as JSON, atomically (a kill leaves the file before or after, never half)."""
        try:
            atomic_write_text(Path(path), self.to_json(indent=2) + "\n")
        except OSError as exc:
            raise NasedgeError(f"{path}: cannot write the arch ({exc.strerror or type(exc).__name__})") from None


def read_archs_jsonl(path: str | Path, shape_of: ShapeOf | None = None) -> list[tuple[str, Arch]]:
    """``(arch_id, arch)`` per non-blank line of a JSON-lines file of archs.

    Each line is an object with the arch's fields and an optional ``arch_id`` (default: the line's
    index among the archs); a bad line raises :class:`NasedgeError` naming ``<path>:<line>``
    (``shape_of``: as for :meth:`Arch.from_dict`).
    """
    rows: list[tuple[str, Arch]] = []
    for where, data in read_json_lines(path, "no such arch file", "not a JSON-lines arch file"):
        if not isinstance(data, dict):
            raise NasedgeError(f"{where}: expected a JSON object with the arch's fields")
        arch_id = data.pop("arch_id", len(rows))
        rows.append((str(arch_id), Arch.from_dict(data, where, shape_of)))
    ids = [i for i, _ in rows]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise NasedgeError(f"{path}: arch_id {dup!r} appears more than once")
    return rows


def write_archs_jsonl(path: str | Path, rows: Iterable[tuple[str | int, Arch]]) -> None:
    """Write ``(arch_id, arch)`` rows as JSON lines (atomically); digit-only ids are written as integers."""
    text = "".join(json.dumps({"arch_id": int(i) if str(i).isdigit() else i, **a.to_dict()}) + "\n" for i, a in rows)
    atomic_write_text(path, text)
