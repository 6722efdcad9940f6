"""The round journal: the rounds of an interleaved group kept as they are timed, so that a kill costs one round.

The protocol times a group of archs in rounds (:func:`nasedge.measure.measure_interleaved`), and an arch's
row exists only when its group ends. :func:`nasedge.measure.measure_to_csv` therefore keeps every round in
``<csv>.<device>.rounds.jsonl`` as soon as the whole group has timed it (one write, fsync): a header line
``{"format", "device", "settings"}`` (``settings``: ``Device.settings``; a journal of other settings is moved
aside, not resumed), then one line per arch and round, ``{"key", "timings", "cpu_s", "wall_s"}`` (``key``:
the arch's id and digest). A rerun restores each arch's rounds and times only the rounds still needed (an arch
the restored rounds settle is not even built again); the journal is removed once every row is in the CSV.
Interleaving then costs a kill no more than measuring one arch at a time does, and keeps what interleaving is
for: a drift of the machine is shared by the group.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nasedge.arch import Arch
from nasedge.atomic import durable_append
from nasedge.errors import NasedgeError
from nasedge.jsonlines import json_lines_text, read_appended_json_lines
from nasedge.measure.protocol import NoisyRefused, Round

FORMAT = "nasedge-rounds/1"


def journal_path(csv: str | Path, device: str) -> Path:
    """Where the rounds of ``device``'s groups measured into ``csv`` are kept until their rows are written."""
    csv = Path(csv)
    return csv.with_name(f"{csv.name}.{device}.rounds.jsonl")


def arch_key(arch_id: str, arch: Arch) -> str:
    return f"{arch_id}:{arch.digest()}"


def open_journal(beside: str | Path, device, keys: Sequence[str],
                 warn: Callable[[str], None] | None = None) -> RoundJournal | None:
    """The round journal of ``device``'s groups measured into ``beside`` (:func:`journal_path`), for the workloads
    ``keys``; ``None`` where the device measures one workload at a time (a kill then costs that one anyway)."""
    if not keys or device.group_size() <= 1:
        return None
    return RoundJournal(journal_path(beside, device.name), device.name, keys, warn=warn,
                        settings=getattr(device, "settings", ""))


def check_journal(beside: str | Path, device: Any) -> None:
    """Refuse now, before the work, the round journal of ``device`` beside ``beside`` that measuring ``device`` into
    ``beside`` would refuse (:func:`open_journal`) once the work is done: read as it would be, never repaired nor
    moved aside. A journal of other settings of the device is moved aside then, so it is no error."""
    if device.group_size() <= 1:
        return
    path = journal_path(beside, device.name)
    settings = getattr(device, "settings", "")
    if not _other_settings(path, device.name, settings):
        _read(path, _header(device.name, settings), None, repair=False)


def _header(device: str, settings: str) -> dict[str, str]:
    return {"format": FORMAT, "device": device, **({"settings": settings} if settings else {})}


@contextmanager
def journal_in_use(journal: RoundJournal | None) -> Iterator[None]:
    """Around a measurement that keeps its rounds in ``journal``: the journal is removed once the measurement returns
    (the rows it times are written by then, chunk by chunk), and where ``on_noisy: raise`` refuses a group (it holds
    the refused group's rounds, which would settle it again on a rerun and be refused again, never timed afresh).
    Any other failure, a kill included, leaves it for the rerun to resume from."""
    try:
        yield
    except NoisyRefused as exc:
        if journal is None or not journal.path.exists():
            raise
        journal.remove()
        raise NoisyRefused(f"{exc}; its rounds are dropped from {journal.path.name}, so a rerun times it "
                           f"afresh") from None
    if journal is not None:
        journal.remove()


