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
from nasedge.specialize.progress import Stages, progress_bar, round_bars
from nasedge.specialize.report import unbound_pick_words, uncalibrated_accuracy_note
from nasedge.specialize.verification import VERIFICATION_CSV, Finalist, describe_measurements, verify
from nasedge.writer_lock import locked_folder


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
    predictor_given: Optional[str] = None      # the user's predictor=/predictor.* override choosing a predictor
    accuracy_predictor: Optional[str] = None   # --accuracy-predictor (else beside --supernet, else configured)


def specialize(req: SpecializeRequest, device: Any, cfg: Any, console: Any = None) -> dict[str, Any]:
    """Run the main job for ``device`` (a :class:`~nasedge.measure.device.Device`) with the composed configuration
    ``cfg`` (its ``specialize``, ``search``, ``predictor``, ``supernet`` and ``data`` groups and ``seed``);
    returns the manifest (also written to the output folder with the other files).

    ``req.latency`` may hold several budgets (``0.9ms,1.3ms,1.8ms``): the profile, the supernet and the accuracy
    predictor serve them all, one search runs per budget, and the pick of each budget is the best candidate any
    of the searches scored under it; each pick is verified, evaluated and exported into ``out/<budget>/``, and
    ``out/`` gets a combined manifest.json, report.md and pareto.png (the returned manifest).
    """
    from omegaconf import OmegaConf
    from rich.console import Console

    from nasedge.measure.measurement import read_for_append
    from nasedge.measure.round_journal import check_journal
    from nasedge.ray_cluster import scope
    from nasedge.specialize.budget import default_out_name, format_latency, parse_budgets

    console = console or Console(stderr=True, soft_wrap=True)  # a line in a log stays one line
    stages = Stages(console)
    with stages("configuration") as note:
        budgets = parse_budgets(req.latency)
        spec: SpecializeConfig = OmegaConf.to_object(cfg.specialize)
        spec.check()
        out = Path(req.out or spec.out_dir or Path("outputs") / "specialize" / default_out_name(device.name, budgets))
        spec.out_dir = str(out)  # the settings as run, in the manifest: where this run wrote (--out, or the default)
        # the accuracy predictor found and of the supernet's space, as far as the files say: before anything loads
        supernet_path, acc_path = supernet_and_predictor(req.supernet, req.accuracy_predictor, cfg.supernet)
        shown = ", ".join(f"{b:g}" for b in budgets)
        note["detail"] = (f"device {device.name} ({device.location()}), budget{'s' * (len(budgets) > 1)} {shown} ms, "
                          f"out {out}")
    with locked_folder(out, "--out"):  # a second run on the folder would swap this one's files away
        kept = ""
        if device.measurable and (out / VERIFICATION_CSV).is_file():  # a predict-only device's run never reads it
            read_for_append(out / VERIFICATION_CSV, warn=lambda _: None)  # refused now, not once everything loaded
            kept = f"finalists measured before are taken from {out / VERIFICATION_CSV}"
        if device.measurable:  # its round journal too (rounds of a group a kill cut short; there without the CSV)
            check_journal(out / VERIFICATION_CSV, device)
        if (out / "manifest.json").is_file():  # a finished run's pick is replaced; its verification measurements stay
            console.print(f"{out} holds an earlier run's pick (manifest.json): it is replaced at the end of this "
                          f"run{'; ' * bool(kept)}{kept}", highlight=False, markup=False)
        elif kept:  # an interrupted run's
            console.print(f"{out} holds an earlier run's verification measurements: {kept}", highlight=False,
                          markup=False)
        multi = len(budgets) > 1

        def stage(name: str, budget: float) -> str:  # stage names (manifest timings) stay as they were for one budget
            return f"{name} {format_latency(budget)}" if multi else name

        with scope():
            verified, unverified_reason = _reach_device(device, req, stages)
            with stages("supernet") as note:
                supernet, digest = _load_supernet(supernet_path)
                note["detail"] = f"{supernet_path} ({supernet.space.name}, sha256 {digest[:12]})"
                predicted_only = _evaluation_check(supernet, cfg, req.data_given)
            with stages("accuracy predictor") as note:
                accuracy = _load_accuracy_predictor(acc_path, supernet.space.name)
                note["detail"] = str(acc_path)
            source = _latency_source(device, supernet.space, req, cfg, spec, stages, console)
            if not unverified_reason and not verified:
                unverified_reason = "verification turned off"
            fastest, slowest = _predicted_range(supernet.space, source, budgets)
            failed: dict[float, str] = {}  # budget -> why it has no pick (several budgets: the others are kept)

            def no_pick(b: float, exc: NasedgeError) -> None:  # one budget of several fails, the others go on
                if not multi:
                    raise exc
                failed[b] = str(exc)
                console.print(f"budget {b:g} ms: no pick: {exc}", highlight=False, soft_wrap=True, markup=False)

            results = {}
            for b in budgets:
                try:
                    results[b] = _search(supernet.space, accuracy, source, b, cfg, stages, console, stage("search", b))
                except NasedgeError as exc:
                    no_pick(b, exc)
            pooled = _pool([r for r, _ in results.values()])
            for b, (result, own) in results.items():
                if b >= slowest:  # the pick is chosen among the subnets scored under the budget, as below
                    scored_n = len(_under(pooled, b) if multi else own)
                    console.print(f"budget {b:g} ms does not bind on {device.name}: its subnets are predicted at "
                                  f"{fastest:.3g}-{slowest:.3g} ms, so "
                                  f"{unbound_pick_words(scored_n, result.stop_reason)}",
                                  highlight=False, soft_wrap=True)
            measured: dict = {}
            evaluated: dict = {}
            picks = []
            for b, (result, own) in results.items():
                scored = _under(pooled, b) if multi else own
                try:
                    if verified:
                        # appended per arch: a rerun after an interruption takes the finalists measured so far
                        finalists = _verify(device, scored, b, spec.top_k, req.ray_address, stages, console,
                                            stage("verification", b), measured, out / VERIFICATION_CSV)
                        ok = [f for f in finalists if f.within_budget]
                    else:
                        finalists = ok = [Finalist.of(c) for c in scored[:spec.top_k]]
                    if predicted_only:
                        pick, pick_eval = _predicted_only(supernet, ok, predicted_only, stages, stage("evaluation", b))
                    else:
                        pick, pick_eval = _evaluate(ok[:spec.evaluate], supernet_path, cfg, spec, req.ray_address,
                                                    stages, console, stage("evaluation", b), evaluated)
                except NasedgeError as exc:
                    no_pick(b, exc)
                    continue
                picks.append((b, result, scored, finalists, pick, pick_eval))
            if not picks:
                raise NasedgeError("no budget has a pick: "
                                   + "; ".join(f"{b:g} ms: {why}" for b, why in failed.items()))
        from nasedge.specialize.report import (ViewFailures, replacing_pick, write_combined, write_manifest,
                                               write_outputs)

        manifests = []
        # a bug rendering a report or plot: kept until the picks (and their manifests) replace the earlier pick
        failures: ViewFailures = []
        # written into a staging folder, they replace the earlier pick (its model files too) only once all are
        # written: a failed or interrupted export leaves that pick whole, and no model file of it outlives its manifest
        with replacing_pick(out) as staging:
            for b, result, scored, finalists, pick, pick_eval in picks:
                out_b, staged_b = (out / format_latency(b), staging / format_latency(b)) if multi else (out, staging)
                with stages(stage("export", b)) as note:
                    files, skipped, export_s = _export(supernet, pick_eval, spec.formats, staged_b)
                    note["detail"] = ", ".join(f"{p.name} {export_s[f]:.1f} s" for f, p in files.items()) + "".join(
                        f"; {f} skipped ({why})" for f, why in skipped.items())
                with stages(stage("manifest and report", b)) as note:
                    manifest = write_outputs(
                        staged_b, device=device, budget=b, fastest_predicted=fastest, slowest_predicted=slowest,
                        verified=verified, unverified_reason=unverified_reason, source=source,
                        supernet_path=supernet_path, digest=digest, accuracy_path=acc_path, result=result,
                        finalists=finalists, pick=pick, evaluation=pick_eval, files=files, skipped=skipped,
                        export_s=export_s, spec=spec, seed=int(cfg.seed), stages=stages, candidates=len(scored),
                        data=_evaluation_data(cfg.data, spec), failures=failures)
                    unwritten = {path.name for path, _ in failures if path.parent == staged_b}
                    note["detail"] = f"{out_b}/" + ", ".join(
                        n for n in ("manifest.json", "pareto.png", "report.md") if n not in unwritten)
                manifests.append(manifest)
            for manifest in manifests:
                manifest["timings_s"]["total"] = stages.total()
                write_manifest(staging / format_latency(manifest["budget_ms"]) if multi else staging, manifest)
            if multi:
                top = write_combined(staging, manifests, [p[1] for p in picks], [p[4] for p in picks],
                                     device=device.name, search=_search_comparison(results, pooled),
                                     timings={**stages.seconds, "total": stages.total()}, failed=failed,
                                     failures=failures)
        for manifest, (b, _, _, _, pick, pick_eval) in zip(manifests, picks):
            top1 = "top-1 not evaluated" if pick_eval.top1 is None else f"top-1 {pick_eval.top1:.2f} %"
            console.print(f"[bold]picked[/] {pick.arch.digest()}: {top1} (predicted "
                          f"{pick.predicted_top1:.2f} %), {_measured_words(pick)} (predicted "
                          f"{pick.predicted_ms:.3g} ms) under {b:g} ms on {device.name}; {stages.total():.1f} s in "
                          f"all", highlight=False, soft_wrap=True)
        if failures:  # a bug of nasedge: said, and raised, with the picks kept
            views = ", ".join(str(out / path.relative_to(staging)) for path, _ in failures)
            kept = "the picks are" if multi else "the pick is"
            without = f"; budgets {', '.join(f'{b:g}' for b in failed)} ms have no pick" if failed else ""
            console.print(f"{kept} in {out}, but {views} could not be written{without}", highlight=False,
                          soft_wrap=True, markup=False)
            raise failures[0][1]
        if failed:  # the picks of the other budgets are written; the run still did not do all it was asked
            raise NasedgeError(f"budget{'s' * (len(failed) > 1)} {', '.join(f'{b:g}' for b in failed)} ms without a "
                               f"pick (the others' picks are in {out}): " + "; ".join(failed.values()))
        return top if multi else manifests[0]


