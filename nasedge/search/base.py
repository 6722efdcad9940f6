"""The abstract search strategy, the evaluation bookkeeping every strategy shares, and the result.

A search maximizes ``objective`` (predicted accuracy, higher is better) over a space subject to
``constraint(arch) <= budget`` (predicted latency in ms). Both are batched callables over archs.

Every strategy proposes archs to an :class:`Evaluator`, which owns the accounting so that the
figures of different strategies compare: the constraint is evaluated first (cheap screening), the
objective only for archs that meet the budget, each distinct arch at most once (a repeat is served
from a cache and costs nothing). ``evaluations`` counts objective calls per arch, the x-axis of the
search-quality table; ``max_evaluations`` caps them and ``max_proposals`` caps the archs a strategy
may propose (repeats and infeasible ones included), so every search stops in bounded time, even
under a budget that no arch meets. Strategies never enforce the caps themselves: the evaluator
raises :class:`SearchExhausted` and :meth:`Strategy.run` ends the search there.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import math
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Optional

import numpy as np

from nasedge.arch import Arch
from nasedge.atomic import atomic_write_text
from nasedge.errors import NasedgeError, check_seed, is_integer, is_real, returned, shown
from nasedge.search.pareto import pareto_front
from nasedge.spaces.base import SearchSpace

BatchFn = Callable[[Sequence[Arch]], np.ndarray]
PROPOSALS_PER_EVALUATION = 20  # default max_proposals = this x max_evaluations
MIN_PROPOSALS = 1000  # ... but never fewer: a strategy's first population and its repairs are screened before any score
# With nothing feasible after this many proposals, the smallest arch is screened once; if even it
# misses the budget, the search ends (no strategy can do better than the fastest arch).
SMALLEST_CHECK_AFTER = 64
NO_FEASIBLE_ARCH = "no arch meets the budget (the smallest arch misses it)"


@dataclass
class StrategyConfig:
    """Options common to every strategy (the Hydra ``search`` group extends this per strategy)."""

    name: str = "?"
    # objective (accuracy predictor) calls per search; a resumed or shared optuna study counts its earlier trials
    max_evaluations: int = 1000
    # archs a strategy may propose (repeats and infeasible ones included); null: 20 x max_evaluations, at least 1000
    max_proposals: Optional[int] = None


@dataclass
class Candidate:
    """One arch the search looked at.

    ``objective`` is None when the objective was not computed: the arch missed the budget, or the
    evaluation cap was reached. ``evaluation`` is the 1-based index of its objective call (0 if none);
    ``reused`` marks results taken from an earlier run or another worker of a shared study.
    """

    arch: Arch
    constraint: float
    feasible: bool
    objective: Optional[float] = None
    evaluation: int = 0
    reused: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch.to_dict(), "constraint": self.constraint, "feasible": self.feasible,
                "objective": self.objective, "evaluation": self.evaluation, "reused": self.reused}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(Arch.from_dict(data["arch"]), float(data["constraint"]), bool(data["feasible"]),
                   None if data["objective"] is None else float(data["objective"]), int(data["evaluation"]),
                   bool(data.get("reused", False)))


@dataclass(frozen=True)
class SearchProgress:
    """What a progress callback receives after each batch."""

    evaluations: int  # objective calls, reused ones included
    max_evaluations: int
    proposals: int
    max_proposals: int
    best_objective: Optional[float]


class SearchExhausted(Exception):
    """Raised by the evaluator when a cap is reached; :meth:`Strategy.run` ends the search on it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Evaluator:
    """Scores archs for a strategy, caches them, counts calls and enforces the caps."""

    def __init__(self, objective: BatchFn, constraint: BatchFn, budget: float, max_evaluations: int,
                 max_proposals: int, progress: Callable[[SearchProgress], None] | None = None,
                 smallest: Arch | None = None, space: str | None = None, proposer: str = "the search strategy"):
        self._objective, self._constraint, self._progress = objective, constraint, progress
        self._smallest = smallest  # the space's smallest arch, screened once if nothing is feasible
        # what proposals must be (archs of ``space``) and who proposes them: a strategy (a plugin's) proposing
        # anything else is named here, not by the predictor that fails on it later
        self._space, self._proposer = space, proposer
        self.budget = float(budget)
        self.max_evaluations, self.max_proposals = max_evaluations, max_proposals
        self.history: list[Candidate] = []
        self._cache: dict[Arch, Candidate] = {}
        self.evaluations = 0  # objective calls made by this run
        self.reused_evaluations = 0  # objective values taken over from elsewhere (add_known)
        self.constraint_evaluations = 0
        self.proposals = 0
        self._best: Optional[float] = None

    # --- state ----------------------------------------------------------------------------
    @property
    def remaining(self) -> int:
        """How many more archs a strategy can surely have scored (the smaller of the two caps left)."""
        return max(0, min(self.max_evaluations - self.evaluations - self.reused_evaluations,
                          self.max_proposals - self.proposals))

    def known(self, arch: Arch) -> bool:
        """Whether ``arch`` has been scored already (proposing it again costs nothing, yields nothing)."""
        return arch in self._cache

    def get(self, arch: Arch) -> Optional[Candidate]:
        return self._cache.get(arch)

    def check(self) -> None:
        """Raise :class:`SearchExhausted` if a cap is reached already."""
        if self.evaluations + self.reused_evaluations >= self.max_evaluations:
            raise SearchExhausted("evaluation cap")
        if self.proposals >= self.max_proposals:
            raise SearchExhausted("proposal cap")

    # --- scoring --------------------------------------------------------------------------
    def _call(self, fn: BatchFn, archs: list[Arch], what: str) -> np.ndarray:
        values = np.asarray(fn(archs), dtype=float).reshape(-1)
        if values.size != len(archs):
            raise ValueError(f"the {what} returned {values.size} values for {len(archs)} archs")
        if np.isnan(values).any():
            bad = archs[int(np.flatnonzero(np.isnan(values))[0])]
            raise ValueError(f"the {what} returned NaN for arch {bad.to_json()}")
        return values

    def fingerprint(self, archs: Sequence[Arch]) -> str:
        """A digest of the objective's and the constraint's values on ``archs`` (to 6 significant digits), outside
        the search's counts: a search kept across runs (a persistent study) resumes only under the same two."""
        values = [self._call(fn, list(archs), what) for fn, what in ((self._objective, "objective"),
                                                                      (self._constraint, "constraint"))]
        text = ";".join(",".join(f"{v:.6g}" for v in row) for row in values)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _take(self, archs: Sequence[Arch], scoring: bool) -> tuple[list[Arch], bool]:
        """Count proposals; cut the batch where the proposal cap falls.

        Every arch counts, except one that was screened feasible and now gets its objective
        (``scoring``): that is the second half of one proposal, not a new one.
        """
        self.check()
        taken: list[Arch] = []
        for arch in archs:
            if self._space is not None and not (isinstance(arch, Arch) and arch.space == self._space):
                raise returned(self._proposer, shown(arch), f"an Arch of space {self._space!r}", verb="proposed")
            cand = self._cache.get(arch)
            if not (scoring and cand is not None and cand.feasible and cand.objective is None):
                if self.proposals >= self.max_proposals:
                    return taken, True
                self.proposals += 1
            taken.append(arch)
        return taken, False

    def _screen(self, archs: list[Arch]) -> None:
        new = list(dict.fromkeys(a for a in archs if a not in self._cache))
        if not new:
            return
        latency = self._call(self._constraint, new, "constraint")
        self.constraint_evaluations += len(new)
        for arch, lat in zip(new, latency):
            cand = Candidate(arch, float(lat), bool(lat <= self.budget))
            self._cache[arch] = cand
            self.history.append(cand)
        if self._smallest is not None and self.proposals >= SMALLEST_CHECK_AFTER:
            smallest, self._smallest = self._smallest, None
            if not any(c.feasible for c in self.history):
                self.proposals += 1
                self._screen([smallest])
                if not self._cache[smallest].feasible:
                    raise SearchExhausted(NO_FEASIBLE_ARCH)

    def screen(self, archs: Sequence[Arch]) -> np.ndarray:
        """Constraint values of ``archs`` (objective not computed); counts as proposals."""
        taken, cut = self._take(archs, scoring=False)
        self._screen(taken)
        self._report()
        if cut:
            raise SearchExhausted("proposal cap")
        return np.asarray([self._cache[a].constraint for a in taken])

    def evaluate(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(objective, constraint, feasible)`` per arch; objective is NaN where the budget is missed.

        Raises :class:`SearchExhausted` when a cap falls inside the batch (what fitted is recorded).
        """
        taken, out_of_proposals = self._take(archs, scoring=True)
        self._screen(taken)
        todo = list(dict.fromkeys(a for a in taken if self._cache[a].feasible and self._cache[a].objective is None))
        room = self.max_evaluations - self.evaluations - self.reused_evaluations
        out_of_evaluations = len(todo) > room
        todo = todo[:room]
        self._score(todo)
        self._report()
        if out_of_evaluations:
            raise SearchExhausted("evaluation cap")
        if out_of_proposals:
            raise SearchExhausted("proposal cap")
        cands = [self._cache[a] for a in taken]
        return (np.asarray([np.nan if c.objective is None else c.objective for c in cands]),
                np.asarray([c.constraint for c in cands]), np.asarray([c.feasible for c in cands]))

    def score_unscored(self) -> None:
        """Where the search stopped having scored none of the archs it screened within the budget (a cap fell
        between screening and scoring, or only the smallest-arch check found one), score them, up to the
        evaluations left: a search that found feasible archs ends with a pick."""
        if any(c.objective is not None for c in self.history):
            return
        room = self.max_evaluations - self.evaluations - self.reused_evaluations
        todo = [c.arch for c in self.history if c.feasible][:room]
        if todo:
            self._score(todo)
            self._report()

    def _score(self, archs: list[Arch]) -> None:
        if not archs:
            return
        for arch, value in zip(archs, self._call(self._objective, archs, "objective")):
            self.evaluations += 1
            cand = self._cache[arch]
            cand.objective, cand.evaluation = float(value), self.evaluations + self.reused_evaluations
            if self._best is None or value > self._best:
                self._best = float(value)

    def add_known(self, arch: Arch, constraint: float, objective: Optional[float]) -> bool:
        """Record a result computed elsewhere (a resumed study, another worker); False if already known.

        A known objective counts toward ``max_evaluations`` (the cap is the search's total).
        """
        if arch in self._cache:
            return False
        feasible = constraint <= self.budget
        cand = Candidate(arch, float(constraint), feasible, reused=True)
        if feasible and objective is not None:
            self.reused_evaluations += 1
            cand.objective, cand.evaluation = float(objective), self.evaluations + self.reused_evaluations
            if self._best is None or objective > self._best:
                self._best = float(objective)
        self._cache[arch] = cand
        self.history.append(cand)
        return True

    def _report(self) -> None:
        if self._progress is not None:
            self._progress(SearchProgress(self.evaluations + self.reused_evaluations, self.max_evaluations,
                                          self.proposals, self.max_proposals, self._best))


@dataclass
class SearchResult:
    """Everything a search found; ``best``, ``pareto`` and the rest are derived from ``history``."""

    strategy: str
    space: str
    seed: int
    budget: float
    options: dict[str, Any]
    history: list[Candidate]
    evaluations: int  # objective calls made by this run
    reused_evaluations: int
    constraint_evaluations: int
    proposals: int
    max_evaluations: int
    max_proposals: int
    stop_reason: str
    elapsed_s: float

    # --- derived ----------------------------------------------------------------------------
    def scored(self) -> list[Candidate]:
        """Feasible candidates whose objective is known, in the order they were evaluated."""
        return sorted((c for c in self.history if c.objective is not None), key=lambda c: c.evaluation)

    @property
    def best(self) -> Optional[Candidate]:
        """The feasible candidate with the highest objective (the first one on ties); None if none."""
        best = None
        for c in self.scored():
            if best is None or c.objective > best.objective:
                best = c
        return best

    @property
    def best_arch(self) -> Optional[Arch]:
        return None if self.best is None else self.best.arch

    @property
    def best_objective(self) -> Optional[float]:
        return None if self.best is None else self.best.objective

    @property
    def best_constraint(self) -> Optional[float]:
        return None if self.best is None else self.best.constraint

    @property
    def feasible_found(self) -> bool:
        return any(c.feasible for c in self.history)

    @property
    def min_constraint(self) -> Optional[float]:
        """The lowest constraint value seen (how far the budget was from reach when nothing met it)."""
        return min((c.constraint for c in self.history), default=None)

    @property
    def pareto(self) -> list[Candidate]:
        """Non-dominated scored candidates (objective up, constraint down), by constraint."""
        scored = self.scored()
        if not scored:
            return []
        idx = pareto_front([c.objective for c in scored], [c.constraint for c in scored])
        return [scored[i] for i in idx]

    def top(self, k: int) -> list[Candidate]:
        """The ``k`` best feasible candidates (distinct archs), best first: finalists to verify."""
        if not is_integer(k) or k < 0:  # -1 sliced off the last one
            raise NasedgeError(f"k: value {k!r} is not valid; expected a count >= 0")
        return sorted(self.scored(), key=lambda c: (-c.objective, c.evaluation))[:k]

    def best_at(self, evaluations: int) -> Optional[float]:
        """Best feasible objective among the first ``evaluations`` objective calls (anytime curve)."""
        values = [c.objective for c in self.scored() if c.evaluation <= evaluations]
        return max(values) if values else None

    # --- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "strategy": self.strategy, "space": self.space, "seed": self.seed,
            "budget": self.budget if math.isfinite(self.budget) else None,
            "options": self.options,
            "best": None if best is None else best.to_dict(),
            "pareto": [c.to_dict() for c in self.pareto],
            "evaluations": self.evaluations, "reused_evaluations": self.reused_evaluations,
            "constraint_evaluations": self.constraint_evaluations, "proposals": self.proposals,
            "max_evaluations": self.max_evaluations, "max_proposals": self.max_proposals,
            "stop_reason": self.stop_reason, "elapsed_s": self.elapsed_s,
            "history": [c.to_dict() for c in self.history],
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchResult:
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in fields}
        kwargs["history"] = [Candidate.from_dict(c) for c in data["history"]]
        kwargs["budget"] = math.inf if data["budget"] is None else float(data["budget"])
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str, source: str = "search result JSON") -> SearchResult:
        try:
            return cls.from_dict(json.loads(text))
        except (KeyError, TypeError, ValueError) as exc:
            raise NasedgeError(f"{source}: not a search result ({type(exc).__name__}: {exc})") from None

    def save(self, path: str | Path) -> None:
        """Write the result as JSON, atomically."""
        atomic_write_text(path, self.to_json(indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> SearchResult:
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            raise NasedgeError(f"{path}: no such search result") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise NasedgeError(f"{path}: not a readable search result ({type(exc).__name__})") from None
        return cls.from_json(text, str(path))


class Strategy(abc.ABC):
    """A search strategy. Subclasses set ``name`` and ``Config`` and implement :meth:`_search`."""

    name: ClassVar[str]
    Config: ClassVar[type[StrategyConfig]] = StrategyConfig

    def __init__(self, config: StrategyConfig | None = None):
        self.config = config if config is not None else self.Config(name=self.name)
        _check_types(self.config)
        self.check_config(self.config)

    @classmethod
    def check_config(cls, config: StrategyConfig) -> None:
        """Raise :class:`NasedgeError` naming an option outside its range (extend with super())."""
        require(config, "max_evaluations", config.max_evaluations >= 1, "a positive integer")
        require(config, "max_proposals", config.max_proposals is None or config.max_proposals >= 1,
                "a positive integer or null")

    def run(self, space: SearchSpace, objective: BatchFn, constraint: BatchFn, budget: float, *,
            max_evaluations: int | None = None, seed: int = 0,
            progress: Callable[[SearchProgress], None] | None = None) -> SearchResult:
        """Maximize ``objective`` subject to ``constraint <= budget``; stops at the caps.

        ``max_evaluations`` defaults to the config's. With the same seed (and a fresh study for
        optuna) the result is the same; a run with fewer evaluations is a prefix of a longer one.
        """
        if isinstance(space, str):  # a name, as create_predictor takes
            from nasedge.spaces import get_space

            space = get_space(space)
        if not isinstance(space, SearchSpace):
            raise NasedgeError(f"space: {space!r} is not valid; expected a search space or its name")
        max_evaluations = self.config.max_evaluations if max_evaluations is None else max_evaluations
        if not is_integer(max_evaluations) or max_evaluations < 1:
            raise NasedgeError(f"max_evaluations: value {max_evaluations!r} is not valid; expected a positive count")
        max_evaluations = int(max_evaluations)
        check_budget_value(budget)
        budget = float(budget)  # numpy's too: the result's JSON holds it
        if not is_integer(seed):  # check_seed also reads the command line's strings
            raise NasedgeError(f"seed: value {seed!r} is not valid; expected an integer")
        check_seed("seed", seed)  # optuna's samplers fail on a larger one with a traceback
        seed = int(seed)  # numpy's too: the result's JSON holds it
        max_proposals = self.config.max_proposals or max(PROPOSALS_PER_EVALUATION * max_evaluations, MIN_PROPOSALS)
        evaluator = Evaluator(objective, constraint, budget, max_evaluations, max_proposals, progress,
                              smallest=space.min_arch(), space=space.name,
                              proposer=f"search strategy {self.name!r} ({type(self).__qualname__})")
        start = time.perf_counter()
        try:
            self._search(space, evaluator, np.random.default_rng(seed), seed)
            reason = "strategy finished"
        except SearchExhausted as stop:
            reason = stop.reason
        evaluator.score_unscored()
        return SearchResult(
            strategy=self.name, space=space.name, seed=seed, budget=float(budget),
            options=dataclasses.asdict(self.config), history=evaluator.history,
            evaluations=evaluator.evaluations, reused_evaluations=evaluator.reused_evaluations,
            constraint_evaluations=evaluator.constraint_evaluations, proposals=evaluator.proposals,
            max_evaluations=max_evaluations, max_proposals=max_proposals, stop_reason=reason,
            elapsed_s=time.perf_counter() - start,
        )

    @abc.abstractmethod
    def _search(self, space: SearchSpace, evaluator: Evaluator, rng: np.random.Generator, seed: int) -> None:
        """Propose archs to ``evaluator`` until it raises :class:`SearchExhausted` (or the strategy is done).

        Use only ``rng`` (or ``seed`` for libraries with their own generator) for randomness.
        """


def require(config: StrategyConfig, option: str, ok: bool, expected: str) -> None:
    """Raise a one-line :class:`NasedgeError` naming ``option`` of ``config`` unless ``ok``."""
    if not ok:
        raise NasedgeError(f"search strategy {config.name!r}: option {option!r}: value "
                           f"{getattr(config, option)!r} is not valid; expected {expected}")


def _check_types(config: StrategyConfig) -> None:
    # Options come from Hydra (already typed) or from Python keyword arguments (not checked yet).
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value, hint = getattr(config, f.name), hints[f.name]
        allowed = typing.get_args(hint) if typing.get_origin(hint) is typing.Union else (hint,)
        ok = any(
            (t is type(None) and value is None)
            or (t is bool and isinstance(value, bool))
            or (t is int and isinstance(value, int) and not isinstance(value, bool))
            or (t is float and isinstance(value, (int, float)) and not isinstance(value, bool))
            or (t is str and isinstance(value, str))
            for t in allowed
        )
        if not ok:
            names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            require(config, f.name, False, f"a value of type {names}")


def check_budget_value(budget: Any) -> None:
    """A budget is a number, not NaN (infinity: no budget)."""
    if not is_real(budget) or math.isnan(budget):
        raise NasedgeError(f"budget: value {budget!r} is not valid; expected a latency budget (a number)")


def check_budget(space: SearchSpace, constraint: BatchFn, budget: float, unit: str = "ms") -> float:
    """Raise :class:`NasedgeError` when even the smallest arch misses ``budget``; return its constraint."""
    check_budget_value(budget)
    fastest = float(np.asarray(constraint([space.min_arch()]), dtype=float).reshape(-1)[0])
    if fastest > budget:
        raise NasedgeError(f"latency budget {budget:g} {unit} is below the fastest subnet of {space.name} "
                           f"(its smallest arch is predicted at {fastest:.3g} {unit})")
    return fastest
