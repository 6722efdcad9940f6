"""The main job: specialize the supernet for a device under a latency budget (DESIGN.md, "Data flow").

:func:`specialize` is the stage sequence: the device must be reachable -> the supernet and its accuracy
predictor -> the device's latency predictor (stored profile, or a new one from measurements) -> search ->
verification (:mod:`nasedge.specialize.verification`) -> the true accuracy of the best finalists
(:mod:`nasedge.specialize.final_evaluation`) -> export -> manifest.json, pareto.png, report.md. Every stage is
timed (the times go into the manifest) and shown by :mod:`nasedge.specialize.progress`.

The configuration comes composed (``nasedge specialize`` composes it from conf/ and its flags) and the
device loaded (:func:`nasedge.measure.device.get_device`). Ray connections the job makes are closed when it
ends; a Ray the caller initialised stays up.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from nasedge import home
from nasedge.errors import NasedgeError
from nasedge.specialize.config import SpecializeConfig
from nasedge.specialize.progress import Stages, progress_bar
from nasedge.specialize.verification import Finalist, verify


@dataclass
class SpecializeRequest:
    """What the user asked for (the CLI flags); everything else comes from the composed config."""

    latency: str
    out: Optional[str] = None
    supernet: Optional[str] = None
    measurements: Optional[str] = None
    ray_address: Optional[str] = None
    predictor_url: Optional[str] = None
    data_given: bool = False                   # the data config was chosen by the user (--data, data=...)
    accuracy_predictor: Optional[str] = None   # --accuracy-predictor (else beside --supernet, else configured)


def specialize(req: SpecializeRequest, device: Any, cfg: Any, console: Any = None) -> dict[str, Any]:
    """Run the main job for ``device`` (a :class:`~nasedge.measure.device.Device`) with the composed configuration
    ``cfg`` (its ``specialize``, ``search``, ``predictor``, ``supernet`` and ``data`` groups and ``seed``);
    returns the manifest (also written to the output folder with the other files)."""
    from omegaconf import OmegaConf
    from rich.console import Console

    from nasedge.ray_cluster import scope
    from nasedge.specialize.budget import format_latency, parse_latency

    console = console or Console(stderr=True)
    stages = Stages(console)
    with stages("configuration") as note:
        budget = parse_latency(req.latency)
        spec: SpecializeConfig = OmegaConf.to_object(cfg.specialize)
        spec.check()
        out = Path(req.out or spec.out_dir or Path("outputs") / "specialize" / f"{device.name}-{format_latency(budget)}")
        note["detail"] = f"device {device.name} ({device.location()}), budget {budget:g} ms, out {out}"
    with scope():
        verified, unverified_reason = _reach_device(device, req, stages)
        with stages("supernet") as note:
            supernet, supernet_path, digest = _load_supernet(req.supernet, cfg.supernet)
            note["detail"] = f"{supernet_path} ({supernet.space.name}, sha256 {digest[:12]})"
            predicted_only = _evaluation_check(supernet, cfg, req.data_given)
        with stages("accuracy predictor") as note:
            acc_path = (Path(req.accuracy_predictor) if req.accuracy_predictor else
                        _accuracy_predictor_path(req.supernet, cfg.supernet, supernet_path))
            accuracy = _load_accuracy_predictor(acc_path, supernet.space.name)
            note["detail"] = str(acc_path)
        source = _latency_source(device, supernet.space, req, cfg, spec, stages, console)
        if not unverified_reason and not verified:
            unverified_reason = "verification turned off"
        result, scored, fastest = _search(supernet.space, accuracy, source, budget, cfg, stages, console)
        if verified:
            finalists = _verify(device, scored, budget, spec.top_k, req.ray_address, stages, console)
            ok = [f for f in finalists if f.within_budget]
        else:
            finalists = ok = [Finalist.of(c) for c in scored[:spec.top_k]]
        if predicted_only:
            pick, pick_eval = _predicted_only(supernet, ok, predicted_only, stages)
        else:
            pick, pick_eval = _evaluate(ok[:spec.evaluate], supernet_path, cfg, spec, req.ray_address, stages, console)
    with stages("export") as note:
        files, skipped, export_s = _export(supernet, pick_eval, spec.formats, out)
        note["detail"] = ", ".join(f"{p.name} {export_s[f]:.1f} s" for f, p in files.items()) + "".join(
            f"; {f} skipped ({why})" for f, why in skipped.items())
    with stages("manifest and report") as note:
        from nasedge.specialize.report import write_outputs

        manifest = write_outputs(
            out, device=device, budget=budget, fastest_predicted=fastest, verified=verified,
            unverified_reason=unverified_reason, source=source, supernet_path=supernet_path, digest=digest,
            accuracy_path=acc_path, result=result, finalists=finalists, pick=pick, evaluation=pick_eval,
            files=files, skipped=skipped, export_s=export_s, spec=spec, seed=int(cfg.seed), stages=stages)
        note["detail"] = f"{out}/manifest.json, pareto.png, report.md"
    manifest["timings_s"]["total"] = stages.total()
    from nasedge.specialize.report import write_manifest

    write_manifest(out, manifest)
    measured = "unverified" if pick.measured_ms is None else f"measured {pick.measured_ms:.3g} ms"
    top1 = "top-1 not evaluated" if pick_eval.top1 is None else f"top-1 {pick_eval.top1:.2f} %"
    console.print(f"[bold]picked[/] {pick.arch.digest()}: {top1} (predicted "
                  f"{pick.predicted_top1:.2f} %), {measured} (predicted {pick.predicted_ms:.3g} ms) "
                  f"under {budget:g} ms on {device.name}; {stages.total():.1f} s in all", highlight=False, soft_wrap=True)
    return manifest


# --- the stages ----------------------------------------------------------------------------------------
def _reach_device(device: Any, req: SpecializeRequest, stages: Stages) -> tuple[bool, str]:
    """Whether finalists can be verified on the device (it must be reachable before anything is measured), and
    why not."""
    if not device.measurable:
        return False, device.unmeasurable_reason()
    if device.where != "ray":
        return True, ""
    from nasedge.measure import ray_routing

    with stages("device connection") as note:
        try:
            ray_routing.connect(device.name, device.resource, req.ray_address)
            ray_routing.check_resource(device.name, device.resource)
            note["detail"] = f"a Ray node offers {device.resource}"
        except NasedgeError as exc:
            if req.measurements is None:
                raise
            note["detail"] = "not reachable: the result will be unverified"
            return False, f"{device.name} is not reachable ({exc}); predicted only"
    return True, ""


def _latency_source(device: Any, space: Any, req: SpecializeRequest, cfg: Any, spec: SpecializeConfig,
                    stages: Stages, console: Any) -> Any:
    from omegaconf import OmegaConf

    from nasedge.specialize import latency as lat

    with stages("latency predictor") as note:
        if req.predictor_url:
            source = lat.remote_source(req.predictor_url, device.name, space)
        elif not device.measurable:
            source = lat.published_source(device, space, spec.published_predictor)
        else:
            from nasedge.predict import predictor_class

            pcfg = OmegaConf.to_container(cfg.predictor, resolve=True)
            with progress_bar(console, f"measure {device.name}", "profile archs", spec.profile_archs) as update:
                source = lat.profile_source(
                    device, space, profiles_dir=pcfg.get("profiles_dir"), predictor=pcfg["name"],
                    predictor_options=predictor_class(pcfg["name"]).options_from_config(pcfg),
                    cv_folds=int(pcfg["cv_folds"]), num_archs=spec.profile_archs, measurements=req.measurements,
                    ray_address=req.ray_address, measurements_dir=home.measurements_dir(),
                    progress=lambda done, total: update(done))
        note["detail"] = source.description
    return source


def _search(space: Any, accuracy: Any, source: Any, budget: float, cfg: Any, stages: Stages,
            console: Any) -> tuple[Any, list, float]:
    """The search's result, its feasible candidates best predicted accuracy first, and the fastest subnet's
    predicted latency."""
    from omegaconf import OmegaConf

    from nasedge.search import check_budget, strategy_from_config

    with stages("search") as note:
        fastest = check_budget(space, source.predict, budget)
        strategy = strategy_from_config(OmegaConf.to_container(cfg.search, resolve=True))
        with progress_bar(console, f"search {strategy.name}", total=strategy.config.max_evaluations) as update:
            def progress(p) -> None:
                update(p.evaluations, description="" if p.best_objective is None else f"best {p.best_objective:.2f} %")

            result = strategy.run(space, accuracy.predict, source.predict, budget, seed=int(cfg.seed), progress=progress)
        scored = sorted((c for c in result.history if c.feasible and c.objective is not None),
                        key=lambda c: -c.objective)
        if not scored:
            raise NasedgeError(f"the search found no arch under {budget:g} ms ({result.stop_reason})")
        note["detail"] = (f"{result.evaluations} accuracy-predictor calls, {result.constraint_evaluations} latency "
                          f"predictions; best predicted {scored[0].objective:.2f} % at {scored[0].constraint:.3g} ms")
    return result, scored, fastest


def _verify(device: Any, scored: list, budget: float, top_k: int, ray_address: Optional[str], stages: Stages,
            console: Any) -> list[Finalist]:
    with stages("verification") as note:
        with progress_bar(console, f"measure {device.name}", "finalists") as update:
            finalists = verify(device, scored, budget, top_k, ray_address=ray_address,
                               progress=lambda done, total: update(done, total))
        ok = [f for f in finalists if f.within_budget]
        note["detail"] = (f"{len(finalists)} finalists measured on {device.name}: "
                          + ", ".join(f"{f.measured_ms:.3g}" for f in finalists)
                          + f" ms; {len(ok)} within {budget:g} ms")
    return finalists


def _evaluate(chosen: list[Finalist], supernet_path: Path, cfg: Any, spec: SpecializeConfig,
              ray_address: Optional[str], stages: Stages, console: Any) -> tuple[Finalist, Any]:
    """Evaluate the true accuracy of ``chosen`` (recorded on each); the most accurate and its evaluation."""
    from nasedge.specialize.final_evaluation import evaluate_finalists

    with stages("evaluation") as note:
        use_ray = spec.evaluation == "ray" or (spec.evaluation == "auto" and _ray_pays(ray_address, len(chosen)))
        with progress_bar(console, "evaluate", "Ray tasks" if use_ray else "in process", len(chosen)) as update:
            evals = evaluate_finalists([f.arch for f in chosen], supernet_path=str(supernet_path),
                                       data=_evaluation_data(cfg.data, spec), test_images=spec.test_images,
                                       use_ray=use_ray, ray_address=ray_address,
                                       progress=lambda done, total: update(done))
        for f, e in zip(chosen, evals):
            f.top1, f.evaluated_on, f.evaluation_s = e.top1, e.where, round(e.seconds, 2)
        best = max(range(len(chosen)), key=lambda i: evals[i].top1)
        pick, pick_eval = chosen[best], evals[best]
        note["detail"] = (f"top-1 {pick_eval.top1:.2f} % on {pick_eval.test_images} test images "
                          f"(predicted {pick.predicted_top1:.2f} %), {pick_eval.where}")
    return pick, pick_eval


def _evaluation_check(supernet: Any, cfg: Any, data_given: bool) -> str:
    """"" when finalists can be evaluated on the configured data; else why accuracy is predicted only."""
    from omegaconf import OmegaConf

    from nasedge.specialize.final_evaluation import evaluation_check

    return evaluation_check(supernet.num_classes, OmegaConf.to_object(cfg.data), data_given)


def _predicted_only(supernet: Any, ok: list[Finalist], reason: str, stages: Stages) -> tuple[Finalist, Any]:
    """No evaluation data: the best predicted finalist within the budget, exported as extracted."""
    from nasedge.specialize.final_evaluation import unevaluated

    with stages("evaluation") as note:
        pick = ok[0]
        note["detail"] = f"skipped, accuracy predicted only: {reason}"
    return pick, unevaluated(supernet, pick.arch, reason)


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