def _measured_words(pick: Finalist) -> str:
    if pick.measured_ms is None:
        return "unverified"
    return f"measured {pick.measured_ms:.3g} ms" + (" (noisy)" if pick.noisy else "")


def _predicted_range(space: Any, source: Any, budgets: Sequence[float]) -> tuple[float, float]:
    """The predicted latency of the fastest and the slowest subnet; fails when a budget is below the fastest."""
    import numpy as np

    from nasedge.search import check_budget

    fastest = check_budget(space, source.predict, min(budgets))
    slowest = float(np.asarray(source.predict([space.max_arch()]), dtype=float).reshape(-1)[0])
    return fastest, max(slowest, fastest)


def _pool(results: Sequence[Any]) -> list:
    """Every arch any search scored, once each, best predicted accuracy first."""
    seen: dict = {}
    for result in results:
        for c in result.history:
            if c.objective is not None and c.constraint is not None and c.arch not in seen:
                seen[c.arch] = c
    return sorted(seen.values(), key=lambda c: -c.objective)


def _under(candidates: Sequence[Any], budget: float) -> list:
    return [c for c in candidates if c.constraint <= budget]


def _search_comparison(results: dict[float, Any], pooled: Sequence[Any]) -> list[dict]:
    """Per budget whose search ended: the best predicted accuracy its own search found, what the largest such
    budget's search alone offers under it (one search serving every budget), and the pooled best (what is picked)."""
    largest = results[max(results)][0].history
    rows = []
    for b, (result, own) in results.items():
        alone = _under([c for c in largest if c.objective is not None and c.constraint is not None], b)
        best = _under(pooled, b)
        rows.append({"budget_ms": b, "own_search_best": own[0].objective if own else None,
                     "largest_budget_search_best": max((c.objective for c in alone), default=None),
                     "pooled_best": best[0].objective if best else None,
                     "own_search_evaluations": result.evaluations, "own_search_seconds": round(result.elapsed_s, 2)})
    return rows


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
                if isinstance(exc, ray_routing.DeviceUnreachable):
                    raise NasedgeError(f"{exc}; or specialize from measurements taken elsewhere with --measurements "
                                       f"FILE.csv") from None
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
            from nasedge.predict import predictor_config
            from nasedge.predict.profile import check_cv_folds

            pcfg = OmegaConf.to_container(cfg.predictor, resolve=True)
            predictor, predictor_options = predictor_config(pcfg)
            with progress_bar(console, f"measure {device.name}", "profile archs", spec.profile_archs) as update:
                source = lat.profile_source(
                    device, space, profiles_dir=pcfg.get("profiles_dir"), predictor=predictor,
                    predictor_options=predictor_options,
                    cv_folds=check_cv_folds(pcfg["cv_folds"]), num_archs=spec.profile_archs,
                    max_archs=spec.profile_max_archs, active=spec.profile_design == "active",
                    measurements=req.measurements, predictor_given=req.predictor_given,
                    ray_address=req.ray_address, measurements_dir=home.measurements_dir(),
                    progress=lambda done, total: update(done, total),
                    note=lambda why: console.print(f"measure {device.name}: {why}", markup=False),
                    check_writable=lambda measuring: home.check_profile_folders(
                        "predictor.profiles_dir", [pcfg.get("profiles_dir")] if pcfg.get("profiles_dir") else [], measuring))
        note["detail"] = source.description
    return source


