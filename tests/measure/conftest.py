"""Fixtures for measurement tests: a short protocol so that real measurements take milliseconds."""

from __future__ import annotations

import pytest

# real timings, few of them: enough to exercise every step of the protocol quickly
FAST_PROTOCOL = dict(warmup_runs=1, warmup_s=0.0, round_s=0.001, min_repeats=1, min_rounds=2, max_rounds=3,
                     max_seconds=1.0, max_spread=10.0, min_cpu_share=0.0, max_rse=10.0)


@pytest.fixture
def fast_protocol() -> dict:
    return dict(FAST_PROTOCOL)


@pytest.fixture
def device_config():
    """``device_config(name, where="local", runtime="torch", **measure)``: a device mapping with the fast protocol."""

    def make(name: str = "test-local", where: str = "local", runtime: str = "torch", **measure) -> dict:
        out = {"name": name, "where": where,
               "measure": {"_target_": "nasedge.measure.RuntimeMeasurer", "runtime": runtime, "threads": 1,
                           "protocol": dict(FAST_PROTOCOL), **measure}}
        if where == "ray":
            out["resource"] = f"device:{name}"
        return out

    return make


class Killed(BaseException):
    """Raised where a SIGKILL would land in a test of what a kill costs."""


@pytest.fixture
def kill_after_rounds(monkeypatch):
    """``kill_after_rounds(n)``: the round journal raises :class:`Killed` (``kill_after_rounds.Killed``) right
    after keeping its ``n``-th round; returns the list it appends each kept round's arch count to."""
    from nasedge.measure.round_journal import RoundJournal

    record = RoundJournal.record

    def make(n: int) -> list[int]:
        timed: list[int] = []

        def kill(self, rounds):
            record(self, rounds)
            timed.append(len(rounds))
            if len(timed) == n:
                raise Killed

        monkeypatch.setattr(RoundJournal, "record", kill)
        return timed

    make.Killed = Killed
    return make
