"""The optuna strategy's persistent study: resume, sharing between processes, and its checks."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import optuna
import pytest

from nasedge.arch import Arch
from nasedge.errors import NasedgeError
from nasedge.search import SearchResult, create_strategy
from nasedge.search.optuna_search import open_storage, probe_archs
from nasedge.search.proxies import ProxyAccuracy, ProxyLatency
from nasedge.spaces import get_space

SPACE = get_space("ofa_mbv3_cifar")
ACC, LAT = ProxyAccuracy(SPACE), ProxyLatency(SPACE)
BUDGET = 5.6  # about the median proxy latency of random archs


class Counted:
    def __init__(self, fn, fail_after=None, delay=0.0, lockstep=None, lockstep_calls=0):
        self.fn, self.archs, self.fail_after, self.delay = fn, [], fail_after, delay
        self.lockstep, self.lockstep_calls, self.calls = lockstep, lockstep_calls, 0

    def __call__(self, archs):
        if self.fail_after is not None and len(self.archs) + len(archs) > self.fail_after:
            raise KeyboardInterrupt  # what an interrupted search looks like
        self.calls += 1
        if self.calls <= self.lockstep_calls:
            self.lockstep.wait(timeout=120)  # every worker of the study has come this far
        time.sleep(self.delay * len(archs))
        self.archs.extend(archs)
        return self.fn(archs)


def _storage(tmp_path, kind):
    return str(tmp_path / "study.log") if kind == "journal" else f"sqlite:///{tmp_path / 'study.db'}"


def _trials(storage, name, state=None):
    study = optuna.load_study(study_name=name, storage=open_storage(storage))
    return study.get_trials(deepcopy=False, states=None if state is None else (state,))


@pytest.mark.parametrize("kind,first,total", [("journal", 16, 40), ("sqlite", 6, 14)])  # sqlite commits per parameter: slow
def test_a_second_run_resumes_the_study_without_redoing_trials(tmp_path, kind, first, total):
    storage = _storage(tmp_path, kind)
    strategy = create_strategy("optuna", storage=storage, study_name="resume", batch_size=4)
    first_objective = Counted(ACC)
    a = strategy.run(SPACE, first_objective, LAT, BUDGET, max_evaluations=first, seed=0)
    assert a.evaluations == first and a.reused_evaluations == 0
    second_objective = Counted(ACC)
    b = strategy.run(SPACE, second_objective, LAT, BUDGET, max_evaluations=total, seed=1)
    # the cap is the study's total: the first run's trials are taken over, none of their archs scored again
    assert b.reused_evaluations == first and b.evaluations == total - first
    probe = set(probe_archs(SPACE))  # each run fingerprints its predictors on these, outside the search
    assert not (set(second_objective.archs) & set(first_objective.archs)) - probe
    assert {c.arch for c in a.scored()} <= {c.arch for c in b.scored() if c.reused}
    assert b.best_objective >= a.best_objective
    complete = _trials(storage, "resume", optuna.trial.TrialState.COMPLETE)
    scored = [t for t in complete if np.isfinite(t.values[0])]
    assert len(scored) == total and all(t.constraints["latency"] <= 0 for t in scored)
    assert all(t.constraints["latency"] > 0 for t in complete if not np.isfinite(t.values[0]))


def test_an_interrupted_search_leaves_no_running_trial_and_resumes(tmp_path):
    storage = _storage(tmp_path, "journal")
    strategy = create_strategy("optuna", storage=storage, study_name="crash", batch_size=4)
    with pytest.raises(KeyboardInterrupt):
        strategy.run(SPACE, Counted(ACC, fail_after=9), LAT, BUDGET, max_evaluations=20, seed=0)
    trials = _trials(storage, "crash")
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    done = sum(1 for t in trials if t.state == optuna.trial.TrialState.COMPLETE and np.isfinite(t.values[0]))
    assert 0 < done <= 9
    resumed = strategy.run(SPACE, Counted(ACC), LAT, BUDGET, max_evaluations=20, seed=1)
    assert resumed.reused_evaluations == done and resumed.evaluations == 20 - done


@pytest.mark.parametrize("cut", [37, 1])
def test_a_journal_whose_last_line_a_kill_cut_short_resumes(tmp_path, capsys, cut):
    """A kill during an append leaves part of a line (no newline): it is dropped, said once, and the search resumes
    from every whole trial (Optuna failed on it with a traceback, and appended after it, breaking the study). A
    whole last line that lost only its newline gets it back."""
    storage = _storage(tmp_path, "journal")
    strategy = create_strategy("optuna", storage=storage, study_name="torn", batch_size=4)
    strategy.run(SPACE, Counted(ACC), LAT, BUDGET, max_evaluations=12, seed=0)
    done = sum(np.isfinite(t.values[0]) for t in _trials(storage, "torn", optuna.trial.TrialState.COMPLETE))
    journal = tmp_path / "study.log"
    text = journal.read_bytes()
    journal.write_bytes(text[:-cut])
    capsys.readouterr()
    resumed = strategy.run(SPACE, Counted(ACC), LAT, BUDGET, max_evaluations=20, seed=1)
    err = capsys.readouterr().err
    if cut > 1:
        assert err.count("dropped a last line cut short") == 1 and resumed.reused_evaluations >= done - 1
    else:
        assert "dropped" not in err and resumed.reused_evaluations == done
    assert resumed.evaluations + resumed.reused_evaluations == 20


@pytest.mark.parametrize("content", [b"my notes\nthe last line", b"SQLite format 3\x00" + bytes(range(256)) * 8])
def test_a_file_that_is_not_a_journal_is_left_as_it_is(tmp_path, content):
    """A notes file or an SQLite database given as the journal (sqlite:/// left off) ends its last line without a
    newline too: it is Optuna's to refuse, never cut."""
    path = tmp_path / "study.db"
    path.write_bytes(content)
    with pytest.raises(NasedgeError):
        create_strategy("optuna", storage=str(path), study_name="s").run(SPACE, ACC, LAT, BUDGET, max_evaluations=5)
    assert path.read_bytes() == content


def test_a_study_created_for_another_search_is_refused(tmp_path):
    storage = _storage(tmp_path, "journal")
    create_strategy("optuna", storage=storage, study_name="s").run(SPACE, ACC, LAT, BUDGET, max_evaluations=5)
    with pytest.raises(NasedgeError, match=r"study 's' .* field 'budget' is 5.6 but this search has 4.0"):
        create_strategy("optuna", storage=storage, study_name="s").run(SPACE, ACC, LAT, 4.0, max_evaluations=5)


def test_a_study_scored_by_other_predictors_is_refused(tmp_path):
    # another device's latency predictor (or another supernet's accuracy predictor) under the same study: its
    # stored scores would be taken as this search's, and a pick within the other device's budget can miss this one's
    storage = _storage(tmp_path, "journal")
    create_strategy("optuna", storage=storage, study_name="s").run(SPACE, ACC, LAT, BUDGET, max_evaluations=5)
    slower = lambda archs: 1.2 * np.asarray(LAT(archs))  # noqa: E731  (a device 20 % slower)
    with pytest.raises(NasedgeError, match=r"optuna study 's' in .* was scored by other accuracy or latency predictors"):
        create_strategy("optuna", storage=storage, study_name="s").run(SPACE, ACC, slower, BUDGET, max_evaluations=5)
    offset = lambda archs: np.asarray(ACC(archs)) + 1.0  # noqa: E731  (another accuracy predictor)
    with pytest.raises(NasedgeError, match="was scored by other accuracy or latency predictors"):
        create_strategy("optuna", storage=storage, study_name="s").run(SPACE, offset, LAT, BUDGET, max_evaluations=5)
    resumed = create_strategy("optuna", storage=storage, study_name="s").run(SPACE, ACC, LAT, BUDGET, max_evaluations=8)
    assert resumed.reused_evaluations > 0  # the same predictors: resumed as before


def test_a_journal_in_a_folder_not_made_yet_is_made(tmp_path):
    journal = tmp_path / "runs" / "deeper" / "study.log"  # the README's example names runs/study.log
    create_strategy("optuna", storage=str(journal), study_name="s").run(SPACE, ACC, LAT, BUDGET, max_evaluations=5)
    assert journal.is_file() and _trials(str(journal), "s", optuna.trial.TrialState.COMPLETE)


def test_bad_storage_is_a_one_line_error(tmp_path):
    with pytest.raises(NasedgeError, match="optuna storage"):
        create_strategy("optuna", storage=str(tmp_path)).run(SPACE, ACC, LAT, BUDGET, max_evaluations=5)
    with pytest.raises(NasedgeError, match="optuna storage 'nosuchdb://x'"):
        create_strategy("optuna", storage="nosuchdb://x").run(SPACE, ACC, LAT, BUDGET, max_evaluations=5)


def _worker(storage: str, seed: int, barrier, out: str) -> None:
    # The first two objective calls wait for the other worker. At the first, both have asked the study for trials
    # and neither has scored any, so each scores archs of its own. At the second, each has told its first batch, so
    # each reads the other's trials before the study is full. Without this lockstep, a worker the machine
    # descheduled for a few seconds found the study already full and scored nothing (seen in CI).
    objective = Counted(ProxyAccuracy(SPACE), delay=0.01, lockstep=barrier, lockstep_calls=2)
    result = create_strategy("optuna", storage=storage, study_name="shared", batch_size=4).run(
        SPACE, objective, ProxyLatency(SPACE), BUDGET, max_evaluations=40, seed=seed)
    result.save(out)


def test_two_processes_share_one_journal_study(tmp_path):
    storage = _storage(tmp_path, "journal")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    outs = [str(tmp_path / f"w{i}.json") for i in range(2)]
    procs = [ctx.Process(target=_worker, args=(storage, seed, barrier, out)) for seed, out in zip((1, 2), outs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
        assert p.exitcode == 0
    results = [SearchResult.load(o) for o in outs]
    own = [{c.arch for c in r.history if c.objective is not None and not c.reused} for r in results]
    assert all(own), "both workers must have scored archs"
    assert all(r.reused_evaluations > 0 for r in results), "each worker must have read the other's trials"
    assert not own[0] & own[1]
    trials = _trials(storage, "shared", optuna.trial.TrialState.COMPLETE)
    scored = {Arch.from_dict(t.user_attrs["arch"]) for t in trials if np.isfinite(t.values[0])}
    assert scored == own[0] | own[1]
    # each worker stops once the study holds 40 scored trials; one batch each may be in flight then
    assert 40 <= len(scored) <= 40 + 2 * 4
    assert len({t.number for t in trials}) == len(trials)


def test_multi_objective_nsga2_gives_a_pareto_front():
    strategy = create_strategy("optuna", sampler="nsga2", multi_objective=True, population_size=20)
    result = strategy.run(SPACE, ACC, LAT, float("inf"), max_evaluations=120, seed=0)
    front = result.pareto
    assert len(front) >= 5
    assert [c.constraint for c in front] == sorted(c.constraint for c in front)
    assert [c.objective for c in front] == sorted(c.objective for c in front)
    # the front spans a real range of latencies (it is a trade-off curve, not a point)
    assert front[-1].constraint - front[0].constraint > 0.2 * (LAT([SPACE.max_arch()])[0] - LAT([SPACE.min_arch()])[0])