def _search(space: Any, accuracy: Any, source: Any, budget: float, cfg: Any, stages: Stages,
            console: Any, name: str = "search") -> tuple[Any, list]:
    """The search's result and its feasible candidates, best predicted accuracy first."""
    from omegaconf import OmegaConf

    from nasedge.search import strategy_from_config

    with stages(name) as note:
        strategy = strategy_from_config(OmegaConf.to_container(cfg.search, resolve=True))
        with progress_bar(console, f"search {strategy.name}", total=strategy.config.max_evaluations) as update:
            def progress(p) -> None:
                update(p.evaluations, description="" if p.best_objective is None else f"best {p.best_objective:.2f} %")

            result = strategy.run(space, accuracy.predict, source.predict, budget, seed=int(cfg.seed), progress=progress)
        scored = sorted((c for c in result.history if c.feasible and c.objective is not None),
                        key=lambda c: -c.objective)
        if not scored:
            raise NasedgeError(f"the search found no arch under {budget:g} ms ({result.stop_reason})")
        reused = f" (and {result.reused_evaluations} scores taken from the study)" if result.reused_evaluations else ""
        note["detail"] = (f"{result.evaluations} accuracy-predictor calls{reused}, {result.constraint_evaluations} "
                          f"latency predictions; best predicted {scored[0].objective:.2f} % at {scored[0].constraint:.3g} ms"
                          + uncalibrated_accuracy_note([c.objective for c in scored]))
    return result, scored


