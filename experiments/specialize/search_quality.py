"""Search quality: best feasible objective against the number of objective (accuracy-predictor) evaluations.

    python experiments/specialize/search_quality.py [--space ofa_mbv3_cifar] \
        [--objective proxy-accuracy] [--constraint proxy-latency] [--evaluations 100,300,1000] \
        [--seeds 3] [--reference-factor 10] [--jobs 2] [--out experiments/specialize/results/search_quality]

For three budgets (the 25th, 50th and 75th percentile of the constraint over random archs) every
strategy runs once per seed with the largest evaluation count; the smaller counts are read off the
same run (``SearchResult.best_at``: a run capped at n evaluations is exactly the first n of a longer
one, which tests/search/test_conformance.py checks). The pick (``--pick``, the default strategy of
``nasedge specialize``) at ``max(evaluations)`` is compared with the best found by any run, including
a run of the pick ``--reference-factor`` times longer per seed.

``--objective`` and ``--constraint`` take ``proxy-accuracy``, ``proxy-latency``, ``macs`` (MMACs) or
``package.module:factory[=ARG]``: ``factory(space)`` or ``factory(space, ARG)`` must return a batched
callable ``archs -> np.ndarray`` (e.g. a trained accuracy predictor loaded from the path ARG).
Per-run results are appended to ``<out>.runs.jsonl`` (one fsynced line per finished run; a last line cut
short by a kill is dropped with a warning) so an interrupted benchmark resumes; the table goes to ``<out>.md`` and
everything to ``<out>.json``. ``--out`` defaults to ``experiments/specialize/results/search_quality`` in the
repository. Bad input is one line, exit status 2; exit status 1 says the pick is not within tolerance.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/: expcli
from expcli import REPO, ArgumentParser, numbers, positive_int, run  # noqa: E402  (after the sys.path entry)

from nasedge.atomic import atomic_write_text, check_out_dir  # noqa: E402
from nasedge.errors import NasedgeError, unknown_name  # noqa: E402
from nasedge.jsonlines import appending_json_lines, read_appended_json_lines  # noqa: E402
from nasedge.progress import progress_reporter  # noqa: E402
from nasedge.search import create_strategy  # noqa: E402
from nasedge.spaces import get_space  # noqa: E402

VARIANTS = {  # label -> (strategy, options)
    "evolution": ("evolution", {}),
    "optuna-tpe": ("optuna", {"sampler": "tpe"}),
    "optuna-nsga2": ("optuna", {"sampler": "nsga2"}),
    "random": ("random", {}),
}


def resolve(spec: str, space):
    """A batched callable from ``proxy-accuracy``, ``proxy-latency``, ``macs`` or ``module:factory[=ARG]``."""
    from nasedge.cost import arch_cost
    from nasedge.search.proxies import ProxyAccuracy, ProxyLatency

    builtin = {
        "proxy-accuracy": lambda: ProxyAccuracy(space),
        "proxy-latency": lambda: ProxyLatency(space),
        "macs": lambda: (lambda archs: np.asarray([arch_cost(a, space).macs / 1e6 for a in archs])),
    }
    if spec in builtin:
        return builtin[spec]()
    target, _, arg = spec.partition("=")
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise NasedgeError(f"{spec!r}: expected one of {', '.join(builtin)} or package.module:factory[=ARG]")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise NasedgeError(f"{spec!r}: {exc}") from None
    return factory(space, arg) if arg else factory(space)


def run_one(job: dict) -> dict:
    space = get_space(job["space"])
    objective, constraint = resolve(job["objective"], space), resolve(job["constraint"], space)
    name, options = VARIANTS[job["variant"]]
    result = create_strategy(name, **options).run(space, objective, constraint, job["budget"],
                                                  max_evaluations=job["max_evaluations"], seed=job["seed"])
    best = result.best
    return {**job, "best_at": {str(n): result.best_at(n) for n in job["checkpoints"]},
            "best_objective": result.best_objective, "best_constraint": result.best_constraint,
            "best_arch": None if best is None else best.arch.to_dict(),
            "evaluations": result.evaluations, "constraint_evaluations": result.constraint_evaluations,
            "proposals": result.proposals, "stop_reason": result.stop_reason, "elapsed_s": result.elapsed_s}


KEY = ("space", "objective", "constraint", "variant", "budget", "seed", "max_evaluations")
RUNS_FILE = "search-quality runs file"


def _key(job: dict) -> str:
    return json.dumps({k: job[k] for k in KEY}, sort_keys=True)


def _check_run(path: Path):
    def check(lineno: int, rec) -> None:
        if not isinstance(rec, dict) or any(k not in rec for k in (*KEY, "best_at", "best_objective")):
            raise NasedgeError(f"{path}:{lineno}: not a line of a {RUNS_FILE} (a finished search run); "
                               f"give another --out")
    return check


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(description=__doc__.splitlines()[0], prog="search_quality.py")
    p.add_argument("--space", default="ofa_mbv3_cifar")
    p.add_argument("--objective", default="proxy-accuracy")
    p.add_argument("--constraint", default="proxy-latency")
    p.add_argument("--percentiles", default="25,50,75", help="budgets: percentiles of the constraint over random archs")
    p.add_argument("--num-random", type=positive_int, default=1000, help="random archs the percentiles are taken over")
    p.add_argument("--evaluations", default="100,300,1000")
    p.add_argument("--seeds", type=positive_int, default=3)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--pick", default="evolution", help="the strategy whose result must be near the reference")
    p.add_argument("--reference-factor", type=positive_int, default=10)
    p.add_argument("--tolerance", type=float, default=0.3, help="allowed gap of the pick to the reference")
    p.add_argument("--jobs", type=positive_int, default=2)
    p.add_argument("--out", default=str(REPO / "experiments" / "specialize" / "results" / "search_quality"))
    args = p.parse_args(argv)

    # every input checked before the work
    percentiles = numbers("--percentiles", args.percentiles, float, 0, 100)
    checkpoints = sorted(numbers("--evaluations", args.evaluations, int, 1))
    variants = args.variants.split(",")
    for v in variants + [args.pick]:
        if v not in VARIANTS:
            raise unknown_name("variant", v, list(VARIANTS))
    out = Path(args.out)
    runs_path = out.with_name(out.name + ".runs.jsonl")
    check_out_dir("--out", str(out.parent), given=args.out)
    read_appended_json_lines(runs_path, RUNS_FILE, "a search run", check=_check_run(runs_path), repair=False)
    space = get_space(args.space)
    constraint = resolve(args.constraint, space)
    resolve(args.objective, space)  # fail early on a bad spec
    reference_archs = space.sample_many(args.num_random, 12345)
    budgets = [float(b) for b in np.percentile(constraint(reference_archs), percentiles)]

    base = {"space": args.space, "objective": args.objective, "constraint": args.constraint}
    jobs = []
    for budget in budgets:
        for seed in range(args.seeds):
            for v in variants:
                jobs.append({**base, "variant": v, "budget": budget, "seed": seed,
                             "max_evaluations": checkpoints[-1], "checkpoints": checkpoints})
            long = checkpoints[-1] * args.reference_factor
            jobs.append({**base, "variant": args.pick, "budget": budget, "seed": seed, "max_evaluations": long,
                         "checkpoints": [*checkpoints, long]})

    runs_path.parent.mkdir(parents=True, exist_ok=True)
    done = {_key(rec): rec for rec in read_appended_json_lines(runs_path, RUNS_FILE, "a search run",
                                                               check=_check_run(runs_path))}
    todo = [j for j in jobs if _key(j) not in done]
    # longest first, so the pool is not left waiting on one long run at the end
    todo.sort(key=lambda j: -(j["max_evaluations"] * (8 if j["variant"] == "optuna-tpe" else 1)))
    print(f"{len(jobs)} runs, {len(jobs) - len(todo)} already done; budgets {[round(b, 3) for b in budgets]}",
          file=sys.stderr)

    start = time.perf_counter()
    with progress_reporter("search runs", len(todo), unit="runs") as update, \
            multiprocessing.get_context("spawn").Pool(args.jobs) as pool, appending_json_lines(runs_path) as append:
        for finished, rec in enumerate(pool.imap_unordered(run_one, todo), start=1):
            done[_key(rec)] = rec
            append(rec)  # one fsynced line per finished run: a crash loses at most the runs in flight
            update(finished)
    wall = time.perf_counter() - start

    records = [done[_key(j)] for j in jobs]
    summary = summarise(records, budgets, percentiles, checkpoints, variants, args)
    summary["wall_s_this_invocation"] = wall
    summary["command"] = "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    atomic_write_text(out.with_suffix(".json"), json.dumps(summary, indent=1) + "\n")
    table = render(summary)
    atomic_write_text(out.with_suffix(".md"), table)
    print(table)
    return 0 if summary["pick_within_tolerance"] else 1


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(records, budgets, percentiles, checkpoints, variants, args) -> dict:
    rows, picks = [], []
    long = checkpoints[-1] * args.reference_factor
    for budget, pct in zip(budgets, percentiles):
        at_budget = [r for r in records if r["budget"] == budget]
        reference = max((r["best_objective"] for r in at_budget if r["best_objective"] is not None), default=None)
        for v in variants:
            runs = [r for r in at_budget if r["variant"] == v and r["max_evaluations"] == checkpoints[-1]]
            rows.append({
                "budget": budget, "percentile": pct, "variant": v, "seeds": len(runs),
                "best_at": {n: _mean_std([r["best_at"][str(n)] for r in runs]) for n in checkpoints},
                "constraint_evaluations": statistics.fmean(r["constraint_evaluations"] for r in runs),
                "elapsed_s": statistics.fmean(r["elapsed_s"] for r in runs),
            })
        long_runs = [r for r in at_budget if r["variant"] == args.pick and r["max_evaluations"] == long]
        rows.append({
            "budget": budget, "percentile": pct, "variant": f"{args.pick} x{args.reference_factor}",
            "seeds": len(long_runs), "best_at": {long: _mean_std([r["best_at"][str(long)] for r in long_runs])},
            "constraint_evaluations": statistics.fmean(r["constraint_evaluations"] for r in long_runs),
            "elapsed_s": statistics.fmean(r["elapsed_s"] for r in long_runs),
        })
        pick_runs = [r for r in at_budget if r["variant"] == args.pick and r["max_evaluations"] == checkpoints[-1]]
        gaps = [reference - r["best_objective"] if r["best_objective"] is not None else float("inf")
                for r in pick_runs]
        picks.append({"budget": budget, "percentile": pct, "reference": reference, "worst_gap": max(gaps),
                      "mean_gap": statistics.fmean(gaps)})
    return {"space": args.space, "objective": args.objective, "constraint": args.constraint,
            "budgets": budgets, "checkpoints": checkpoints, "pick": args.pick, "reference_factor": args.reference_factor,
            "tolerance": args.tolerance, "rows": rows, "picks": picks,
            "pick_within_tolerance": all(p["worst_gap"] <= args.tolerance for p in picks), "runs": records}


def render(s: dict) -> str:
    fmt = lambda ms: "-" if ms[0] is None else f"{ms[0]:.2f} ± {ms[1]:.2f}"  # noqa: E731
    cps = s["checkpoints"]
    lines = [f"objective `{s['objective']}`, constraint `{s['constraint']}`, space `{s['space']}`; "
             f"best feasible objective (mean ± std over seeds) after n objective evaluations", ""]
    head = "| budget | strategy | " + " | ".join(f"n={n}" for n in cps) + \
           f" | n={cps[-1] * s['reference_factor']} | constraint calls | s/run |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in s["rows"]:
        cells = [fmt(r["best_at"][n]) if n in r["best_at"] else "" for n in cps]
        long = cps[-1] * s["reference_factor"]
        cells.append(fmt(r["best_at"][long]) if long in r["best_at"] else "")
        lines.append(f"| {r['budget']:.3f} (p{r['percentile']:g}) | {r['variant']} | " + " | ".join(cells) +
                     f" | {r['constraint_evaluations']:.0f} | {r['elapsed_s']:.1f} |")
    lines += ["", f"Pick: `{s['pick']}` at n={cps[-1]} against the best found by any run (including "
              f"`{s['pick']}` at n={cps[-1] * s['reference_factor']}); tolerance {s['tolerance']} points.", "",
              "| budget | reference | worst gap | mean gap |", "|---|---|---|---|"]
    for p in s["picks"]:
        lines.append(f"| {p['budget']:.3f} (p{p['percentile']:g}) | {p['reference']:.3f} | {p['worst_gap']:.3f} "
                     f"| {p['mean_gap']:.3f} |")
    lines += ["", f"within tolerance at every budget: {'yes' if s['pick_within_tolerance'] else 'NO'}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    run(main)
