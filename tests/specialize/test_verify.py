"""Verification when the latency profile under-predicts: further rounds converge on archs that meet the budget."""

from types import SimpleNamespace

import pytest

from nasedge.cost import arch_cost
from nasedge.errors import NasedgeError
from nasedge.specialize import verify
from nasedge.specialize.verification import describe_measurements
from nasedge.spaces import get_space

SPACE = get_space("ofa_mbv3_cifar")


class _ScaledDevice:
    """Latency = ``scale`` x a MACs-linear model (the predictor believes scale 1): a systematic under-prediction."""

    name = "scaled"

    def __init__(self, scale: float):
        self.scale, self.calls = scale, 0

    def measure(self, archs, ray_address=None, on_chunk=None):
        self.calls += 1
        out = [SimpleNamespace(median_ms=self.scale * _predicted(a), p90_ms=0.0, noisy=False) for a in archs]
        if on_chunk:
            on_chunk(out)
        return out


def _predicted(arch) -> float:
    return 0.5 + arch_cost(arch, SPACE).macs / 5e7


def _scored(budget: float):
    archs = SPACE.sample_many(300, 0)
    cands = [SimpleNamespace(arch=a, objective=float(arch_cost(a, SPACE).params) / 1e5, constraint=_predicted(a))
             for a in archs if _predicted(a) <= budget]
    return sorted(cands, key=lambda c: -c.objective)


def test_more_rounds_find_archs_within_budget_when_all_finalists_miss():
    budget = 2.0
    scored = _scored(budget)
    device = _ScaledDevice(1.25)
    finalists = verify(device, scored, budget, top_k=3)
    assert not any(f.within_budget for f in finalists[:3])  # the first round all miss
    ok = [f for f in finalists if f.within_budget]
    assert ok and all(f.measured_ms <= budget for f in ok) and device.calls >= 2


def test_gives_up_with_one_line_when_nothing_can_meet_the_budget():
    budget = 2.0
    scored = _scored(budget)
    with pytest.raises(NasedgeError, match="none of the .* finalists meets 2 ms when measured on scaled"):
        verify(_ScaledDevice(100.0), scored, budget, top_k=3)


class _NoisyDevice(_ScaledDevice):
    """Flags its first ``noisy_calls`` measurements noisy (what a contended machine does, deterministically)."""

    def __init__(self, noisy_calls: int):
        super().__init__(1.0)
        self.noisy_calls, self.batches = noisy_calls, []

    def measure(self, archs, ray_address=None, on_chunk=None):
        self.batches.append(len(archs))
        noisy = len(self.batches) <= self.noisy_calls
        out = [SimpleNamespace(median_ms=_predicted(a) * (3 if noisy else 1), p90_ms=0.0, noisy=noisy,
                               reason="spread of single timings 40% > 25%" if noisy else "") for a in archs]
        if on_chunk:
            on_chunk(out)
        return out


@pytest.mark.parametrize("noisy_calls, status, measurements", [(0, True, 1), (1, True, 2), (2, True, 3),
                                                                (3, "noisy", 3), (10, "noisy", 3)])
def test_noisy_finalists_are_measured_again_at_most_twice(noisy_calls, status, measurements):
    from nasedge.specialize.verification import NOISY_ROUNDS, describe_measurements, verification_status

    scored = _scored(100.0)
    device = _NoisyDevice(noisy_calls)
    finalists = verify(device, scored, 100.0, top_k=3)
    assert NOISY_ROUNDS == 2 and device.batches == [3] * measurements  # all three again, together, bounded
    assert all(f.measurements == measurements and verification_status(f) == status for f in finalists)
    assert all(f.measured_ms == pytest.approx(f.predicted_ms * (3 if status == "noisy" else 1)) for f in finalists)
    line = describe_measurements(finalists, 100.0)
    if status == "noisy":
        assert "0 verified within 100 ms, 3 within it but noisy" in line and line.count("(noisy)") == 3
        assert all(f.noisy_reason.startswith("spread") for f in finalists)
    else:
        assert "3 verified within 100 ms" in line and "noisy" not in line


