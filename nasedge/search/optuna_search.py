"""Search with Optuna: TPE or NSGA-II, constrained, ask/tell in batches, in a persistent study.

An arch is a trial's parameters: ``res`` (resolution), ``d<stage>`` (depth per stage), and
``b<slot>`` (the block of every slot, kernel and expand ratio together, e.g. ``k5e4``; slots beyond
a stage's depth are sampled too and ignored, which keeps the parameter space fixed, as NSGA-II's
crossover needs). One parameter per block rather than two halves the cost of every trial, which
grows with the number of parameters (TPE's model, and a database commit per parameter).
The latency constraint is the trial's constraint ``latency_ms - budget`` (feasible when <= 0),
which both samplers use: TPE splits infeasible trials off by violation, NSGA-II ranks by
constrained domination. Trials that miss the budget are told an objective of ``-inf`` without
calling the accuracy predictor (see :mod:`nasedge.search.base` on screening).

Study storage (option ``storage``): none (in memory), a file path (Optuna's JournalStorage, an
append-only log that several processes can share through file locks), or a database URL such as
``sqlite:///study.db``. With the same storage and ``study_name`` a second run continues the study:
finished trials are read back, their archs are not evaluated again and they count toward
``max_evaluations``, which is the study's total; workers sharing a study also read each other's
trials before every batch. Give each worker its own seed. A study is continued only by a search of the same
space, budget, sampler and objectives whose accuracy and latency predictors give the same values on a few probe
archs (:func:`probe_archs`): another device's or supernet's scores are never taken as this search's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from nasedge.arch import Arch
from nasedge.errors import NasedgeError
from nasedge.search.base import Candidate, Evaluator, SearchExhausted, Strategy, StrategyConfig, require
from nasedge.spaces.base import SearchSpace

SAMPLERS = ("tpe", "nsga2")
_ATTR = "nasedge"  # study user attribute holding what the study was created for


@dataclass
class OptunaConfig(StrategyConfig):
    name: str = "optuna"
    sampler: str = "tpe"  # tpe | nsga2
    batch_size: int = 8  # trials asked before they are scored together and told
    # null: in memory; a file path: JournalStorage (shareable by processes); a URL: RDB (sqlite:///x.db)
    storage: Optional[str] = None
    # null: derived from space, sampler and budget (so a rerun of the same search resumes it)
    study_name: Optional[str] = None
    multi_objective: bool = False  # maximize accuracy and minimize latency together (a Pareto front)
    n_startup_trials: int = 20  # TPE: random trials before the model is used
    multivariate: bool = True  # TPE: model dimensions jointly
    population_size: int = 50  # NSGA-II: individuals per generation


class OptunaStrategy(Strategy):
    """Optuna TPE or NSGA-II under the latency constraint, in a resumable, shareable study."""

    name = "optuna"
    Config = OptunaConfig

    @classmethod
    def check_config(cls, config: OptunaConfig) -> None:
        super().check_config(config)
        require(config, "sampler", config.sampler in SAMPLERS, " or ".join(SAMPLERS))
        require(config, "batch_size", config.batch_size >= 1, "a positive integer")
        require(config, "n_startup_trials", config.n_startup_trials >= 0, "a non-negative integer")
        require(config, "population_size", config.population_size >= 2, "an integer >= 2")
        require(config, "storage", config.storage is None or config.storage.strip() != "", "a path, a URL or null")

    def _search(self, space: SearchSpace, evaluator: Evaluator, rng: np.random.Generator, seed: int) -> None:
        import optuna

        cfg = self.config
        distributions = _distributions(space)
        with _quiet_optuna():
            study = self._open_study(space, evaluator, seed)
            told: set[int] = set()
            while True:
                _read_trials(study, space, evaluator, told)
                evaluator.check()
                # Always a full batch, even when the cap falls inside it: the evaluator scores what fits,
                # so a run capped at n evaluations is the first n evaluations of a longer run.
                trials = [study.ask(distributions) for _ in range(cfg.batch_size)]
                stop: SearchExhausted | None = None
                try:
                    archs = [_decode(space, t.params) for t in trials]
                    evaluator.evaluate(archs)
                except SearchExhausted as exc:
                    stop = exc
                except BaseException:
                    for t in trials:  # leave no RUNNING trial behind in a persistent study
                        study.tell(t, state=optuna.trial.TrialState.FAIL)
                    raise
                for t, arch in zip(trials, archs):
                    self._tell(study, t, evaluator.get(arch), evaluator.budget)
                    told.add(t.number)
                if stop is not None:
                    raise stop

    def _tell(self, study, trial, cand: Candidate | None, budget: float) -> None:
        import optuna

        if cand is None or (cand.feasible and cand.objective is None):  # beyond a cap: never scored
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        trial.set_user_attr("arch", cand.arch.to_dict())
        trial.set_user_attr("latency_ms", cand.constraint)
        trial.set_constraint("latency", cand.constraint - budget if math.isfinite(budget) else -1.0)
        acc = cand.objective if cand.feasible else -math.inf
        study.tell(trial, [acc, cand.constraint] if self.config.multi_objective else acc)

    def _open_study(self, space: SearchSpace, evaluator: Evaluator, seed: int):
        import optuna

        cfg, budget = self.config, evaluator.budget
        storage = open_storage(cfg.storage)
        if cfg.sampler == "tpe":
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=cfg.n_startup_trials,
                                                 multivariate=cfg.multivariate, constant_liar=True)
        else:
            sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=cfg.population_size)
        directions = ["maximize", "minimize"] if cfg.multi_objective else ["maximize"]
        name = cfg.study_name or f"nasedge-{space.name}-{cfg.sampler}{'-mo' if cfg.multi_objective else ''}-{budget:g}ms"
        study = optuna.create_study(storage=storage, sampler=sampler, study_name=name, directions=directions,
                                    load_if_exists=True)
        created_for = {"space": space.name, "budget": budget if math.isfinite(budget) else None,
                       "sampler": cfg.sampler, "multi_objective": cfg.multi_objective}
        if storage is not None:  # its trials' scores are reused: only from the same accuracy and latency predictors
            created_for["predictors"] = evaluator.fingerprint(probe_archs(space))
        stored = study.user_attrs.get(_ATTR)
        if stored is None:
            study.set_user_attr(_ATTR, created_for)
        else:
            fingerprint = created_for.pop("predictors", None)
            for key, value in created_for.items():
                if stored.get(key) != value:
                    raise NasedgeError(
                        f"optuna study {name!r} in {cfg.storage}: field {key!r} is {stored.get(key)!r} but this "
                        f"search has {value!r}; use another study_name for a different search")
            if stored.get("predictors", fingerprint) != fingerprint:  # (studies of before it stored none)
                raise NasedgeError(
                    f"optuna study {name!r} in {cfg.storage} was scored by other accuracy or latency "
                    f"predictors (another device, supernet or profile: they give other values on the same "
                    f"archs); its scores would be reused as this search's. Use another study_name or storage")
        return study


def probe_archs(space: SearchSpace) -> list:
    """The archs a persistent study's predictors are fingerprinted on (each run calls them once more on these)."""
    return [space.min_arch(), space.max_arch(), *space.sample_many(2, 0)]


