"""Few-shot latency prediction benchmark: HELP protocol, untrimmed leave-one-device-out, cross-type.

    python experiments/latency_predictors/run.py help --data ../shared/datasets/latency/help/nasbench201
    python experiments/latency_predictors/run.py help --data ../shared/datasets/latency/help/fbnet
    python experiments/latency_predictors/run.py help --data ../shared/datasets/latency/help/ofa
    python experiments/latency_predictors/run.py lodo --data ../shared/datasets/latency/help/ofa \
        [--target-data DIR ...]                         # every device of every dir is a target in turn
    python experiments/latency_predictors/run.py crosstype --data ../shared/datasets/latency/help/fbnet
    python experiments/latency_predictors/run.py typesplit --data ../shared/datasets/latency/help/fbnet
        # between CPUs, phones and FPGA/ASIC/Pi, and each of them left out of a prior over the rest
    python experiments/latency_predictors/run.py ablation --data DIR    # variants of meta's adaptation
    python experiments/latency_predictors/run.py transfer --data latency_predictors/data/ofa_mbv3_cifar
        # the shipped prior (without the target's own heads) on devices and a space it never saw
    python experiments/latency_predictors/run.py table  # markdown tables of everything stored

Results go to experiments/latency_predictors/results.json (one entry per experiment/space/target/
predictor, written atomically after each); a rerun skips what is stored, so an interrupted run resumes
and adding --target-data adds only the new devices' entries (and reruns the others' only with --force,
as their meta-models would then learn from more devices). On a terminal a bar shows the result in work; in a
log (stdout not a terminal) a plain progress line comes every 30 s. Bad input is one line, exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/: expcli
from expcli import ArgumentParser, positive_int, run  # noqa: E402  (after the sys.path entry)

from nasedge.atomic import atomic_write_text  # noqa: E402
from nasedge.errors import NasedgeError, read_text_file  # noqa: E402
from nasedge.predict.benchmark import HELP_SPLITS, evaluate  # noqa: E402
from nasedge.predict.dataset import load_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

RESULTS = Path(__file__).resolve().parent / "results.json"
HELP_PREDICTORS = ("meta", "meta-before", "meta-prior", "nearest", "flops", "regressor", "totals", "oracle")
LODO_PREDICTORS = ("meta", "meta-before", "meta-prior", "flops", "regressor", "totals", "nearest", "oracle")
TRANSFER_PREDICTORS = ("meta", "meta-before", "meta-prior", "meta-plain", "flops", "regressor", "totals",
                       "oracle")
# columns of earlier code, kept in results.json for comparison and never recomputed: `meta-before` is
# `meta` as of commit 4b1157d (issue 20's first blend: a prior-free model with two variances, the
# GPU-only shipped OFA prior), on the same tasks
STORED_ONLY = ("meta-before",)
ASKS_FOR_MORE = ("meta",)  # columns whose predictor may ask for more samples (LatencyPredictor.more_samples)
TYPESPLIT_PREDICTORS = ("meta", "meta-prior", "flops", "regressor", "totals", "nearest", "oracle")
PRIOR_ONLY = {"blend": "off"}  # meta before the blend with prior-free models
PLAIN = {"noise": "absolute", "neighbours": [], **PRIOR_ONLY}  # and before relative noise, neighbourhood priors
# column name -> (predictor, options)
VARIANTS: dict[str, tuple[str, dict]] = {"meta-plain": ("meta", PLAIN), "meta-prior": ("meta", PRIOR_ONLY)}
GPU_PREFIXES = ("1080ti", "2080ti", "titan", "v100", "h200")
# the HELP devices by kind, for the type splits (device names start with one of these)
KINDS = {"cpus": ("gold", "silver"), "phones": ("essential", "pixel", "samsung"), "embedded": ("fpga", "eyeriss", "raspi")}
PUBLISHED = {  # HELP README, 10 target samples
    "nasbench201": {"titan_rtx_256": 0.987, "gold_6226": 0.989, "pixel2": 0.802, "raspi4": 0.890, "eyeriss": 0.940,
                    "fpga": 0.985},
    "fbnet": {"raspi4": 0.887, "eyeriss": 0.943, "fpga": 0.892},
}
PUBLISHED_MEAN = {"nasbench201": 0.932, "fbnet": 0.910}  # as the HELP README states them


class Results(dict):
    """The stored results (key: experiment/space/target/column) and the file they are kept in."""

    def __init__(self, path: Path, must_exist: bool = False):
        if must_exist and not path.exists():
            raise NasedgeError(f"{path}: results file not found")
        super().__init__(self._read(path))
        self.path = path

    @staticmethod
    def _read(path: Path) -> dict:
        """The results stored in ``path`` (``{}`` while there is none), or a one-line error naming the file."""
        if not path.exists():
            return {}
        text = read_text_file(path, "a results file (JSON)")
        try:
            results = json.loads(text)
        except json.JSONDecodeError as exc:
            raise NasedgeError(f"{path}: not a results file (invalid JSON at line {exc.lineno}, column {exc.colno}: "
                               f"{exc.msg}); a copy cut short?") from None
        if not isinstance(results, dict) or not all(isinstance(v, dict) for v in results.values()):
            raise NasedgeError(f"{path}: not a results file (expected an object of results by key)")
        return results

    def store(self, key: str, value: dict) -> None:
        self.update(self._read(self.path))  # keep what another run stored meanwhile
        self[key] = value
        atomic_write_text(self.path, json.dumps(self, indent=1, sort_keys=True) + "\n")


def _run(jobs, results, force: bool, columns: list[str] | None = None, stamp: bool = False,
         shard: tuple[int, int] = (0, 1), stale: bool = False) -> None:
    jobs = [j for j in jobs if j[0].rsplit("/", 1)[1] not in STORED_ONLY]
    if columns:
        jobs = [j for j in jobs if j[0].rsplit("/", 1)[1] in columns]
    jobs = jobs[shard[0]::shard[1]]
    # the oracle's tasks differ only in the target's samples, which it does not use: one seed is all seeds
    jobs = [(key, ds, {**kw, "seeds": 1} if kw.get("predictor") == "oracle" else kw) for key, ds, kw in jobs]
    data = {id(ds): dataset_digest(ds) for _, ds, _ in jobs}
    digest = {key: job_digest(data[id(ds)], kw) for key, ds, kw in jobs}
    # nor does an active choice of them change it: the oracle of an `-active` experiment is the stored one
    for key, _, kw in jobs:
        plain = results.get(key.replace("-active/", "/", 1), {})
        if kw.get("active") and kw.get("predictor") == "oracle" and plain.get("data") == digest[key] and \
                results.get(key, {}).get("data") != digest[key]:
            results.store(key, {**plain, "copied_from": key.replace("-active/", "/", 1)})
    if stamp:
        stamped = [key for key, ds, kw in jobs if key in results and "data" not in results[key]
                   and _legacy_match(results[key], ds, kw)]
        for key in stamped:
            results.store(key, {**results[key], "data": digest[key]})
        print(f"{len(stamped)} of {len(jobs)} results stamped with their data and settings")
        return
    code = code_digest()
    todo = [j for j in jobs if force or results.get(j[0], {}).get("data") != digest[j[0]]
            or (stale and results[j[0]].get("code") != code)]
    replaced = 0 if force else len({j[0] for j in todo} & set(results))
    print(f"{len(jobs) - len(todo)} of {len(jobs)} results stored; running {len(todo)}"
          + (f" ({replaced} stored of other data, settings{' or code' if stale else ''}, replaced)"
             if replaced else ""))
    meta_models: dict = {}
    with _progress(len(todo)) as (step, note):
        for done, (key, ds, kwargs) in enumerate(todo):
            step(done, key)
            t = time.time()
            try:
                r = evaluate(ds, meta_models=meta_models, **kwargs)
            except NasedgeError as exc:  # e.g. nearest where no source measured the query archs
                note(f"{key}: skipped ({exc})")
                continue
            r.pop("per_seed", None)
            r["seconds"] = round(time.time() - t, 1)
            r["data"] = digest[key]
            r["code"] = code
            results.store(key, r)
        step(len(todo), "")


@contextlib.contextmanager
def _progress(total: int):
    """``(step(done, key), note(line))``: a bar naming the result in work on a terminal; plain lines every 30 s
    (done/total, rate, ETA) when stdout is a log, as nasedge's long loops print them."""
    if sys.stdout.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn()) as bar:
            task = bar.add_task("", total=total)
            yield (lambda done, key: bar.update(task, completed=done, description=key)), bar.console.print
        return
    from nasedge.progress import progress_reporter

    with progress_reporter("results", total, unit="results", stream=sys.stdout, interval=30) as update:
        yield (lambda done, key: update(done)), (lambda line: print(line, flush=True))