def test_an_arch_measured_for_one_budget_is_not_measured_again_for_the_next():
    scored = _scored(100.0)
    device, measured = _NoisyDevice(0), {}
    verify(device, scored, 50.0, top_k=3, measured=measured)
    finalists = verify(device, scored, 100.0, top_k=3, measured=measured)
    assert device.batches == [3]  # the second budget's finalists were all measured for the first
    assert all(f.measurements == 1 and f.within_budget for f in finalists) and len(measured) == 3


def test_progress_counts_each_round_apart_with_its_total_fixed():
    """One count over every round grew its total when a round of re-measurements started: a log said "1/3", then
    "4/4" of 3 finalists (one re-measured). Each round is counted apart, named, its total fixed from its start; a log
    never shows "3/3" while 3 more run either."""
    calls = []
    verify(_NoisyDevice(1), _scored(100.0), 100.0, top_k=3,
           progress=lambda done, total, what: calls.append((done, total, what)))
    assert calls == [(0, 3, "finalists"), (3, 3, "finalists"),
                     (0, 3, "noisy finalists again (measurement 2)"), (3, 3, "noisy finalists again (measurement 2)")]
    calls.clear()
    verify(_ScaledDevice(1.25), _scored(2.0), 2.0, top_k=3,
           progress=lambda done, total, what: calls.append((done, total, what)))
    assert [c[2] for c in calls[:4]] == ["finalists", "finalists", "more finalists (set 2)", "more finalists (set 2)"]


def test_a_log_of_verification_shows_a_line_per_round_each_with_its_own_total(monkeypatch):
    import io

    from rich.console import Console

    from nasedge import progress
    from nasedge.specialize.progress import round_bars

    class EveryUpdate(progress.PlainProgress):  # a line per update, not per 5 s
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.interval = 0

    monkeypatch.setattr(progress, "PlainProgress", EveryUpdate)
    out = io.StringIO()
    with round_bars(Console(file=out, force_terminal=False), "measure cpu") as update:
        verify(_NoisyDevice(1), _scored(100.0), 100.0, top_k=3, progress=update)
    again = "measure cpu noisy finalists again (measurement 2)"
    assert [line.split(",")[0] for line in out.getvalue().splitlines()] == [
        "measure cpu finalists: 0/3", "measure cpu finalists: 3/3", f"{again}: 0/3", f"{again}: 3/3"]


def test_a_rerun_takes_the_finalists_measured_before_from_the_journal(tmp_path):
    """Verification was held in memory only: an interruption lost every finalist measured (a minute on a board)."""
    import yaml

    from nasedge.measure.device import load_device
    from nasedge.measure.measurement import read_measurements_csv

    (tmp_path / "board.yaml").write_text(yaml.safe_dump({"name": "board", "where": "local", "measure": {
        "_target_": "nasedge.measure.RuntimeMeasurer", "runtime": "onnxruntime", "threads": 1,
        "protocol": {"max_seconds": 1.0, "min_rounds": 2, "max_rounds": 4, "group_size": 1,
                     # never flagged noisy, whatever else runs: a noisy finalist is measured again by design
                     "max_rse": 10.0, "max_spread": 100.0, "min_cpu_share": 0.0}}}))
    device = load_device(tmp_path / "board.yaml")
    calls = []
    real = device.measure

    def counted(archs, **kw):
        calls.append(len(archs))
        return real(archs, **kw)

    object.__setattr__(device, "measure", counted)
    scored = sorted(_scored(100.0), key=lambda c: c.constraint)[:3]  # the smallest: quick to time
    journal = tmp_path / "out" / "verification.csv"
    first = verify(device, scored, 100.0, top_k=1, journal=journal)  # "interrupted" after one finalist
    assert len(read_measurements_csv(journal)) == 1 and sum(calls) == 1
    again = verify(device, scored, 100.0, top_k=2, journal=journal)
    assert sum(calls) == 2  # only the finalist not measured before
    assert again[0].measured_ms == pytest.approx(first[0].measured_ms, rel=1e-5)
    assert [m.arch_id for m in read_measurements_csv(journal)] == [f"{f.arch.digest()}.0" for f in again]
    # and says so: a rerun into a folder holding no manifest printed its measurements as if just taken
    assert [f.earlier_run for f in first] == [False] and [f.earlier_run for f in again] == [True, False]
    assert [f.record()["earlier_run"] for f in again] == [True, False]
    assert describe_measurements(again, 100.0).endswith(
        "; 1 of these measured by an earlier run (taken from verification.csv)")
