"""Fit, evaluate and inspect latency predictors.

  nasedge predictor archs --space ofa_mbv3_w1.2 -n 20 > to_measure.jsonl     reference archs + actively chosen ones
  nasedge predictor archs --space ofa_mbv3_w1.2 --random > to_measure.jsonl   ... + random ones
  nasedge predictor archs --device my-board > to_measure.jsonl     the space of `devices add my-board --space S`
  nasedge predictor fit --device cpu [--space ofa_mbv3_cifar]     measure those archs on the device, then fit
  nasedge predictor fit --device jetson-orin --measurements lat.csv [--predictor meta]
  nasedge predictor show --device jetson-orin [--space S]
  NASEDGE_TOKEN=nse_... nasedge predictor push --device jetson-orin --url http://predictors:8000
                                         register the profile's measurements in a predictor service
  nasedge predictor eval --space nasbench201 --data DIR --target-device pixel2 --shots 10 --seeds 5
  nasedge predictor eval --space ofa --data DIR [--target-data DIR] --target-device D --protocol untrimmed \\
      --shots 20 --json
  nasedge predictor eval --space fbnet --data DIR --target-device pixel2,raspi4 --protocol untrimmed \\
      --sources 1080ti_1,2080ti_1,titan_rtx_1 --ceiling [--max-shots 40] [--active]    a device split

``fit`` stores a device profile (``<nasedge home>/profiles/<device>@<space>.json`` unless configured
otherwise; the profiles shipped with nasedge are read-only) from a measurements CSV (columns ``arch``
and ``latency_ms``, or ``nasedge measure`` output), or, without ``--measurements``, measures the archs of
``predictor archs`` on the device first: the space's reference archs, then chosen ones (``--random``:
random ones; ``-n``, default 20). The measurements are kept in ``--save-measurements``, default
``<nasedge home>/measurements/``, and a rerun resumes from them. The measurements must include the space's
reference archs (``--allow-missing-reference`` fits without them); rows flagged noisy are counted, and
the profile's cross-validated quality printed. ``eval`` runs the few-shot protocols of
nasedge.predict.benchmark and prints Spearman rho, MAPE and the share of archs predicted within +-10 %
(mean over seeds); ``--sources`` sets the devices the prior learns from (a device split: e.g. GPU
sources for a phone target).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nasedge.predict.profile import DeviceProfile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="predictor_command", metavar="ACTION", parser_class=type(parser))
    sub.required = True

    p = sub.add_parser("fit", help="fit and store a device's latency profile from its measurements")
    p.add_argument("--device", required=True, metavar="NAME", help="device name (names the profile)")
    p.add_argument("--measurements", metavar="FILE.csv", help="measurements CSV (arch, latency_ms)")
    p.add_argument("--predictor", metavar="NAME", help="latency predictor (default: the configured one, meta)")
    p.add_argument("--space", help="search space of the archs (default: from the measurements, or the "
                                    "configured space when measuring)")
    p.add_argument("-n", "--num", type=int, default=20,
                   help="archs to measure without --measurements: reference archs first (default 20)")
    p.add_argument("--max-num", type=int, metavar="N",
                   help="without --measurements: measure more archs, 10 at a time up to N in all, while the "
                        "predictor says more would pay (meta: its samples left out are predicted over 5 %% "
                        "off, or 2 %% where its prior does not fit the device; default: "
                        "twice --num; --max-num equal to --num: never more)")
    p.add_argument("--seed", type=int, default=0, help="seed of the archs measured after the reference ones")
    p.add_argument("--random", action="store_true",
                   help="without --measurements: measure random archs after the reference ones, not the active "
                        "choice (as `predictor archs --random`)")
    p.add_argument("--save-measurements", metavar="FILE.csv",
                   help="without --measurements: keep the measurements here (default "
                        "<nasedge home>/measurements/<device>@<space>.csv; a rerun resumes from it)")
    p.add_argument("--allow-missing-reference", action="store_true",
                   help="fit even if some of the space's reference archs are not measured (a weaker profile)")
    p.add_argument("--ray-address", metavar="HOST:PORT", help="Ray cluster of devices reached through Ray")
    p.add_argument("--table", metavar="FILE.json", help="latency table of the device (predictor lut)")
    p.add_argument("--profiles-dir", metavar="DIR", help="where profiles are stored (default: the nasedge home)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="configuration overrides (predictor.*, device.* when measuring)")
    p.set_defaults(_run=run_fit)

    p = sub.add_parser("show", help="print a stored device profile")
    p.add_argument("--device", required=True, metavar="NAME")
    p.add_argument("--space", help="which of the device's profiles (default: its only one)")
    p.add_argument("--profiles-dir", metavar="DIR")
    p.add_argument("--json", action="store_true", help="print the profile's summary as one JSON object")
    p.set_defaults(_run=run_show)

    p = sub.add_parser("push", help="register a stored profile's measurements in a predictor service (nasedge serve)")
    p.add_argument("--device", required=True, metavar="NAME")
    p.add_argument("--space", help="which of the device's profiles (default: its only one)")
    p.add_argument("--profiles-dir", metavar="DIR")
    p.add_argument("--url", required=True, metavar="URL", help="the service, e.g. http://predictors:8000")
    p.add_argument("--name", metavar="NAME", help="the device's name in the service (default: --device)")
    p.set_defaults(_run=run_push)

    p = sub.add_parser("archs", help="archs to measure on a new device: the reference archs, then chosen ones")
    p.add_argument("--space", help="search space (required unless --device names a device with a space)")
    p.add_argument("--device", metavar="NAME", help="a device whose config names its space (devices add --space)")
    p.add_argument("-n", "--num", type=int, default=20, help="how many in all (default 20)")
    p.add_argument("--seed", type=int, default=0)
    design = p.add_mutually_exclusive_group()
    design.add_argument("--active", action="store_true",
                        help="the default: the archs after the reference ones are chosen among 500 random "
                             "candidates, every other one among those that pin a linear latency model down best")
    design.add_argument("--random", action="store_true", help="the archs after the reference ones as drawn")
    p.set_defaults(_run=run_archs)

    p = sub.add_parser("eval", help="few-shot evaluation on latency datasets (HELP protocol or untrimmed)")
    p.add_argument("--space", required=True,
                   help="space of the datasets (ofa, fbnet, nasbench201, or a search-space name)")
    p.add_argument("--data", action="append", required=True, metavar="DIR", help="latency dataset (repeatable)")
    p.add_argument("--target-data", action="append", default=[], metavar="DIR",
                   help="more datasets, e.g. holding the target device (repeatable)")
    p.add_argument("--target-device", required=True, metavar="NAME[,NAME...]",
                   help="the device(s) predicted; several: one line each and their mean")
    p.add_argument("--ceiling", action="store_true",
                   help="also the noise ceiling: the 'oracle' fitted on all the target's measurements outside "
                        "each fold, on the same query archs")
    p.add_argument("--predictor", default="meta", metavar="NAME[,NAME...]",
                   help="meta (default), flops, regressor, totals, lut; baselines: 'nearest' (best-correlated "
                        "source device, rescaled), 'oracle' (fitted on all the target's measurements: "
                        "the noise ceiling); several, comma-separated: side by side on the same tasks")
    p.add_argument("--protocol", choices=("help", "untrimmed"), default="help")
    p.add_argument("--shots", type=int, default=None,
                   help="help: samples besides the 10 reference archs (default 10); untrimmed: every "
                        "measurement on the target, reference archs included (default 20)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--folds", type=int, help="untrimmed: arch folds (default 5)")
    p.add_argument("--sources", metavar="DEV,DEV,...",
                   help="untrimmed: the only devices the meta prior learns from (default: every device but the "
                        "target), e.g. GPUs only for a phone target")
    p.add_argument("--max-shots", type=int, metavar="N",
                   help="untrimmed: a predictor that asks for more samples gets them, 10 at a time up to N")
    p.add_argument("--active", action="store_true",
                   help="untrimmed: the samples after the reference archs chosen as `predictor archs --active` does")
    p.add_argument("--table", metavar="FILE.json", help="latency table of the target (predictor lut)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(_run=run_eval)


def run(args: argparse.Namespace) -> int:  # dispatched through the sub-command's own _run
    return args._run(args)


MAX_FOLDS = 100
MAX_SEEDS = 1000  # the tasks of every seed are built up front: 1e5 seeds filled memory before the first ran
# archs of the target the oracle needs before it stands for the data's noise ceiling, and that figures need to be
# more than those of a handful of archs
FEW_ARCHS = 100
MAX_ARCHS = 100_000  # archs one `predictor archs` lists


def _checked(args: argparse.Namespace, space, archs, noisy, predictor: str):
    """The one validation of measurements before a fit (:func:`nasedge.predict.profile.check_measurements`)."""
    from nasedge.errors import NasedgeError
    from nasedge.predict.profile import check_measurements

    try:
        return check_measurements(space, archs, noisy, predictor=predictor,
                                  allow_missing_reference=args.allow_missing_reference,
                                  listed_by=f"`nasedge predictor archs --space {getattr(space, 'name', space)}`",
                                  allow_by="--allow-missing-reference")
    except NasedgeError as exc:
        raise NasedgeError(f"{args.measurements or f'-n {args.num}'}: {exc}") from None


def run_fit(args: argparse.Namespace) -> int:
    import sys
    from dataclasses import replace

    from omegaconf import OmegaConf

    from nasedge.commands.inputs import check_positive
    from nasedge.config import compose, compose_with_device
    from nasedge.errors import NasedgeError
    from nasedge.measure.device import device_source, get_device, split_device_overrides
    from nasedge.predict import predictor_config
    from nasedge.predict.dataset import read_device_measurements
    from nasedge.predict.profile import check_cv_folds, check_device_name, fit_profile, save_profile

    if args.measurements is not None or not args.device.endswith((".yaml", ".yml")):
        check_device_name(args.device)  # a device YAML (measuring) names its profile by its own name
    check_positive("-n", args.num)
    if args.max_num is not None and args.max_num < args.num:
        raise NasedgeError(f"--max-num: value {args.max_num} is less than -n {args.num}; expected at least -n")
    overrides = list(args.overrides)
    if args.predictor:
        overrides.insert(0, f"predictor={args.predictor}")
    if args.measurements is None:  # measuring: the device (with its device.* overrides) comes with the config
        composed, device = compose_with_device(args.device, overrides)
    else:
        composed, device = compose(split_device_overrides(overrides)[1]), None
    cfg = OmegaConf.to_container(composed.predictor, resolve=True)
    name, options = predictor_config(cfg)
    cv_folds = check_cv_folds(cfg["cv_folds"])
    if args.table:
        options["table"] = args.table
    if isinstance(options.get("table"), str):  # --table, or predictor.table=FILE
        from nasedge.latency_table import LatencyTable

        measured_on = LatencyTable.load(options["table"]).device
        fitted_for = device.name if device is not None else args.device
        if measured_on and measured_on != fitted_for:  # its per-part timings are of that device, not this one
            print(f"nasedge: warning: {options['table']} was measured on device {measured_on}, not {fitted_for}; "
                  f"the profile calibrates its timings to {fitted_for}'s measurements, which corrects scale, not "
                  f"proportions", file=sys.stderr)
    if args.measurements is None:
        profile, checked = _measure_and_fit(args, device, args.space or device.config.space
                                            or composed.search_space.name, name, cv_folds, options)
    else:
        if device_source(args.device) is not None:  # measurements of a device nasedge knows: of its settings now
            device = get_device(args.device)
        m = read_device_measurements(args.measurements, args.device, args.space,
                                     device.settings if device is not None else "")
        if m.left_out:
            print(f"nasedge: warning: {m.left_out}", file=sys.stderr)
        checked = _checked(args, m.encoding, m.archs, m.noisy, name)
        from nasedge.progress import progress_reporter

        # hundreds of measurements fit for minutes: a bar on a terminal, a line every few seconds in a log
        with progress_reporter(f"fit {name} profile of {args.device}", unit="fits") as update:
            profile = fit_profile(args.device, m.encoding, m.archs, m.latency_ms, name,
                                  cv_folds=cv_folds, progress=update, **options)
    if device is not None:  # the settings it is measured under: another board of the name does not take it
        profile = replace(profile, settings=device.settings)
    path = save_profile(profile, args.profiles_dir or cfg.get("profiles_dir"))
    q = profile.quality
    n = len(profile.measurements)
    cv = (f"; cross-validated on its {n} measurements: spearman {q['spearman']:.3f}, "
          f"MAPE {q['mape']:.1f} %, within 10 % {100 * q['within_10pct']:.0f} %") if q else \
        f"; too few measurements ({n}) to cross-validate"
    print(f"{path}: {name} profile of {profile.device} ({profile.space}){cv}")
    adaptation = profile.latency_predictor.adaptation()
    if adaptation:
        print(f"adaptation: {adaptation}")
    for warning in [*checked.warnings(), *profile.warnings()]:
        print(f"nasedge: warning: {warning}", file=sys.stderr)
    more = profile.more_measurements() if args.measurements is not None else ""
    if more:  # measuring itself, the command takes them (--max-num); from a file, the user can
        print(_more_note(more, profile.space, n, "then refit with all of them"), file=sys.stderr)
    return 0


def _more_note(why: str, space: str, n: int, then: str) -> str:
    """The note that 10 more measurements of a device with ``n`` would pay, ``why``, and how to take them."""
    return (f"nasedge: note: {why}; 10 more measurements would pay: `nasedge predictor archs --space {space} "
            f"-n {n + 10}` lists the archs to measure after these (if these are its first {n}), {then}")


def _measure_and_fit(args: argparse.Namespace, device, space_name: str, predictor: str, cv_folds: int,
                     options: dict):
    """Measure the profile archs of ``space_name`` on the device, then fit (profile, its measurement check)."""
    import functools
    import sys
    from pathlib import Path

    from nasedge import home
    from nasedge.commands.measure import resuming_progress
    from nasedge.errors import NasedgeError
    from nasedge.measure import measure_to_csv
    from nasedge.measure.ray_routing import DeviceUnreachable
    from nasedge.predict.profile import profile_archs, profile_device
    from nasedge.progress import progress_reporter
    from nasedge.spaces import get_space

    if not device.measurable:
        device.measurer()  # raises the predict-only error
    space = get_space(space_name)
    archs = profile_archs(space, args.num, args.seed, not args.random)
    _checked(args, space, archs, [], predictor)  # before measuring anything
    csv = Path(args.save_measurements or home.measurements_dir() / f"{device.name}@{space.name}.csv")
    print(f"measuring {args.num} archs of {space.name} on {device.name} ({device.location()}); "
          f"measurements in {csv}", file=sys.stderr)
    with progress_reporter(f"measure {device.name}", args.num, unit="archs") as update:
        measure = functools.partial(measure_to_csv, device, path=csv, ray_address=args.ray_address,
                                    progress=resuming_progress(update, csv, device.name, "archs"))
        try:
            profile, measured = profile_device(device.name, space, measure, num_archs=args.num,
                                               max_archs=args.max_num, seed=args.seed, predictor=predictor,
                                               cv_folds=cv_folds, note=lambda why: print(f"nasedge: {why}",
                                                                                         file=sys.stderr),
                                               active=not args.random, **options)
        except DeviceUnreachable as exc:
            raise NasedgeError(f"{exc}; or fit from measurements taken elsewhere with --measurements FILE.csv") \
                from None
    return profile, _checked(args, space, [m.arch for m in measured], [m.noisy for m in measured], predictor)


def _stored_profile(args: argparse.Namespace):
    """Where the profile of ``--device`` (and ``--space``) is stored, and the profile itself."""
    from nasedge.predict.profile import find_profile, load_profile

    stored = find_profile(args.device, args.space, args.profiles_dir)
    return stored, load_profile(args.device, args.profiles_dir, stored.space)


def _stale(profile: DeviceProfile) -> str:
    """Why ``profile`` is not of its device as the device's YAML reads now (:meth:`DeviceProfile.other_settings`);
    "" where it is, or where the device is not known here."""
    from nasedge.errors import NasedgeError
    from nasedge.measure.device import device_source, get_device

    if device_source(profile.device) is None:
        return ""
    try:
        return profile.other_settings(get_device(profile.device).settings)
    except NasedgeError:  # a broken YAML is the device's problem (`nasedge devices` says it); its settings unknown
        return ""


def run_show(args: argparse.Namespace) -> int:
    from nasedge.commands.devices import STALE_USE

    stored, p = _stored_profile(args)
    stale = _stale(p)
    summary = {"device": p.device, "space": p.space, "predictor": p.predictor,
               "measurements": len(p.measurements), "quality": p.quality, "created": p.created,
               "source": stored.source, "path": str(stored.path), "adaptation": p.latency_predictor.adaptation(),
               "stale": stale}
    if args.json:
        print(json.dumps(summary))
    else:
        q = p.quality
        print(f"{p.device}: {p.predictor} profile for {p.space} ({stored.source}, {stored.path}), "
              f"{len(p.measurements)} measurements, created "
              f"{p.created}" + (f"; cross-validated spearman {q['spearman']:.3f}, MAPE {q['mape']:.1f} %, "
                                f"within 10 % {100 * q['within_10pct']:.0f} %" if q else ""))
        if summary["adaptation"]:
            print(f"adaptation: {summary['adaptation']}")
        if stale:
            print(f"stale: {stale}; {STALE_USE}")
    return 0


TOKEN_ENV = "NASEDGE_TOKEN"  # a write token of the service (`nasedge serve token create`), never on the command line


def run_push(args: argparse.Namespace) -> int:
    import os
    import sys

    from nasedge.client import PredictorClient
    from nasedge.commands.devices import STALE_USE
    from nasedge.errors import NasedgeError
    stored, profile = _stored_profile(args)
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise NasedgeError(f"{TOKEN_ENV}: not set; registering needs a write token of the service "
                           "(`nasedge serve token create` prints one)")
    stale = _stale(profile)
    if stale:  # marked as `predictor show` and `devices` mark it: the service takes its measurements as the device's
        print(f"nasedge: warning: {stored.path}: stale: {stale}; {STALE_USE}", file=sys.stderr)
    name = args.name or profile.device
    with PredictorClient(args.url, token=token) as client:
        # the profile passed the reference-arch rule when it was fitted, with the allowance given there
        info = client.register(name, profile.space, zip(profile.archs(), profile.latencies()),
                               allow_missing_reference=True)
    here, there = profile.quality, info.get("quality") or {}
    quality = (f"; cross-validated MAPE {there['mape']:.2f} % there, {here['mape']:.2f} % here"
               if here and isinstance(there.get("mape"), (int, float)) else "")
    print(f"registered {name} ({profile.space}) at {args.url}: version {info['version']}, "
          f"{info['measurements']} measurements, predictor {info['predictor']}{quality}")
    if info.get("adaptation"):
        print(f"adaptation: {info['adaptation']}")
    for warning in info.get("warnings", []):
        print(f"nasedge: {warning}", file=sys.stderr)
    if info.get("more_measurements"):
        print(_more_note(info["more_measurements"], profile.space, len(profile.measurements),
                         "then refit with all of them and push again"), file=sys.stderr)
    return 0


def run_archs(args: argparse.Namespace) -> int:
    from nasedge.commands.inputs import check_positive
    from nasedge.errors import NasedgeError
    from nasedge.predict.encodings import get_encoding
    from nasedge.predict.profile import profile_archs

    check_positive("-n", args.num)
    if args.num > MAX_ARCHS:
        raise NasedgeError(f"-n: value {args.num} is not valid; expected 1-{MAX_ARCHS} (a profile measures tens)")
    space = args.space
    if space is None and args.device:
        from nasedge.measure.device import get_device

        space = get_device(args.device).config.space
    if space is None:
        raise NasedgeError("--space: required (or --device NAME of a device added with --space)")
    enc = get_encoding(space)
    archs = profile_archs(enc, args.num, args.seed, active=not args.random)
    if len(archs) < args.num:  # the active design picks from a pool of candidates; said, not silently fewer
        import sys

        print(f"nasedge: note: -n {args.num}: {len(archs)} archs, all that the design picks from", file=sys.stderr)
    print("\n".join(json.dumps(enc.to_record(a), separators=(",", ":")) for a in archs))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    import sys

    import numpy as np

    from nasedge.commands.inputs import check_positive
    from nasedge.errors import NasedgeError
    from nasedge.predict.dataset import load_dataset
    from nasedge.predict.benchmark import BASELINES, evaluate

    def names(text: str) -> list[str]:  # a comma-separated option, each name once
        return list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))

    for value, flag in ((args.shots, "--shots"), (args.seeds, "--seeds"), (args.folds, "--folds"),
                        (args.max_shots, "--max-shots")):
        check_positive(flag, value)
    untrimmed_only = {"--folds": args.folds is not None, "--sources": args.sources is not None,
                      "--max-shots": args.max_shots is not None, "--active": args.active}
    given = next((flag for flag, value in untrimmed_only.items() if value), None)
    if args.protocol == "help" and given:  # the protocol fixes its samples and splits: it would be ignored
        raise NasedgeError(f"{given}: only with --protocol untrimmed")
    folds = args.folds if args.folds is not None else 5
    if args.protocol == "untrimmed" and not 2 <= folds <= MAX_FOLDS:
        # one fold leaves no archs to draw the samples from; each fold meta-trains a model of its own
        raise NasedgeError(f"--folds: value {folds} is not valid; expected 2-{MAX_FOLDS}")
    if args.seeds > MAX_SEEDS:
        raise NasedgeError(f"--seeds: value {args.seeds} is not valid; expected 1-{MAX_SEEDS}")
    predictors = names(args.predictor)  # each a known one (checked with every input, commands/inputs.py)
    if args.table and "lut" not in predictors:  # only lut reads a table: another would silently ignore it
        raise NasedgeError("--table: only with --predictor lut")
    shots = args.shots if args.shots is not None else (10 if args.protocol == "help" else 20)
    if args.max_shots is not None and args.max_shots < shots:
        raise NasedgeError(f"--max-shots: value {args.max_shots} is less than --shots {shots}; expected at least "
                           f"--shots")
    ds = load_dataset([*args.data, *args.target_data], args.space)
    options = {"table": args.table} if args.table else {}
    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total} tasks", end="" if done < total else "\n", file=sys.stderr, flush=True)

    show = not args.json and sys.stderr.isatty()
    targets = names(args.target_device)
    if not targets:
        raise NasedgeError(f"--target-device: value {args.target_device!r} names no device")
    for target in targets:
        ds.device_index(target)  # an unknown device fails before any work
    sources = names(args.sources) if args.sources is not None else None
    if sources is not None and not sources:
        raise NasedgeError(f"--sources: value {args.sources!r} names no device")
    with_oracle = ["oracle"] if args.ceiling and "oracle" not in predictors else []
    columns = predictors + with_oracle
    meta_models: dict = {}  # priors trained once per set of sources and archs, shared by the targets

    def cell(t: str, c: str) -> dict:
        try:
            return evaluate(ds, t, c, args.protocol, shots, args.seeds, folds, options if c == "lut" else {},
                            progress if show else None, meta_models=meta_models, sources=sources, active=args.active,
                            max_shots=args.max_shots if c not in BASELINES else None)
        except NasedgeError as exc:
            if len(targets) * len(columns) == 1:
                raise
            return {"error": str(exc)}  # the other targets and predictors still run; exit status 2 at the end

    results = {t: {c: cell(t, c) for c in columns} for t in targets}
    failed = list(dict.fromkeys(r["error"] for t in targets for r in results[t].values() if "error" in r))
    for error in failed:
        print(f"nasedge: error: {error}", file=sys.stderr)
    few = [t for t in targets if results[t].get("oracle", {}).get("fitted_on", FEW_ARCHS) < FEW_ARCHS]
    if few:  # a model family fitted on a few dozen archs is another few-shot fit, not the data's noise ceiling
        print(f"nasedge: warning: the oracle of {', '.join(few)} was fitted on fewer than {FEW_ARCHS} archs (at least "
              f"{min(results[t]['oracle']['fitted_on'] for t in few)}): a weak noise ceiling", file=sys.stderr)
    query = {t: next((r["query_archs"] for r in results[t].values() if "error" not in r), FEW_ARCHS) for t in targets}
    if any(n < FEW_ARCHS for n in query.values()):  # Spearman 1.000 over 5 archs says little of the predictor
        print(f"nasedge: warning: fewer than {FEW_ARCHS} query archs scored on "
              f"{', '.join(f'{t} ({n})' for t, n in query.items() if n < FEW_ARCHS)}: figures of so few archs, not of "
              f"the device", file=sys.stderr)
    floored = {t: results[t].get("oracle", {}).get("floored", 0) for t in targets}
    if any(floored.values()):  # the ceiling's model family misses the target's latencies: no ceiling of its noise
        which = ", ".join(f"{t} ({n} of {results[t]['oracle']['query_archs']})" for t, n in floored.items() if n)
        print(f"nasedge: warning: the oracle of {which} predicted query archs under the floor (a quarter of the "
              f"fastest latency it was fitted on; raised to it): its linear model does not hold on the target's "
              f"latencies (outliers among them?); an unreliable noise ceiling", file=sys.stderr)
    status = 2 if failed else 0  # what ran is shown; a failed cell is "n/a" and left out of the means
    # the means: of the predictors that ran somewhere, over the targets where each of them ran (like for like)
    ran = [c for c in columns if any("error" not in results[t][c] for t in targets)]
    whole = [t for t in targets if all("error" not in results[t][c] for c in ran)]
    keys = ("spearman", "mape", "within_10pct")
    means = {c: ({k: float(np.mean([results[t][c][k] for t in whole])) for k in keys} if c in ran else
                 {"error": "failed on every target"}) for c in columns} if whole else {}
    if args.json:
        one = len(targets) == 1 and len(columns) == 1
        print(json.dumps(results[targets[0]][columns[0]] if one else
                         {"targets": results, "mean": means, "mean_over": whole}))
        return status
    prior = f", prior from {len(sources)} source devices" if sources else ""
    first = next((r for t in targets for r in results[t].values() if "error" not in r), None)
    if first is None:
        return status
    over = f"mean over {len(whole)} targets" + (f" ({len(targets) - len(whole)} left out: failed)"
                                                 if len(whole) < len(targets) else "")

    if len(predictors) > 1:  # side by side: a line per target, then the means
        def brief(q: dict) -> str:
            if "error" in q:
                return "n/a"
            # one that asked for more samples (--max-shots) is not like for like: said beside its figures
            used = q.get("samples", q.get("measured_on_target"))
            more = f" ({used:.1f} samples)" if used != q.get("measured_on_target") else ""
            return f"{q['spearman']:.3f} / {100 * q['within_10pct']:.1f} %{more}"

        print(f"spearman / within 10 % ({ds.encoding.name}, protocol {args.protocol}, "
              f"{first['measured_on_target']} measurements on the target, {args.seeds} "
              f"seed{'s' * (args.seeds != 1)}{prior})")
        for t in [*targets, *([None] if whole else [])]:
            row = means if t is None else results[t]
            print(f"{over if t is None else t}: " + "; ".join(f"{c} {brief(row[c])}" for c in predictors)
                  + (f"; noise ceiling (oracle) {brief(row['oracle'])}" if with_oracle else ""))
        return status

    def figures(q: dict) -> str:
        if "error" in q:
            return "n/a"
        spread = f" (+-{q['spearman_std']:.3f} over seeds)" if "spearman_std" in q else ""
        return (f"spearman {q['spearman']:.3f}{spread}, MAPE {q['mape']:.2f} %, "
                f"within 10 % {100 * q['within_10pct']:.1f} %")

    for t in targets:
        r = results[t][columns[0]]
        if "error" in r:
            print(f"{columns[0]} on {t}: n/a")
            continue
        used = f" (used {r['samples']:.1f} on average)" if args.max_shots else ""
        ceiling = f"; noise ceiling (oracle): {figures(results[t]['oracle'])}" if with_oracle else ""
        print(f"{r['predictor']} on {t} ({r['space']}, protocol {args.protocol}, {r['measured_on_target']} "
              f"measurements on the target{used}{prior}, {r['query_archs']} query "
              f"archs, {args.seeds} seed{'s' * (args.seeds != 1)}): {figures(r)}{ceiling}")
    if len(targets) > 1 and whole:
        ceiling = f"; noise ceiling (oracle): {figures(means['oracle'])}" if with_oracle else ""
        print(f"{over}: {columns[0]} {figures(means[columns[0]])}{ceiling}")
    return status