def _verify(device: Any, scored: list, budget: float, top_k: int, ray_address: Optional[str], stages: Stages,
            console: Any, name: str = "verification", measured: Optional[dict] = None,
            journal: Optional[Path] = None) -> list[Finalist]:
    with stages(name) as note:
        with round_bars(console, f"measure {device.name}") as update:  # a bar per round: each total fixed
            finalists = verify(device, scored, budget, top_k, ray_address=ray_address, progress=update,
                               measured=measured, journal=journal)
        note["detail"] = f"on {device.name}, " + describe_measurements(finalists, budget)
    return finalists


def _evaluate(chosen: list[Finalist], supernet_path: Path, cfg: Any, spec: SpecializeConfig,
              ray_address: Optional[str], stages: Stages, console: Any, name: str = "evaluation",
              evaluated: Optional[dict] = None) -> tuple[Finalist, Any]:
    """Evaluate the true accuracy of ``chosen`` (recorded on each); the most accurate and its evaluation.

    ``evaluated`` (arch -> evaluation) holds evaluations already made (another budget's): not made again."""
    from nasedge.search.ray_evaluation import EvaluationFailed
    from nasedge.specialize.final_evaluation import evaluate_finalists

    evaluated = {} if evaluated is None else evaluated
    with stages(name) as note:
        todo = [f for f in chosen if f.arch not in evaluated]
        use_ray = spec.evaluation == "ray" or (spec.evaluation == "auto" and _ray_pays(ray_address, len(todo)))
        if todo:
            with progress_bar(console, "evaluate", "Ray tasks" if use_ray else "in process", len(todo)) as update:
                try:
                    new = evaluate_finalists([f.arch for f in todo], supernet_path=str(supernet_path),
                                             data=_evaluation_data(cfg.data, spec), test_images=spec.test_images,
                                             use_ray=use_ray, ray_address=ray_address,
                                             progress=lambda done, total: update(done))
                except EvaluationFailed as exc:  # those that finished serve the other budgets of this run
                    evaluated.update({todo[i].arch: e for i, e in exc.finished.items()})
                    raise NasedgeError(f"evaluating the finalists on Ray: {exc} ({len(exc.finished)} of {len(todo)} "
                                       f"evaluated before); rerun the same command to evaluate them again: the "
                                       f"finalists measured so far are kept (specialize.evaluation=local evaluates "
                                       f"them here)") from None
            evaluated.update({f.arch: e for f, e in zip(todo, new)})
        evals = [evaluated[f.arch] for f in chosen]
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