# what a result is computed by: the predictors, the cost features they read, the spaces' geometry and the shipped
# priors (a change anywhere else, the CLI say, leaves every result as it was)
CODE = ("nasedge/predict", "nasedge/cost.py", "nasedge/spaces", "nasedge/arch.py", "latency_predictors/meta")
# the accuracy predictor's modules, in nasedge/predict beside the latency predictors, which no result imports
NOT_CODE = ("nasedge/predict/accuracy.py", "nasedge/predict/accuracy_samples.py", "nasedge/predict/ofa_accuracy.py")


def code_digest(root: Path = ROOT, not_code: tuple[str, ...] = NOT_CODE) -> str:
    """The content of :data:`CODE` under ``root`` (16 hex digits): stored with every result, so that ``table`` can
    say which results the code in the tree computed. ``not_code=()``: the digest before :data:`NOT_CODE` was left
    out (``restamp``)."""
    h = hashlib.sha256()
    for top in CODE:
        path = root / top
        for f in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if (f.is_file() and f.suffix in (".py", ".npz", ".json") and "__pycache__" not in f.parts
                    and f.relative_to(root).as_posix() not in not_code):
                h.update(f"{f.relative_to(root).as_posix()}\0".encode() + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def dataset_digest(ds) -> str:
    """What results are computed on: the space, the devices, every arch with its id, the reference archs and every
    latency (16 hex digits)."""
    h = hashlib.sha256(f"{ds.encoding.name}|{'|'.join(ds.devices)}|".encode())
    for aid, item in zip(ds.arch_ids, ds.items):
        h.update(f"{aid}:{ds.encoding.key(item)}\0".encode())
    h.update(np.asarray(ds.reference, dtype=np.int64).tobytes())
    h.update(np.nan_to_num(ds.latency, nan=-1.0).tobytes())
    return h.hexdigest()[:16]


def job_digest(data: str, kw: dict) -> str:
    """A result's identity beyond its key: the data (:func:`dataset_digest`), the source devices, the protocol and
    its settings (for the oracle, which uses none of the target's samples, not how they are drawn)."""
    settings = {k: kw.get(k) for k in ("protocol", "shots", "folds", "active", "max_shots")}
    settings["sources"] = sorted(kw["sources"]) if kw.get("sources") is not None else None
    if kw.get("predictor") == "oracle":  # it uses none of the target's samples: drawn how, how often, alike
        settings.update(active=None, max_shots=None)
    else:
        settings["seeds"] = kw.get("seeds")
    return hashlib.sha256(f"{data}|{json.dumps(settings, sort_keys=True)}".encode()).hexdigest()[:16]


def _legacy_match(stored: dict, ds, kw: dict) -> bool:
    """For ``--stamp``: whether a result stored before results carried digests is plausibly this job's (the same
    seeds, folds, query archs and samples); the stamp then makes it this job's for good."""
    from nasedge.predict.benchmark import help_tasks, untrimmed_tasks

    if kw.get("predictor") != "oracle" and stored.get("seeds") != kw.get("seeds"):
        return False
    if kw.get("protocol") == "untrimmed" and stored.get("folds") != kw.get("folds"):
        return False
    try:
        if kw.get("protocol") == "help":
            tasks = help_tasks(ds, kw["target"], kw.get("shots", 10), 1)
        else:
            tasks = untrimmed_tasks(ds, kw["target"], kw.get("shots", 20), 1, kw.get("folds", 5), kw.get("sources"))
    except NasedgeError:
        return False
    return (stored.get("query_archs") == sum(len(t.query) for t in tasks)
            and stored.get("measured_on_target") == len(tasks[0].measured))


def cmd_help(args, results) -> None:
    ds = load_dataset(args.data, args.space)
    split = HELP_SPLITS[ds.encoding.name]
    jobs = [(f"help/{ds.encoding.name}/{t}/{column}", ds,
             dict(target=t, predictor=_column(column)[0], options=_column(column)[1], protocol="help", shots=10,
                  seeds=args.seeds))
            for t in (*split["valid"], *split["test"]) for column in HELP_PREDICTORS]
    _run(jobs, results, args.force, args.columns, args.stamp, args.shard, args.stale)


def cmd_lodo(args, results) -> None:
    ds = load_dataset([*args.data, *args.target_data], args.space)
    _run(_untrimmed_jobs(args, ds, [("lodo{}", None, ds.devices)], LODO_PREDICTORS), results, args.force, args.columns,
         args.stamp, args.shard, args.stale)


def _untrimmed_jobs(args, ds, splits, columns, options_for=None) -> list:
    """Jobs of the untrimmed protocol (20 samples): ``splits`` are ``(key, sources, targets)``, ``key`` with
    ``{}`` where the suffix of --active / --max-shots goes, ``sources`` None for every other device;
    ``options_for(predictor, options)`` may add options."""
    suffix, mode = _mode(args)
    jobs = []
    for key, sources, targets in splits:
        for t in targets:
            for column in columns:
                if _skip(args, column):
                    continue
                predictor, options = _column(column)
                if options_for is not None:
                    options = options_for(predictor, options)
                jobs.append((f"{key.format(suffix)}/{ds.encoding.name}/{t}/{column}", ds,
                             dict(target=t, predictor=predictor, options=options, protocol="untrimmed", shots=20,
                                  seeds=args.seeds, folds=args.folds, sources=sources, **mode)))
    return jobs


def _mode(args) -> tuple[str, dict]:
    """Suffix of the stored keys and the `evaluate` arguments of --active and --max-shots."""
    suffix = ("-active" if args.active else "") + ("-more" if args.max_shots else "")
    return suffix, {"active": args.active, **({"max_shots": args.max_shots} if args.max_shots else {})}


def _skip(args, column: str) -> bool:
    """Columns not run under --active or --max-shots: stored-only ones, and with --max-shots those that never
    ask for more samples (their figures are those of the experiment without it)."""
    return ((args.active or args.max_shots) and column in STORED_ONLY) or (args.max_shots and column not in ASKS_FOR_MORE)


def _column(column: str) -> tuple[str, dict | None]:
    """The predictor and options of a table column (a registered predictor, a baseline or a variant)."""
    return VARIANTS.get(column, (column, None))


def cmd_crosstype(args, results) -> None:
    """Devices unlike every source, both ways: meta-trained on GPUs only, predict the CPUs, phones, FPGA,
    ASIC (``crosstype``); meta-trained on those only, predict the GPUs (``crosstype-reverse``)."""
    ds = load_dataset([*args.data, *args.target_data], args.space)
    gpus = _gpus(args, ds)
    others = [d for d in ds.devices if d not in gpus]
    splits = [("crosstype{}", gpus, others), ("crosstype-reverse{}", others, gpus)]
    _run(_untrimmed_jobs(args, ds, splits, LODO_PREDICTORS), results, args.force, args.columns, args.stamp,
         args.shard, args.stale)


def _gpus(args, ds) -> list[str]:
    """The GPUs among the dataset's devices: ``--gpus`` as given, else the names that start as the HELP and nasedge
    GPUs do (GPU_PREFIXES); the split is printed, and one with nothing on a side is refused."""
    if args.gpus is not None:
        gpus = [d.strip() for d in args.gpus.split(",") if d.strip()]
        unknown = [d for d in gpus if d not in ds.devices]
        if unknown:
            raise NasedgeError(f"--gpus: device {unknown[0]!r} is not in the dataset; known: {', '.join(ds.devices)}")
    else:
        gpus = [d for d in ds.devices if d.startswith(GPU_PREFIXES)]
    others = [d for d in ds.devices if d not in gpus]
    how = "--gpus" if args.gpus is not None else f"names starting {', '.join(GPU_PREFIXES)}; else --gpus DEV,..."
    if not gpus or not others:
        raise NasedgeError(f"the cross-type split needs GPUs and other devices; GPUs ({how}): "
                           f"{', '.join(gpus) or 'none'}; others: {', '.join(others) or 'none'}")
    print(f"GPUs ({how}): {', '.join(gpus)}\nothers: {', '.join(others)}")
    return gpus


def type_splits(devices) -> list[tuple[str, list[str], list[str]]]:
    """``(name, sources, targets)`` between the kinds of device that are not GPUs: every ordered pair of
    kinds (``phones-to-cpus``: meta-trained on the phones, the CPUs are the targets), and each kind left
    out of a prior over all the others, GPUs included (``rest-to-cpus``)."""
    of = {k: [d for d in devices if d.startswith(p)] for k, p in KINDS.items()}
    splits = [(f"{a}-to-{b}", of[a], of[b]) for a in KINDS for b in KINDS if a != b]
    splits += [(f"rest-to-{k}", [d for d in devices if d not in of[k]], of[k]) for k in KINDS]
    return [s for s in splits if s[1] and s[2]]


def cmd_typesplit(args, results) -> None:
    """Splits between device kinds that the cross-type benchmark does not cover (HELP's CPUs, phones and
    FPGA/ASIC/Pi), so that no conclusion rests on the GPU/non-GPU split alone."""
    ds = load_dataset([*args.data, *args.target_data], args.space)
    splits = [(f"typesplit{{}}-{name}", sources, targets) for name, sources, targets in type_splits(ds.devices)]
    if not splits:
        raise NasedgeError(f"no two kinds of device here (device names starting "
                           f"{', '.join(p for prefixes in KINDS.values() for p in prefixes)}): "
                           f"{', '.join(ds.devices)}")
    _run(_untrimmed_jobs(args, ds, splits, TYPESPLIT_PREDICTORS), results, args.force, args.columns, args.stamp,
         args.shard, args.stale)


ABLATION = {  # variant -> options of the meta predictor
    "gaussian noise": {"robust_iters": 0, "evidence": "gaussian", **PLAIN},
    "t noise, gaussian evidence": {"evidence": "gaussian", **PLAIN},
    "t noise, t evidence": {"evidence": "student_t", **PLAIN},
    "t noise, both + leave-one-out": {"evidence": "both", **PLAIN},
    "+ relative noise": {"neighbours": [], **PRIOR_ONLY},
    "+ neighbourhood priors": PRIOR_ONLY,
    "+ blend with prior-free models (default)": {},
}


def cmd_transfer(args, results) -> None:
    """The shipped meta model (its family's: ImageNet space; the public GPUs, nasedge's CPUs and H200s)
    adapted to every device of --data; the target's own heads (the same device measured in the other
    space) are left out of it (:func:`nasedge.predict.benchmark.run_task`)."""
    from nasedge.resources import shipped_path

    ds = load_dataset(args.data, args.space)
    # the family's model (ImageNet space), not a space's own
    weights = str(shipped_path("latency_predictors") / "meta" / f"{ds.encoding.family}.npz")

    def with_weights(predictor, options):
        return {**(options or {}), "weights": weights} if predictor == "meta" else options

    jobs = _untrimmed_jobs(args, ds, [("transfer{}", None, ds.devices)], TRANSFER_PREDICTORS, with_weights)
    _run(jobs, results, args.force, args.columns, args.stamp, args.shard, args.stale)


def cmd_ablation(args, results) -> None:
    """The meta predictor's adaptation variants on every benchmark of the dataset (3 seeds)."""
    ds = load_dataset([*args.data, *args.target_data], args.space)
    name = ds.encoding.name
    settings = []
    if name in HELP_SPLITS:
        split = HELP_SPLITS[name]
        settings += [("help", t, dict(protocol="help", shots=10)) for t in (*split["valid"], *split["test"])]
    if name == "ofa_mbv3_w1.2":
        settings += [("lodo", t, dict(protocol="untrimmed", shots=20, folds=args.folds)) for t in ds.devices]
    else:
        gpus = _gpus(args, ds)
        settings += [("crosstype", t, dict(protocol="untrimmed", shots=20, folds=args.folds, sources=gpus))
                     for t in ds.devices if t not in gpus]
    jobs = [(f"ablation-{kind}/{name}/{t}/{v}", ds, dict(target=t, predictor="meta", seeds=3, options=opts, **kw))
            for kind, t, kw in settings for v, opts in ABLATION.items()]
    _run(jobs, results, args.force, stamp=args.stamp, shard=args.shard, stale=args.stale)


def _rows(results: dict, prefix: str) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for key, r in results.items():
        if key.startswith(prefix):
            _, _, target, predictor = key.split("/")
            out.setdefault(target, {})[predictor] = r
    return out


def cmd_table(args, results) -> None:
    lines = []
    for space in ("nasbench201", "fbnet", "ofa_mbv3_w1.2"):
        rows = _rows(results, f"help/{space}/")
        if not rows:
            continue
        split = HELP_SPLITS[space]
        preds = [p for p in HELP_PREDICTORS if any(p in r for r in rows.values())]
        lines += [f"\n#### HELP protocol, {space} (Spearman rho, 10 reference + 10 samples, "
                  f"{next(iter(next(iter(rows.values())).values()))['seeds']} seeds)\n",
                  "| device | split | " + " | ".join(preds) + (" | HELP (published)" if space in PUBLISHED else "")
                  + " |", "|---|---|" + "---|" * (len(preds) + (space in PUBLISHED))]
        for part in ("valid", "test"):
            for t in split[part]:
                if t in rows:
                    pub = PUBLISHED.get(space, {}).get(t)
                    lines.append(f"| {t} | {part} | " + " | ".join(f"{rows[t][p]['spearman']:.3f}" if p in rows[t]
                                                                   else "" for p in preds)
                                 + ((f" | {pub:.3f}" if pub else " | ") if space in PUBLISHED else "") + " |")
            means = [np.mean([rows[t][p]["spearman"] for t in split[part] if t in rows and p in rows[t]])
                     for p in preds]
            pub = PUBLISHED_MEAN.get(space) if part == "test" else None
            lines.append(f"| **mean** | {part} | " + " | ".join(f"**{m:.3f}**" for m in means)
                         + ((f" | {pub:.3f}" if pub else " | ") if space in PUBLISHED else "") + " |")
    active = ", the 10 samples after the reference archs chosen actively (--active)"
    sections = (("lodo", "Untrimmed leave-one-device-out", LODO_PREDICTORS),
                ("crosstype", "Cross-type: meta-trained on GPUs only", LODO_PREDICTORS),
                ("crosstype-reverse", "Cross-type: meta-trained on CPUs, phones, FPGA, ASIC only, GPU targets",
                 LODO_PREDICTORS),
                ("lodo-active", "Untrimmed leave-one-device-out" + active, LODO_PREDICTORS),
                ("crosstype-active", "Cross-type: meta-trained on GPUs only" + active, LODO_PREDICTORS),
                ("crosstype-reverse-active", "Cross-type: meta-trained on CPUs, phones, FPGA, ASIC only, GPU targets"
                 + active, LODO_PREDICTORS),
                ("transfer", "Transfer: the shipped prior (ImageNet space, without the target's own heads)",
                 TRANSFER_PREDICTORS),
                ("transfer-active", "Transfer: the shipped prior (ImageNet space, without the target's own heads)"
                 + active, TRANSFER_PREDICTORS))
    more = ", meta asking for up to 40 samples (--max-shots 40; the mean used is in results.json)"
    # every experiment also with up to 40 samples on request: the random ones first, then the active choice (what a
    # board nasedge measures itself gets)
    sections += tuple((f"{kind}-more", title + more, columns)
                      for kind, title, columns in sorted(sections, key=lambda s: s[0].endswith("-active")))
    sections += tuple((kind, f"Type split {kind[10:].removeprefix('more-')}: meta-trained on the first kind, the "
                             f"second predicted" + (more if kind.startswith("typesplit-more-") else ""),
                       TYPESPLIT_PREDICTORS)
                      for kind in sorted({k.split("/")[0] for k in results if k.startswith("typesplit-")},
                                         key=lambda kind: (kind.startswith("typesplit-more-"), kind)))
    for kind, title, columns in sections:
        title += "" if kind.endswith("-more") or kind.startswith("typesplit-more-") else ", 20 measurements on the target"
        for space in sorted({k.split("/")[1] for k in results if k.startswith(kind + "/")}):
            rows = _rows(results, f"{kind}/{space}/")
            # the oracle uses none of the target's samples: a run with more (or actively chosen) samples shows the
            # noise ceiling of the same targets, stored with the plain run
            plain = _rows(results, f"{_plain(kind)}/{space}/")
            for t, r in rows.items():
                if "oracle" in columns and "oracle" not in r and "oracle" in plain.get(t, {}):
                    r["oracle"] = plain[t]["oracle"]
            preds = [p for p in columns if any(p in r for r in rows.values())]
            lines += [f"\n#### {title}, {space} (Spearman / MAPE % / within 10 %)\n",
                      "| device | " + " | ".join(preds) + " |", "|---|" + "---|" * len(preds)]
            for t in sorted(rows):
                lines.append(f"| {t} | " + " | ".join(_cell(rows[t].get(p)) for p in preds) + " |")
            mean = {p: {m: np.mean([rows[t][p][m] for t in rows if p in rows[t]])
                        for m in ("spearman", "mape", "within_10pct")} for p in preds}
            lines.append("| **mean** | " + " | ".join(f"**{_cell(mean[p])}**" for p in preds) + " |")
    lines += _typesplit_summary(results)
    ablation = {}
    for key, r in results.items():
        if key.startswith("ablation-"):
            kind, space, target, variant = key.split("/")
            split = HELP_SPLITS.get(space, {})
            part = ("valid" if target in split.get("valid", ()) else "test") if kind == "ablation-help" else "all"
            ablation.setdefault((kind[9:], space, part), {}).setdefault(variant, []).append(r)
    if ablation:
        lines += ["\n#### Ablation of the meta predictor's adaptation (mean over devices, 3 seeds; "
                  "Spearman / MAPE % / within 10 %; oracle: the noise ceiling of the same devices)\n",
                  "| benchmark | " + " | ".join(ABLATION) + " | oracle |", "|---|" + "---|" * (len(ABLATION) + 1)]
        for (kind, space, part), variants in sorted(ablation.items()):
            cells = [_cell({m: np.mean([r[m] for r in variants[v]]) for m in ("spearman", "mape", "within_10pct")})
                     if v in variants else "" for v in ABLATION]
            targets = sorted({r["target_device"] for rs in variants.values() for r in rs})
            oracle = [results.get(f"{kind}/{space}/{t}/oracle") for t in targets]
            cells.append(_cell({m: np.mean([r[m] for r in oracle]) for m in ("spearman", "mape", "within_10pct")})
                         if all(oracle) else "")
            lines.append(f"| {kind} {space} {part} | " + " | ".join(cells) + " |")
    lines += _code_summary(results)
    print("\n".join(lines))


def _code_summary(results: dict) -> list[str]:
    """How many results the code now in the tree computed (their ``code`` digest is :func:`code_digest`'s), per
    experiment: the others came from earlier code (``--stale`` recomputes them)."""
    code = code_digest()
    count: dict[str, list[int]] = {}
    for key, r in results.items():
        if "copied_from" in r and r["copied_from"].startswith("meta as of"):
            continue  # stored-only columns of earlier code, on purpose
        kind = key.split("/")[0]
        kind = next((k for k in ("typesplit-more", "typesplit") if kind.startswith(k + "-")), kind)  # 18 splits
        c = count.setdefault(kind, [0, 0])
        c[0] += r.get("code") == code
        c[1] += 1
    return [f"\n#### Results computed by the code now in the tree (code digest {code}; the others: `--stale`)\n",
            "| experiment | current | all |", "|---|---|---|",
            *(f"| {k} | {c[0]} | {c[1]} |" for k, c in sorted(count.items())),
            f"| **all** | **{sum(c[0] for c in count.values())}** | **{sum(c[1] for c in count.values())}** |"]


def _plain(kind: str) -> str:
    """The experiment of the random 20 samples that ``kind`` (``<experiment>[-active][-more]``,
    ``typesplit-more-<split>``) varies."""
    if kind.startswith("typesplit-more-"):
        return "typesplit-" + kind.removeprefix("typesplit-more-")
    return kind.removesuffix("-more").removesuffix("-active")


def _typesplit_summary(results: dict) -> list[str]:
    """One row per type split and space: the mean of each column over the targets (Spearman / within 10 %),
    and `meta` with more samples on request (``typesplit-more-*``, --max-shots) with its mean samples."""
    splits = sorted({tuple(k.split("/")[:2]) for k in results
                     if k.startswith("typesplit-") and not k.startswith("typesplit-more-")})
    if not splits:
        return []
    cols = [*TYPESPLIT_PREDICTORS, "meta, more samples"]
    lines = ["\n#### Type splits, means over the targets (Spearman / within 10 %; 20 measurements on the target, "
             "the last column up to 40 on request, with the mean number used)\n",
             "| split | space | targets | " + " | ".join(cols) + " |", "|---|---|---|" + "---|" * len(cols)]
    for kind, space in splits:
        rows = _rows(results, f"{kind}/{space}/")
        more = _rows(results, f"typesplit-more-{kind[10:]}/{space}/")
        cells = [_mean_cell([rows[t][p] for t in rows if p in rows[t]]) for p in TYPESPLIT_PREDICTORS]
        got = [more[t]["meta"] for t in more if "meta" in more[t]]
        cells.append(f"{_mean_cell(got)} ({np.mean([r['samples'] for r in got]):.1f})" if len(got) == len(rows) else "")
        lines.append(f"| {kind[10:]} | {space} | {len(rows)} | " + " | ".join(cells) + " |")
    return lines


def _mean_cell(got: list[dict]) -> str:
    """Mean Spearman / within 10 % of stored results ("" for none)."""
    return f"{np.mean([r['spearman'] for r in got]):.3f} / {100 * np.mean([r['within_10pct'] for r in got]):.1f}" if got else ""


def _cell(r: dict | None) -> str:
    return "" if r is None else f"{r['spearman']:.3f} / {r['mape']:.1f} / {100 * r['within_10pct']:.0f}"


def cmd_merge(args) -> int:
    """Store the results of other results files (chains run side by side) into ``--results``."""
    for path in args.files:  # every file read before any is stored
        Results(path, must_exist=True)
    results, code = Results(args.results), code_digest()
    for path in args.files:
        got = Results(path, must_exist=True)
        kept = 0
        for key, value in sorted(got.items()):
            # a result of the code now in the tree is not replaced by one of other code: copies of the whole results
            # file, each with one chain recomputed (--stale), merge in any order
            if value.get("code") != code and results.get(key, {}).get("code") == code:
                kept += 1
                continue
            results[key] = value
        print(f"{path}: {len(got)} results" + (f" ({kept} of other code left out: the stored ones are the code's now "
                                                f"in the tree)" if kept else ""))
    atomic_write_text(results.path, json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 0


def cmd_restamp(args) -> int:
    """Results computed at commit ``args.files[0]`` (their digest taken with the accuracy predictor's modules, as
    before :data:`NOT_CODE`) are stamped as computed by the code now in the tree, if that commit's :data:`CODE` less
    :data:`NOT_CODE` is byte for byte what the tree holds now; anything else is refused."""
    import subprocess
    import tempfile

    if len(args.files) != 1:
        raise NasedgeError("restamp: expected one commit")
    commit = str(args.files[0])
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, *CODE], capture_output=True)
        if archive.returncode != 0:
            raise NasedgeError(f"restamp: git archive {commit}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        then, then_narrow = code_digest(Path(tmp), not_code=()), code_digest(Path(tmp))
    now = code_digest()
    if then_narrow != now:
        raise NasedgeError(f"restamp: the latency code at {commit} ({then_narrow}) is not the tree's ({now})")
    results = Results(args.results)
    n = 0
    for value in results.values():
        if value.get("code") == then:
            value["code"] = now
            n += 1
    atomic_write_text(results.path, json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(f"{n} results computed at {commit} ({then}) stamped {now}: the same latency code")
    return 0


def _shard(text: str) -> tuple[int, int]:
    """``I/N`` of --shard."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N (e.g. 0/4)") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"{text!r}: I must be 0..N-1")
    return i, n


def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(prog="run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", choices=("help", "lodo", "crosstype", "typesplit", "ablation", "transfer",
                                                   "table", "merge", "restamp"))
    ap.add_argument("--data", action="append", default=[], help="latency dataset directory (repeatable)")
    ap.add_argument("--target-data", action="append", default=[], help="more dataset directories (lodo)")
    ap.add_argument("--space", default=None)
    ap.add_argument("--seeds", type=positive_int, default=5)
    ap.add_argument("--folds", type=positive_int, default=5)
    ap.add_argument("--force", action="store_true", help="recompute stored results")
    ap.add_argument("--stale", action="store_true",
                    help="recompute the stored results that the code now in the tree did not compute (see table)")
    ap.add_argument("--shard", type=_shard, default=(0, 1), metavar="I/N",
                    help="run only every N-th job from the I-th (0-based): one command's jobs on N cores")
    ap.add_argument("--results", type=Path, default=RESULTS,
                    help="file the results are stored in (default: results.json here); chains run side by side "
                         "each keep their own, and `merge FILE...` stores them into the default one")
    ap.add_argument("files", nargs="*", type=Path,
                    help="merge: results files whose results replace the stored ones; restamp: one commit")
    ap.add_argument("--columns", nargs="+", default=None, help="run only these columns (predictors, variants)")
    ap.add_argument("--stamp", action="store_true",
                    help="run nothing: record on each result stored before results carried digests the data and "
                         "settings of this command, where its query archs, samples, seeds and folds match")
    ap.add_argument("--gpus", default=None, metavar="DEV,DEV,...",
                    help="crosstype, ablation: the dataset's GPUs (default: the names starting as HELP's and "
                         "nasedge's GPUs do); the other devices are the other side of the split")
    ap.add_argument("--active", action="store_true",
                    help="lodo, crosstype, transfer: the 10 samples after the reference archs chosen by "
                         "nasedge.predict.active.select_archs instead of at random (stored as <experiment>-active)")
    ap.add_argument("--max-shots", type=positive_int, default=None, metavar="N",
                    help="lodo, crosstype, typesplit, transfer: a predictor that asks for more samples after the 20 "
                         "gets them, 10 at a time up to N, as a profile does (stored as <experiment>-more; only "
                         "the columns that can ask: meta)")
    args = ap.parse_args(argv)
    if args.experiment == "merge":
        return cmd_merge(args)
    if args.experiment == "restamp":
        return cmd_restamp(args)
    if args.experiment != "table" and not args.data:
        ap.error("--data is required")
    results = Results(args.results, must_exist=args.experiment == "table")
    commands = {"help": cmd_help, "lodo": cmd_lodo, "crosstype": cmd_crosstype, "typesplit": cmd_typesplit,
                "ablation": cmd_ablation,
                "transfer": cmd_transfer, "table": cmd_table}
    commands[args.experiment](args, results)
    return 0


if __name__ == "__main__":
    run(main)