def open_storage(spec: Optional[str]):
    """``None`` (in memory), a database URL (RDBStorage) or a file path (JournalStorage)."""
    if spec is None:
        return None
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    try:
        if "://" in spec:
            return optuna.storages.RDBStorage(spec)
        path = Path(spec).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)  # as a database's folder is made
        _drop_cut_short_line(path)
        return JournalStorage(JournalFileBackend(str(path)))
    except (OSError, ValueError, ImportError) as exc:
        raise NasedgeError(f"optuna storage {spec!r}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # sqlalchemy's errors (bad URL, unreachable server) have no common base here
        raise NasedgeError(f"optuna storage {spec!r}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None


def _drop_cut_short_line(path: Path) -> None:
    """A journal whose last line a kill cut short (no newline, not whole JSON) loses that line, said on stderr: Optuna
    fails to read it, and appends after it so that the next line is broken too and the study unreadable. Only a
    file whose first line is one of Optuna's journal records is touched (anything else is Optuna's to refuse),
    and under Optuna's own lock, as a worker sharing the journal appends under it."""
    from optuna.storages.journal import JournalFileSymlinkLock

    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 20)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return  # a new journal; the others are Optuna's to refuse, in one line
    try:
        if not (first.endswith(b"\n") and "op_code" in json.loads(first)):
            return
    except (ValueError, TypeError):
        return
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(max(0, size - (1 << 20)))
            tail = f.read()
        if not tail or tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n") + 1
        if cut == 0:
            return  # a last line over 1 MiB: not one Optuna wrote; its own error says so
        try:
            json.loads(tail[cut:])
        except ValueError:
            os.truncate(path, size - (len(tail) - cut))
            print(f"nasedge: warning: {path}: dropped a last line cut short (the trial in flight when the run "
                  f"stopped)", file=sys.stderr)
        else:  # whole: it lost only its newline, without which Optuna's next line would run on from it
            with open(path, "ab") as f:
                f.write(b"\n")
    finally:
        lock.release()


def _dimensions(space: SearchSpace) -> tuple[Any, ...]:
    try:
        return (space.kernel_choices, space.expand_choices, space.stage_depth_choices, space.resolutions,
                space.num_slots, space.num_stages)
    except AttributeError as exc:
        raise NasedgeError(f"search strategy 'optuna' needs a space with per-dimension choices; "
                           f"{space.name} lacks {exc.name!r}") from None


def _block_choices(space: SearchSpace) -> dict[str, tuple[int, int]]:
    kernels, expands, *_ = _dimensions(space)
    return {f"k{k}e{e}": (k, e) for k in kernels for e in expands}


def _distributions(space: SearchSpace) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution

    _, _, depths, resolutions, num_slots, num_stages = _dimensions(space)
    dist: dict[str, Any] = {"res": CategoricalDistribution(list(resolutions))}
    dist.update({f"d{s}": CategoricalDistribution(list(depths[s])) for s in range(num_stages)})
    blocks = list(_block_choices(space))
    dist.update({f"b{i}": CategoricalDistribution(blocks) for i in range(num_slots)})
    return dist


def _decode(space: SearchSpace, params: dict[str, Any]) -> Arch:
    *_, num_slots, num_stages = _dimensions(space)
    blocks = _block_choices(space)
    kernel, expand = zip(*(blocks[params[f"b{i}"]] for i in range(num_slots)))
    arch = Arch(space.name, kernel, expand, [params[f"d{s}"] for s in range(num_stages)], params["res"])
    return space.validate(arch)


def _read_trials(study, space: SearchSpace, evaluator: Evaluator, told: set[int]) -> None:
    """Take over finished trials this run did not tell (earlier runs, other workers)."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.number in told:
            continue
        told.add(t.number)
        if "arch" not in t.user_attrs or "latency_ms" not in t.user_attrs:
            continue  # not a nasedge trial
        arch = space.validate(Arch.from_dict(t.user_attrs["arch"]))
        acc = t.values[0]
        evaluator.add_known(arch, float(t.user_attrs["latency_ms"]), acc if math.isfinite(acc) else None)


@contextlib.contextmanager
def _quiet_optuna():
    """Silence Optuna's per-trial INFO log and experimental-feature warnings, then restore them."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)