def _predicted_only(supernet: Any, ok: list[Finalist], reason: str, stages: Stages,
                    name: str = "evaluation") -> tuple[Finalist, Any]:
    """No evaluation data: the best predicted finalist within the budget, exported as extracted."""
    from nasedge.specialize.final_evaluation import unevaluated

    with stages(name) as note:
        pick = ok[0]
        note["detail"] = f"skipped, accuracy predicted only: {reason}"
    return pick, unevaluated(supernet, pick.arch, reason)


def supernet_and_predictor(supernet: Optional[str], accuracy_predictor: Optional[str],
                           cfg: Any) -> tuple[Path, Path]:
    """The supernet checkpoint (``supernet``: ``--supernet``, else ``cfg.checkpoint``, the ``supernet`` config group)
    and the accuracy predictor (``--accuracy-predictor``; else, for the configured supernet, the configured one; else
    ``accuracy_predictor.json`` beside the supernet) a run uses; ``cfg`` is read only without ``--supernet``.

    Checked without loading either (no torch, milliseconds: `nasedge specialize` checks its inputs with it): the
    predictor exists, and is for the supernet's space where both files say which."""
    from nasedge.predict.accuracy import check_accuracy_predictor_file
    from nasedge.supernet import checkpoint_space

    path = supernet or cfg.checkpoint
    if not path:
        raise NasedgeError("no supernet configured; pass --supernet PATH")
    path, space = Path(path), checkpoint_space(path)  # a missing file is said before its missing predictor
    acc_path = Path(accuracy_predictor) if accuracy_predictor else _accuracy_predictor_path(supernet, cfg, path)
    acc_space = check_accuracy_predictor_file(acc_path)
    if space is not None and acc_space is not None:
        _check_same_space(acc_path, acc_space, space)
    return path, acc_path


def _load_supernet(path: Path) -> tuple[Any, str]:
    from nasedge.supernet import file_digest, load_supernet

    return load_supernet(path), file_digest(path)


def _accuracy_predictor_path(override: Optional[str], cfg: Any, supernet_path: Path) -> Path:
    """``accuracy_predictor.json`` beside a ``--supernet`` checkpoint, else the configured one."""
    beside = supernet_path.parent / "accuracy_predictor.json"
    configured = None if override else cfg.get("accuracy_predictor")
    if configured:
        return Path(configured)
    if beside.is_file():
        return beside
    raise NasedgeError(f"no accuracy predictor for supernet {supernet_path}: put accuracy_predictor.json beside it "
                       f"or pass --accuracy-predictor PATH (supernet.accuracy_predictor=PATH in a configuration; fit "
                       f"one from `nasedge eval --out` results)")


def _check_same_space(path: Path, predictor_space: str, space: str) -> None:
    if predictor_space != space:
        raise NasedgeError(f"{path}: accuracy predictor is for space {predictor_space!r}, the supernet for {space!r}")


def _load_accuracy_predictor(path: Path, space: str) -> Any:
    """The predictor, checked against the loaded supernet's space too: not every file says its space up front (a
    published Once-for-All checkpoint's comes from its weights)."""
    from nasedge.predict.accuracy import load_accuracy_predictor

    predictor = load_accuracy_predictor(path)
    _check_same_space(path, predictor.space.name, space)
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
