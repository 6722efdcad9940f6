"""The main job: specialize the supernet for a device under a latency budget (DESIGN.md, "Data flow").

resolve the device -> load the supernet and its accuracy predictor -> the device's latency predictor
(stored profile, or a new one from measurements) -> search -> measure the top-k finalists on the device
-> keep the best that meets the budget -> extract, recalibrate BN, evaluate (Ray tasks) -> export ->
manifest.json, pareto.png, report.md. Every stage is timed; the times go into the manifest.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

from nasedge.errors import NasedgeError


@dataclass
class SpecializeConfig:
    """Schema of the Hydra ``specialize`` group (conf/specialize/default.yaml)."""

    # finalists (best predicted accuracy under the predicted budget) measured on the device
    top_k: int = 3
    # of the finalists that meet the budget when measured, how many get their true accuracy evaluated
    # (best predicted first); the pick is the most accurate of those
    evaluate: int = 1
    # test images of the final evaluation (a seeded subset; null: the whole test split) and training images
    # its BatchNorm recalibration forwards (null: data.recalibration_images). 1,000 + 1,000 keep a CPU run
    # within a minute (top-1 standard error about 1.1 points at 86 %); raise them where a GPU evaluates.
    test_images: Optional[int] = 1000
    recalibration_images: Optional[int] = 1000
    # ray: evaluation as Ray tasks (GPUs where present; a local Ray instance starts by itself); local: in process;
    # auto: Ray when it can pay (a cluster to join, a GPU, or several finalists), else in process
    evaluation: str = "auto"
    formats: List[str] = field(default_factory=lambda: ["torch", "onnx", "tflite"])
    # archs measured to create a device's profile when none is stored (reference archs first)
    profile_archs: int = 20
    # predictor fitted to a predict-only device's published measurements
    published_predictor: str = "flops"
    # output folder; null: outputs/specialize/<device>-<budget>
    out_dir: Optional[str] = None


@dataclass
class SpecializeRequest:
    """What the user asked for (the CLI flags); everything else comes from the composed config."""

    device: str
    latency: str
    strategy: Optional[str] = None
    out: Optional[str] = None
    supernet: Optional[str] = None
    measurements: Optional[str] = None
    ray_address: Optional[str] = None
    predictor_url: Optional[str] = None
    overrides: Sequence[str] = ()


class _Stages:
    """Times each stage and prints one line per finished stage (rich, on stderr)."""

    def __init__(self, console: Any):
        self.console, self.seconds = console, {}
        self.start = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, name: str, detail: str = "") -> Iterator[dict]:
        note: dict = {"detail": detail}
        t = time.perf_counter()
        with self.console.status(f"{name} ..."):
            yield note
        self.seconds[name] = round(time.perf_counter() - t, 2)
        from rich.markup import escape

        # details carry paths and pip extras (`nasedge[tflite]`) that rich would read as markup
        self.console.print(f"[green]✓[/] {name:<20} [dim]{self.seconds[name]:6.1f} s[/]  {escape(str(note['detail']))}",
                           highlight=False, soft_wrap=True)

    def total(self) -> float:
        return round(time.perf_counter() - self.start, 2)


def _bar(console: Any, label: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                    TimeElapsedColumn(), console=console, transient=True)


def _check_spec(spec: SpecializeConfig) -> None:
    checks = {"top_k": spec.top_k >= 1, "evaluate": spec.evaluate >= 1, "profile_archs": spec.profile_archs >= 3,
              "test_images": spec.test_images is None or spec.test_images >= 1,
              "recalibration_images": spec.recalibration_images is None or spec.recalibration_images >= 1,
              "evaluation": spec.evaluation in ("auto", "ray", "local")}
    for key, ok in checks.items():
        if not ok:
            raise NasedgeError(f"specialize.{key}: value {getattr(spec, key)!r} is not valid")


def specialize(req: SpecializeRequest, console: Any = None) -> dict[str, Any]:
    """Run the main job; returns the manifest (also written to the output folder with the other files)."""
    from omegaconf import OmegaConf
    from rich.console import Console

    from nasedge.commands.measure import resolve_device
    from nasedge.config import compose
    from nasedge.specialize.budget import format_latency, parse_latency

    console = console or Console(stderr=True)
    stages = _Stages(console)
    with stages("configuration") as note:
        budget = parse_latency(req.latency)
        overrides = [*([f"search={req.strategy}"] if req.strategy else []), *req.overrides]
        device_overrides = [o for o in overrides if o.lstrip("+~").startswith("device.")]
        device = resolve_device(req.device, device_overrides)
        cfg = compose([o for o in overrides if o not in device_overrides])
        spec: SpecializeConfig = OmegaConf.to_object(cfg.specialize)
        _check_spec(spec)
        out = Path(req.out or spec.out_dir or Path("outputs") / "specialize" / f"{device.name}-{format_latency(budget)}")
        note["detail"] = f"device {device.name} ({device.location()}), budget {budget:g} ms, out {out}"
    try:
        return _run(req, cfg, spec, device, budget, out, stages, console)
    finally:
        _shutdown_ray()


def _run(req: SpecializeRequest, cfg: Any, spec: SpecializeConfig, device: Any, budget: float, out: Path,
         stages: _Stages, console: Any) -> dict[str, Any]:
    from omegaconf import OmegaConf

    from nasedge.search import check_budget, strategy_from_config
    from nasedge.specialize import latency as lat
    from nasedge.specialize.report import write_outputs

    # --- the device must be reachable before anything is measured on it ----------------------------
    verify, unverified_reason = device.measurable, ""
    if not device.measurable:
        unverified_reason = f"{device.name} is predict-only (published measurements); nothing can be measured"
    elif device.where == "ray":
        with stages("device connection") as note:
            try:
                _connect(device, req.ray_address)
                note["detail"] = f"a Ray node offers {device.resource}"
            except NasedgeError as exc:
                if req.measurements is None:
                    raise
                verify, unverified_reason = False, f"{device.name} is not reachable ({exc}); predicted only"
                note["detail"] = "not reachable: the result will be unverified"

    with stages("supernet") as note:
        supernet, supernet_path, digest = _load_supernet(req.supernet, cfg.supernet)
        space = supernet.space
        note["detail"] = f"{supernet_path} ({space.name}, sha256 {digest[:12]})"
    with stages("accuracy predictor") as note:
        acc_path = _accuracy_predictor_path(req.supernet, cfg.supernet, supernet_path)
        accuracy = _load_accuracy_predictor(acc_path, space.name)
        note["detail"] = str(acc_path)
    with stages("latency predictor") as note:
        if req.predictor_url:
            source = lat.remote_source(req.predictor_url, device.name, space)
        elif not device.measurable:
            source = lat.published_source(device, space, spec.published_predictor)
        else:
            pcfg = OmegaConf.to_container(cfg.predictor, resolve=True)
            from nasedge.predict import predictor_class

            with _bar(console, f"measure {device.name}") as bar:
                task = bar.add_task("profile archs", total=spec.profile_archs)
                source = lat.profile_source(
                    device, space, profiles_dir=pcfg.get("profiles_dir"), predictor=pcfg["name"],
                    predictor_options=predictor_class(pcfg["name"]).options_from_config(pcfg),
                    cv_folds=int(pcfg["cv_folds"]), num_archs=spec.profile_archs, measurements=req.measurements,
                    ray_address=req.ray_address, measurements_dir=Path("outputs") / "measurements",
                    progress=lambda done, total: bar.update(task, completed=done))
        note["detail"] = source.description
    if not unverified_reason and not verify:
        unverified_reason = "verification turned off"

    with stages("search") as note:
        fastest = check_budget(space, source.predict, budget)
        strategy = strategy_from_config(OmegaConf.to_container(cfg.search, resolve=True))
        with _bar(console, f"search {strategy.name}") as bar:
            task = bar.add_task("", total=strategy.config.max_evaluations)

            def progress(p) -> None:
                best = "" if p.best_objective is None else f"best {p.best_objective:.2f} %"
                bar.update(task, completed=p.evaluations, description=best)

            result = strategy.run(space, accuracy.predict, source.predict, budget, seed=int(cfg.seed), progress=progress)
        scored = sorted((c for c in result.history if c.feasible and c.objective is not None),
                        key=lambda c: -c.objective)
        if not scored:
            raise NasedgeError(f"the search found no arch under {budget:g} ms ({result.stop_reason})")
        note["detail"] = (f"{result.evaluations} accuracy-predictor calls, {result.constraint_evaluations} latency "
                          f"predictions; best predicted {scored[0].objective:.2f} % at {scored[0].constraint:.3g} ms")

    finalists = [_finalist(c) for c in scored[:spec.top_k]]
    if verify:
        with stages("verification") as note:
            finalists = _verify(device, finalists, scored, spec.top_k, budget, req.ray_address, console)
            ok = [f for f in finalists if f["within_budget"]]
            note["detail"] = (f"{len(finalists)} finalists measured on {device.name}: "
                              + ", ".join(f"{f['measured_ms']:.3g}" for f in finalists)
                              + f" ms; {len(ok)} within {budget:g} ms")
    else:
        ok = finalists

    with stages("evaluation") as note:
        from nasedge.specialize.evaluation import evaluate_finalists

        chosen = ok[:spec.evaluate]
        use_ray = spec.evaluation == "ray" or (spec.evaluation == "auto" and _ray_pays(req.ray_address, len(chosen)))
        with _bar(console, "evaluate") as bar:
            task = bar.add_task(f"{'Ray tasks' if use_ray else 'in process'}", total=len(chosen))
            evals = evaluate_finalists([f["arch"] for f in chosen], supernet_path=str(supernet_path),
                                       data=_evaluation_data(cfg.data, spec), test_images=spec.test_images,
                                       use_ray=use_ray, ray_address=req.ray_address,
                                       progress=lambda done, total: bar.update(task, completed=done))
        for f, e in zip(chosen, evals):
            f.update(top1=e.top1, evaluated_on=e.where, evaluation_s=round(e.seconds, 2))
        best = max(range(len(chosen)), key=lambda i: evals[i].top1)
        pick, pick_eval = chosen[best], evals[best]
        note["detail"] = (f"top-1 {pick_eval.top1:.2f} % on {pick_eval.test_images} test images "
                          f"(predicted {pick['predicted_top1']:.2f} %), {pick_eval.where}")

    with stages("export") as note:
        files, skipped, export_s = _export(supernet, pick_eval, spec.formats, out)
        note["detail"] = ", ".join(f"{p.name} {export_s[f]:.1f} s" for f, p in files.items()) + "".join(
            f"; {f} skipped ({why})" for f, why in skipped.items())

    with stages("manifest and report") as note:
        manifest = write_outputs(
            out, req=req, device=device, budget=budget, fastest_predicted=fastest, verified=verify,
            unverified_reason=unverified_reason, source=source, supernet_path=supernet_path, digest=digest,
            accuracy_path=acc_path, result=result, finalists=finalists, pick=pick, evaluation=pick_eval,
            files=files, skipped=skipped, export_s=export_s, spec=spec, seed=int(cfg.seed), stages=stages)
        note["detail"] = f"{out}/manifest.json, pareto.png, report.md"
    manifest["timings_s"]["total"] = stages.total()
    from nasedge.specialize.report import write_manifest

    write_manifest(out, manifest)
    measured = "unverified" if pick.get("measured_ms") is None else f"measured {pick['measured_ms']:.3g} ms"
    console.print(f"[bold]picked[/] {pick['arch'].digest()}: top-1 {pick_eval.top1:.2f} % (predicted "
                  f"{pick['predicted_top1']:.2f} %), {measured} (predicted {pick['predicted_ms']:.3g} ms) "
                  f"under {budget:g} ms on {device.name}; {stages.total():.1f} s in all", highlight=False, soft_wrap=True)
    return manifest


def _finalist(cand: Any) -> dict[str, Any]:
    return {"arch": cand.arch, "predicted_top1": float(cand.objective), "predicted_ms": float(cand.constraint),
            "measured_ms": None, "measured_p90_ms": None, "noisy": None, "within_budget": None}


_CORRECTION_ROUNDS = 3


def _verify(device: Any, finalists: list[dict], scored: list, top_k: int, budget: float, ray_address: Optional[str],
            console: Any) -> list[dict]:
    """Measure the finalists; while none meets the budget (at most ``_CORRECTION_ROUNDS`` more rounds), measure the
    next best archs the search saw, with predictions scaled by the largest measured/predicted ratio so far."""
    def measure(batch: list[dict]) -> None:
        with _bar(console, f"measure {device.name}") as bar:
            task = bar.add_task("finalists", total=len(batch))
            done = []
            ms = device.measure([f["arch"] for f in batch], ray_address=ray_address,
                                on_chunk=lambda chunk: (done.extend(chunk), bar.update(task, completed=len(done))))
        for f, m in zip(batch, ms):
            f.update(measured_ms=float(m.median_ms), measured_p90_ms=float(m.p90_ms), noisy=bool(m.noisy),
                     within_budget=bool(m.median_ms <= budget))

    measure(finalists)
    for _ in range(_CORRECTION_ROUNDS):
        if any(f["within_budget"] for f in finalists):
            break
        # the largest ratio, not the median: the archs it under-predicted most are the ones that missed
        ratio = max(f["measured_ms"] / f["predicted_ms"] for f in finalists)
        seen = {f["arch"] for f in finalists}
        extra = [_finalist(c) for c in scored if c.arch not in seen and c.constraint * ratio <= budget][:top_k]
        if not extra:
            break
        measure(extra)
        finalists = finalists + extra
    if not any(f["within_budget"] for f in finalists):
        lo = min(f["measured_ms"] for f in finalists)
        raise NasedgeError(f"none of the {len(finalists)} finalists meets {budget:g} ms when measured on {device.name} "
                           f"(fastest {lo:.3g} ms, predicted <= {budget:g} ms): the latency profile is off here; refit "
                           f"it (`nasedge predictor fit --device {device.name}`) or raise the budget")
    return finalists


def _connect(device: Any, ray_address: Optional[str]) -> None:
    from nasedge.measure import ray_routing

    ray_routing.connect(device.name, device.resource, ray_address)
    ray_routing.check_resource(device.name, device.resource)


def _shutdown_ray() -> None:
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def _load_supernet(override: Optional[str], cfg: Any) -> tuple[Any, Path, str]:
    from nasedge.supernet import file_digest, load_supernet

    path = override or cfg.checkpoint
    if not path:
        raise NasedgeError("no supernet configured; pass --supernet PATH")
    supernet = load_supernet(path)
    return supernet, Path(path), file_digest(path)


def _accuracy_predictor_path(override: Optional[str], cfg: Any, supernet_path: Path) -> Path:
    """``accuracy_predictor.json`` beside a ``--supernet`` checkpoint, else the configured one."""
    beside = supernet_path.parent / "accuracy_predictor.json"
    configured = None if override else cfg.get("accuracy_predictor")
    if configured:
        return Path(configured)
    if beside.is_file():
        return beside
    raise NasedgeError(f"no accuracy predictor for supernet {supernet_path}: put accuracy_predictor.json beside it "
                       f"or pass supernet.accuracy_predictor=PATH (fit one from `nasedge eval --out` results)")


def _load_accuracy_predictor(path: Path, space: str) -> Any:
    from nasedge.predict.accuracy import load_accuracy_predictor

    predictor = load_accuracy_predictor(path)
    if predictor.space.name != space:
        raise NasedgeError(f"{path}: accuracy predictor is for space {predictor.space.name!r}, the supernet for {space!r}")
    return predictor


def _evaluation_data(data_cfg: Any, spec: SpecializeConfig) -> Any:
    from omegaconf import OmegaConf

    data = OmegaConf.to_object(data_cfg)
    if spec.recalibration_images is not None:
        if isinstance(data, dict):
            data["recalibration_images"] = int(spec.recalibration_images)
        else:
            data.recalibration_images = int(spec.recalibration_images)
    return data


def _ray_pays(ray_address: Optional[str], tasks: int) -> bool:
    """Whether evaluating as Ray tasks can beat this process: a cluster to join, a GPU, or tasks to spread.

    On one CPU-only machine a single evaluation gains nothing from Ray and pays for its start (about 10 s
    on 2 cores).
    """
    if ray_address is not None or tasks > 1:
        return True
    import torch

    return torch.cuda.is_available()


def _export(supernet: Any, evaluation: Any, formats: Sequence[str], out: Path) -> tuple[dict, dict, dict]:
    """Write the evaluated (recalibrated) subnet in each format; TFLite is skipped without its extra."""
    from nasedge.export import export_subnet, parse_formats, tflite_available

    subnet = supernet.extract(evaluation.arch)
    subnet.load_state_dict(evaluation.state_dict)
    files, skipped, seconds = {}, {}, {}
    for fmt in parse_formats(",".join(formats)):
        if fmt == "tflite" and not tflite_available():
            skipped[fmt] = "needs the tflite extra: pip install 'nasedge[tflite]'"
            continue
        t = time.perf_counter()
        files.update(export_subnet(subnet, evaluation.arch, [fmt], out))
        seconds[fmt] = round(time.perf_counter() - t, 2)
    return files, skipped, seconds