class RoundJournal:
    """The rounds of ``keys`` (one per workload, in the order they are measured) in the file ``path``: a
    :class:`nasedge.measure.protocol.RoundLog` whose runner ``i`` is workload ``i``."""

    def __init__(self, path: str | Path, device: str, keys: Sequence[str],
                 warn: Callable[[str], None] | None = None, settings: str = ""):
        self.path, self.device, self.keys = Path(path), device, list(keys)
        self.on_record: Callable[[], None] | None = None  # called after each round is kept (progress)
        self.header = _header(device, settings)
        _aside_if_other_settings(self.path, device, settings, warn)
        self._rounds = _read(self.path, self.header, warn)
        self.restored = sum(len(self._rounds.get(k, [])) for k in self.keys)

    def kept(self) -> dict[str, int]:
        """How many rounds the journal holds, per key (of any workload, not only of ``keys``)."""
        return {k: len(v) for k, v in self._rounds.items()}

    def restore(self, runner: int) -> list[Round]:
        return list(self._rounds.get(self.keys[runner], []))

    def record(self, rounds: dict[int, Round]) -> None:
        docs = [{"key": self.keys[i], "timings": list(r.timings), "cpu_s": r.cpu_s, "wall_s": r.wall_s}
                for i, r in rounds.items()]
        durable_append(self.path, json_lines_text(docs).encode(), header=json_lines_text([self.header]).encode())
        for i, r in rounds.items():
            self._rounds.setdefault(self.keys[i], []).append(r)
        if self.on_record is not None:
            self.on_record()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _other_settings(path: Path, device: str, settings: str) -> str:
    """The settings of ``device`` that the journal ``path`` was timed under where they are not ``settings`` (its YAML
    edited since), else ""."""
    try:
        with path.open() as f:
            first = json.loads(f.readline())
    except (OSError, ValueError):
        return ""  # none, or unreadable: _read says what is wrong
    theirs = first.get("settings", "") if isinstance(first, dict) else ""
    if not settings or not theirs or theirs == settings or first.get("device") != device:
        return ""
    return theirs


def _aside_if_other_settings(path: Path, device: str, settings: str, warn: Callable[[str], None] | None) -> None:
    """A journal of ``device`` timed under other settings (its YAML edited since) is moved aside: its rounds are
    of another board and must not complete this one's rows."""
    theirs = _other_settings(path, device, settings)
    if not theirs:
        return
    aside = path.with_name(f"{path.name}.settings-{theirs}")
    path.replace(aside)
    message = f"{path}: rounds timed under other settings of {device} ({theirs}) are not resumed; kept in {aside}"
    if warn is not None:
        warn(message)


def _read(path: Path, header: dict, warn: Callable[[str], None] | None, repair: bool = True) -> dict[str, list[Round]]:
    """The rounds ``path`` holds, by key; repairs a last line cut short (``repair``); refuses another device's
    journal."""
    out: dict[str, list[Round]] = {}

    def check(lineno: int, doc: Any) -> None:
        if lineno == 1:
            same = isinstance(doc, dict) and {k: v for k, v in doc.items() if k != "settings"} == \
                {k: v for k, v in header.items() if k != "settings"}
            if not same:  # a journal written before settings were recorded is this device's
                raise NasedgeError(f"{path}:1: not a round journal of device {header['device']!r} (expected the "
                                   f"header {json.dumps(header)})")
            return
        try:
            r = Round(tuple(float(t) for t in doc["timings"]), float(doc["cpu_s"]), float(doc["wall_s"]))
            key = doc["key"]
        except (KeyError, TypeError, ValueError):
            raise NasedgeError(f"{path}:{lineno}: a round needs 'key', 'timings', 'cpu_s' and 'wall_s'") from None
        if not r.timings or not isinstance(key, str):
            raise NasedgeError(f"{path}:{lineno}: a round needs a 'key' and at least one timing")
        out.setdefault(key, []).append(r)

    try:
        read_appended_json_lines(path, "round journal", "the round in flight", warn, check, repair)
    except NasedgeError as exc:  # a rerun stops on it again and again: say the way out
        raise NasedgeError(f"{exc}; move it away to measure afresh (the rounds it holds are timed again)") from None
    return out
