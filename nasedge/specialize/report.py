"""What ``nasedge specialize`` leaves behind: manifest.json, pareto.png, report.md and search.json."""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nasedge.atomic import atomic_write_bytes, atomic_write_text, fsync_directory
from nasedge.specialize.verification import VERIFICATION_CSV, Finalist, verification_status


def _verification_words(device: str, pick: Finalist, verified: bool, unverified_reason: str) -> str:
    if not verified:
        return f"unverified: {unverified_reason}"
    words = f"measured on {device}: median {pick.measured_ms:.4g} ms over the measurement protocol"
    if pick.earlier_run:
        words += f" (by an earlier run, taken from {VERIFICATION_CSV})"
    if pick.noisy:
        words = (f"noisy: {words}, flagged noisy in each of {pick.measurements} measurements "
                 f"({pick.noisy_reason or 'no reason given'}); not verified")
    return words


def build_manifest(*, device: Any, budget: float, fastest_predicted: float, verified: bool,
                   unverified_reason: str, source: Any, supernet_path: Path, digest: str, accuracy_path: Path,
                   result: Any, finalists: list[Finalist], pick: Finalist, evaluation: Any, files: dict, skipped: dict,
                   export_s: dict, spec: Any, seed: int, stages: Any, slowest_predicted: float | None = None,
                   candidates: int | None = None, data: Any = None) -> dict[str, Any]:
    """Everything needed to trust, reproduce and deploy the pick, as one JSON-able dict.

    ``verified`` is whether the device can verify at all; the manifest's ``verified`` is ``True`` only for a
    pick measured cleanly, ``"noisy"`` for one still flagged noisy after re-measuring, ``False`` otherwise.
    ``data``: the evaluation data (a DataConfig), whose preprocessing feeds a pick evaluated on it."""
    from dataclasses import asdict

    from nasedge import __version__
    from nasedge.export.manifest import file_entries, input_spec

    details = {k: v for k, v in source.details.items() if k != "state"}
    measured = pick.measured_ms
    binds = None if slowest_predicted is None else bool(budget < slowest_predicted)
    return {
        "nasedge": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["nasedge", *sys.argv[1:]]) if Path(sys.argv[0]).name == "nasedge" else None,
        "device": {"name": device.name, "description": device.description, "where": device.location()},
        "budget_ms": budget,
        "verified": verification_status(pick) if verified else False,
        "verification": _verification_words(device.name, pick, verified, unverified_reason),
        "arch": pick.arch.to_dict(),
        "arch_digest": pick.arch.digest(),
        "latency_ms": {"predicted": pick.predicted_ms, "measured": measured,
                       "measured_p90": pick.measured_p90_ms, "noisy": pick.noisy,
                       "within_budget": pick.within_budget, "fastest_predicted": fastest_predicted,
                       **({} if slowest_predicted is None else {"slowest_predicted": slowest_predicted,
                                                                "budget_binds": binds})},
        "accuracy": {"predicted_top1": pick.predicted_top1, "measured_top1": evaluation.top1,
                     "test_images": evaluation.test_images, "recalibration_images": evaluation.recalibration_images,
                     "evaluated_on": evaluation.where, "predicted_only": evaluation.top1 is None},
        "latency_predictor": {"kind": source.kind, "description": source.description, **details},
        "accuracy_predictor": str(accuracy_path),
        "supernet": {"path": str(supernet_path), "sha256": digest, "space": result.space},
        "search": {"strategy": result.strategy, "seed": seed, "options": result.options,
                   "evaluations": result.evaluations, "latency_predictions": result.constraint_evaluations,
                   "proposals": result.proposals, "stop_reason": result.stop_reason,
                   "seconds": round(result.elapsed_s, 2),
                   **({} if candidates is None else {"candidates_under_budget": candidates})},
        "finalists": [f.record() for f in finalists],
        # as `nasedge export` writes them: recalibrated on the evaluation data, the pick is fed as it was evaluated
        "input": input_spec(pick.arch, None if evaluation.top1 is None else data,
                            to_record="specialize with --data of that data"),
        "files": file_entries(files),
        "skipped": skipped,
        "settings": asdict(spec),
        "timings_s": {**stages.seconds, **{f"export:{k}": v for k, v in export_s.items()}},
    }


OUTPUT_NAMES = ("manifest.json", "report.md", "pareto.png", "search.json")  # besides the model files
STAGING = ".new-pick"  # the folder inside --out that a run's outputs are written into before they replace the old


@contextmanager
def replacing_pick(out: Path, by_name: bool = True) -> Iterator[Path]:
    """A staging folder inside ``out`` for a new pick's outputs (model files, manifest, report, plot, search.json;
    budget folders too). When the block ends, they replace the earlier pick's as a whole; when it raises (an
    export failing, Ctrl-C), the earlier pick stays as it was and the staging folder goes.

    The earlier pick is what its manifest lists and, with ``by_name`` (``specialize``: ``--out`` is its folder),
    the files named as a pick's outputs; without it (``export`` into a folder of the user's), with a manifest of
    nasedge's only. What else ``out`` holds (verification.csv, the user's files) stays."""
    out = Path(out)
    check_pick_folder(out)
    staging = out / STAGING
    shutil.rmtree(staging, ignore_errors=True)  # a run killed before its swap (kill -9) left it
    staging.mkdir(parents=True)
    try:
        yield staging
        _swap(out, staging, by_name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _ours(manifest: Any) -> bool:
    """Whether a manifest's JSON is one nasedge wrote (its ``nasedge`` version field): only such a manifest's files
    are a pick's."""
    return isinstance(manifest, dict) and "nasedge" in manifest


def check_pick_folder(out: Path, flag: str = "--out") -> None:
    """Refuse ``out`` where a pick's outputs would destroy what is not a pick's: a ``manifest.json`` nasedge did not
    write (a pick's replaces it), or a folder where an output file goes (found before the work, not at the swap)."""
    from nasedge.errors import NasedgeError
    from nasedge.export import FORMATS

    out = Path(out)
    manifest = out / "manifest.json"
    if manifest.is_file():
        try:
            ours = _ours(json.loads(manifest.read_text()))
        except (OSError, ValueError):
            ours = False
        if not ours:
            raise NasedgeError(f"{flag} {out}: holds a manifest.json that nasedge did not write, which the pick's "
                               f"would replace; choose another folder or move that file away")
    for name in (*OUTPUT_NAMES, *(n for n, _ in FORMATS.values())):
        if (out / name).is_dir():
            raise NasedgeError(f"{flag} {out}: {out / name} is a folder where the pick's file of that name goes")


def _swap(out: Path, staging: Path, by_name: bool = True) -> None:
    """Move the staged files into ``out``, then remove the earlier pick's files that none of them replaced.

    A few renames, manifests last: an interruption within them is the only way to mix two picks."""
    old = _pick_files(out, by_name)
    new = sorted((p for p in staging.rglob("*") if p.is_file()),
                 key=lambda p: (p.name == "manifest.json", p.parent == staging))
    moved = [out / src.relative_to(staging) for src in new]
    for src, dst in zip(new, moved):
        dst.parent.mkdir(exist_ok=True)
        os.replace(src, dst)
        old.discard(dst)
    for path in old:
        path.unlink(missing_ok=True)
    for folder in {p.parent for p in old} - {out}:  # an earlier budget's folder, unless something else is in it
        try:
            folder.rmdir()
        except OSError:
            pass
    for folder in {out, *(dst.parent for dst in moved)}:  # make the renames durable
        fsync_directory(folder)


def _pick_files(out: Path, by_name: bool = True) -> set[Path]:
    """The files of the pick in ``out``: those its manifest lists (``{"name", "sha256"}``; a name alone in a
    ``specialize`` manifest of an earlier version); with ``by_name``, every output name, else those of a
    ``specialize`` pick where its manifest is there (its report, plot and search.json); in ``out`` and in each budget
    folder of a run over several budgets."""
    from nasedge.export import FORMATS

    def name(value: Any) -> str:
        return value["name"] if isinstance(value, dict) else value

    folders = {out}
    try:
        manifest = json.loads((out / "manifest.json").read_text())
        if not _ours(manifest):
            raise ValueError("not a manifest of nasedge's")
        listed = {out / name(v) for v in manifest.get("files", {}).values()}
        for pick in manifest.get("picks", []):
            folders.add(out / pick["dir"])
            listed.update(out / name(v) for v in pick["files"].values())
        specialized = "budget_ms" in manifest or "picks" in manifest   # its report, plot and search.json too
    except (OSError, ValueError, AttributeError, KeyError, TypeError):  # none, or not one of ours
        listed, specialized = set(), False
    names = set(OUTPUT_NAMES) if by_name or specialized else set()  # an export's manifest is always replaced
    if by_name:
        names.update(n for n, _ in FORMATS.values())
    files = {folder / n for folder in folders for n in names} | listed
    # a manifest is a file like any other: what it names outside out, or the verification journal, stays
    return {p for p in files if p.is_file() and p.resolve().is_relative_to(out.resolve())
            and p.name != VERIFICATION_CSV}


def write_manifest(out: Path, manifest: dict[str, Any]) -> Path:
    path = Path(out) / "manifest.json"
    atomic_write_text(path, json.dumps(manifest, indent=1) + "\n")
    return path


def plot_pareto(result: Any, finalists: list[Finalist], pick: Finalist, budget: float, device: str) -> bytes:
    """PNG: predicted accuracy against predicted latency of every arch the search scored, its Pareto front,
    the budget, the measured finalists and the pick."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from nasedge.search import pareto_front

    scored = [c for c in result.history if c.objective is not None]
    lat = np.array([c.constraint for c in scored])
    acc = np.array([c.objective for c in scored])
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.scatter(lat, acc, s=6, c="0.65", label=f"searched ({len(scored)} archs, predicted)")
    if len(scored):
        front = pareto_front(acc, lat)
        ax.plot(lat[front], acc[front], "-", c="tab:blue", lw=1.2, label="Pareto front (predicted)")
    ax.axvline(budget, c="tab:red", ls="--", lw=1, label=f"budget {budget:g} ms")
    measured = [f for f in finalists if f.measured_ms is not None]
    if measured:
        ax.scatter([f.measured_ms for f in measured], [f.predicted_top1 for f in measured], marker="x",
                   c="tab:orange", s=40, label="finalists, measured latency")
    ax.scatter([pick.predicted_ms], [pick.predicted_top1], marker="*", s=200, c="tab:green", edgecolors="k",
               label="pick (predicted)", zorder=5)
    if pick.top1 is not None:
        x = pick.measured_ms if pick.measured_ms is not None else pick.predicted_ms
        ax.scatter([x], [pick.top1], marker="D", s=50, c="tab:green", edgecolors="k", zorder=5,
                   label="pick (measured accuracy" + (", latency)" if pick.measured_ms is not None else ")"))
    return _png(fig, ax, f"latency on {device} (ms)", "top-1 (%)",
                f"{result.space}, {result.strategy}: accuracy vs latency under {budget:g} ms")


def _png(fig: Any, ax: Any, xlabel: str, ylabel: str, title: str) -> bytes:
    """Label, grid and legend the axes; the figure as PNG bytes (closed)."""
    import io

    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def uncalibrated_accuracy_note(predicted: list[float]) -> str:
    """A warning (or "") when predicted top-1 accuracies leave 0-100 %: the accuracy predictor was not fitted
    to this supernet (e.g. random or another network's weights), so its figures rank archs at best."""
    low, high = min(predicted), max(predicted)
    if 0.0 <= low and high <= 100.0:
        return ""
    return (f"; warning: predicted accuracies span {low:.1f}-{high:.1f} %, outside 0-100 %: the accuracy "
            f"predictor is not calibrated to this supernet (fit one with nasedge accuracy sample, then "
            f"nasedge accuracy fit)")


def render_report(m: dict[str, Any]) -> str:
    """report.md from a manifest."""
    lat, acc = m["latency_ms"], m["accuracy"]
    measured = "not measured" if lat["measured"] is None else f"{lat['measured']:.4g} ms"
    lines = [
        f"# {m['supernet']['space']} specialized for {m['device']['name']} under {m['budget_ms']:g} ms", "",
        f"- **Device**: {m['device']['name']} ({m['device']['description']}; {m['device']['where']})",
        f"- **Result**: {'verified on the device' if m['verified'] is True else m['verification']}",
        f"- **Arch** `{m['arch_digest']}`: `{json.dumps(m['arch'], separators=(',', ':'))}`", "",
        "| | predicted | measured |", "|---|---|---|",
        f"| latency | {lat['predicted']:.4g} ms | {measured} |",
        f"| top-1 | {acc['predicted_top1']:.2f} % | " + (
            f"{acc['measured_top1']:.2f} % ({acc['test_images']} test images, BN recalibrated on "
            f"{acc['recalibration_images']}) |" if acc["measured_top1"] is not None else
            f"not evaluated: **accuracy is predicted only** ({acc['evaluated_on'].split(': ', 1)[-1]}) |"), "",
        *([] if acc["measured_top1"] is not None else [
            "**Before deployment**, recalibrate the exported subnet's BatchNorm statistics on a few hundred training "
            "images of its task: it carries the supernet's, which were set for its largest subnet (no data was "
            "given here to recalibrate on).", ""]),
        *_uncalibrated_words(m),
        f"**Latency predictor.** {m['latency_predictor']['description']}.", "",
        f"**Search.** {m['search']['strategy']} (seed {m['search']['seed']}): {m['search']['evaluations']} "
        f"accuracy-predictor calls, {m['search']['latency_predictions']} latency predictions, "
        f"{m['search']['seconds']:.1f} s; stopped on {m['search']['stop_reason']}. The fastest subnet is predicted "
        f"at {lat['fastest_predicted']:.3g} ms.{_binding_words(m)}", "",
        "**Finalists** (best predicted accuracy under the budget):", "",
        "| arch | predicted top-1 | predicted ms | measured ms | within budget | top-1 |", "|---|---|---|---|---|---|",
    ]
    for f in m["finalists"]:
        ms = "-" if f["measured_ms"] is None else f"{f['measured_ms']:.4g}" + (" (noisy)" if f["noisy"] else "") + (
            " (earlier run)" if f.get("earlier_run") else "")
        ok = "-" if f["within_budget"] is None else ("yes" if f["within_budget"] else "no")
        top1 = f"{f['top1']:.2f}" if f.get("top1") is not None else "-"
        pick = " **pick**" if f["arch_digest"] == m["arch_digest"] else ""
        lines.append(f"| `{f['arch_digest']}`{pick} | {f['predicted_top1']:.2f} | {f['predicted_ms']:.4g} | {ms} | "
                     f"{ok} | {top1} |")
    files = ", ".join(f"`{f['name']}`" for f in m["files"].values())
    skipped = "".join(f"; {fmt} skipped: {why}" for fmt, why in m["skipped"].items())
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in m["timings_s"].items())
    lines += ["", f"**Files.** {files}{skipped}; `manifest.json`, `pareto.png`, `search.json`.", "",
              f"**Supernet.** `{m['supernet']['path']}` (sha256 `{m['supernet']['sha256'][:16]}...`).", "",
              f"**Time.** {timings}.", "", "![accuracy against latency](pareto.png)", ""]
    return "\n".join(lines)


def _uncalibrated_words(m: dict[str, Any]) -> list[str]:
    """The search line's warning about predicted accuracies outside 0-100 %, as a report paragraph."""
    predicted = [m["accuracy"]["predicted_top1"], *(f["predicted_top1"] for f in m["finalists"])]
    note = uncalibrated_accuracy_note(predicted)
    return [f"**Warning.** {note.removeprefix('; warning: ')}.", ""] if note else []


CAPS = ("evaluation cap", "proposal cap")  # SearchResult.stop_reason of a search its caps cut short


def unbound_pick_words(scored: int, stop_reason: str) -> str:
    """What the pick is where the budget does not bind: the most accurate subnet, as far as the search went.
    ``scored``: the subnets the pick is chosen among (with several budgets, those every budget's search scored)."""
    if stop_reason in CAPS:  # a longer search may find a more accurate one (max_evaluations 1 picks the first)
        return (f"the pick is the most accurate of the {scored} subnet{'s' * (scored != 1)} scored (the search "
                f"stopped at its {stop_reason}), not necessarily the most accurate subnet")
    return "the pick is simply the most accurate subnet"


def _binding_words(m: dict[str, Any]) -> str:
    lat = m["latency_ms"]
    if lat.get("budget_binds") is not False:
        return ""
    search = m["search"]
    scored = search.get("candidates_under_budget", search["evaluations"])  # what the pick was chosen among
    return (f" The slowest is predicted at {lat['slowest_predicted']:.3g} ms: the budget does not bind, so "
            f"{unbound_pick_words(scored, search['stop_reason'])}.")


ViewFailures = list[tuple[Path, Exception]]  # (the view's path, what rendering it raised)


def _write_views(out: Path, views: dict[str, Callable[[], bytes | str]], failures: ViewFailures | None) -> None:
    """Write each view of a manifest (``name -> render()``: report.md, pareto.png) into ``out``.

    With ``failures``, an error rendering one (a bug: they only format what the manifest holds) is appended to it,
    not raised: the caller keeps the picks the manifest describes (minutes of search, measuring and export),
    then raises it."""
    for name, render in views.items():
        try:
            content = render()
        except Exception as exc:  # any bug: re-raised by the caller, once the picks are kept
            if failures is None:
                raise
            failures.append((out / name, exc))
            continue
        (atomic_write_bytes if isinstance(content, bytes) else atomic_write_text)(out / name, content)


def write_outputs(out: Path, failures: ViewFailures | None = None, **kw: Any) -> dict[str, Any]:
    """Write search.json, manifest.json, pareto.png and report.md into ``out``; returns the manifest.
    ``failures``: see :func:`_write_views` (the manifest is written before the views it renders)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = build_manifest(**kw)
    kw["result"].save(out / "search.json")
    write_manifest(out, manifest)
    _write_views(out, {
        "pareto.png": lambda: plot_pareto(kw["result"], kw["finalists"], kw["pick"], kw["budget"], kw["device"].name),
        "report.md": lambda: render_report(manifest)}, failures)
    return manifest


def plot_budgets(results: list[Any], picks: list[Finalist], budgets: list[float], device: str) -> bytes:
    """PNG: every arch the searches scored (predicted accuracy against predicted latency), their Pareto front, one
    budget line per budget and each budget's pick (predicted, and measured where it was)."""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from nasedge.search import pareto_front

    seen: dict = {}
    for result in results:
        for c in result.history:
            if c.objective is not None and c.constraint is not None:
                seen.setdefault(c.arch, c)
    lat = np.array([c.constraint for c in seen.values()])
    acc = np.array([c.objective for c in seen.values()])
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.scatter(lat, acc, s=6, c="0.65", label=f"searched ({len(seen)} archs, predicted)")
    if len(seen):
        front = pareto_front(acc, lat)
        ax.plot(lat[front], acc[front], "-", c="tab:blue", lw=1.2, label="Pareto front (predicted)")
    colors = plt.get_cmap("tab10")
    for i, (budget, pick) in enumerate(zip(budgets, picks)):
        color = colors(3 + i % 7)
        ax.axvline(budget, c=color, ls="--", lw=1, label=f"budget {budget:g} ms")
        ax.scatter([pick.predicted_ms], [pick.predicted_top1], marker="*", s=200, color=color, edgecolors="k",
                   zorder=5)
        if pick.measured_ms is not None:
            ax.scatter([pick.measured_ms], [pick.predicted_top1], marker="x", s=50, color=color, zorder=5)
    ax.scatter([], [], marker="*", s=120, c="w", edgecolors="k", label="picks (predicted latency)")
    if any(p.measured_ms is not None for p in picks):
        ax.scatter([], [], marker="x", s=40, c="k", label="picks (measured latency)")
    return _png(fig, ax, f"latency on {device} (ms)", "predicted top-1 (%)",
                f"{results[0].space}, {results[0].strategy}: accuracy vs latency, {len(budgets)} budgets")


def combined_manifest(manifests: list[dict[str, Any]], *, search: list[dict], timings: dict,
                      failed: dict[float, str] | None = None) -> dict[str, Any]:
    """The top-level manifest of a run over several budgets: what they share and one entry per pick (its folder
    holds the pick's own manifest); ``failed``: the budgets without a pick, and why."""
    first = manifests[0]
    picks = []
    for m in manifests:
        lat, acc = m["latency_ms"], m["accuracy"]
        picks.append({"budget_ms": m["budget_ms"], "dir": f"{m['budget_ms']:g}ms", "arch_digest": m["arch_digest"],
                      "arch": m["arch"], "verified": m["verified"], "verification": m["verification"],
                      "latency_ms": {k: lat[k] for k in ("predicted", "measured", "noisy", "within_budget")},
                      "accuracy": {k: acc[k] for k in ("predicted_top1", "measured_top1")},
                      "files": {fmt: {**f, "name": f"{m['budget_ms']:g}ms/{f['name']}"}
                                for fmt, f in m["files"].items()}})
    return {"nasedge": first["nasedge"], "created": first["created"], "command": first["command"],
            "device": first["device"], "budgets_ms": [m["budget_ms"] for m in manifests],
            "predicted_range_ms": [first["latency_ms"]["fastest_predicted"],
                                   first["latency_ms"].get("slowest_predicted")],
            "picks": picks, "failed": [{"budget_ms": b, "reason": why} for b, why in (failed or {}).items()],
            "latency_predictor": first["latency_predictor"],
            "accuracy_predictor": first["accuracy_predictor"], "supernet": first["supernet"],
            "search": {"strategy": first["search"]["strategy"], "seed": first["search"]["seed"],
                       "options": first["search"]["options"], "per_budget": search,
                       "pick_rule": "the best predicted accuracy any of the searches scored under the budget"},
            "settings": first["settings"], "timings_s": timings}


def render_combined_report(m: dict[str, Any]) -> str:
    """report.md of a run over several budgets: one row per pick."""
    lo, hi = m["predicted_range_ms"]  # hi: None where the manifests did not record the slowest subnet
    span = f"{lo:.3g}-{hi:.3g} ms" if hi is not None else f"from {lo:.3g} ms"
    lines = [f"# {m['supernet']['space']} specialized for {m['device']['name']} under "
             f"{', '.join(f'{b:g}' for b in m['budgets_ms'])} ms", "",
             f"- **Device**: {m['device']['name']} ({m['device']['description']}; {m['device']['where']})",
             f"- **Predicted latency range** of the space's subnets: {span}", "",
             "| budget | pick | result | predicted ms | measured ms | predicted top-1 | top-1 | folder |",
             "|---|---|---|---|---|---|---|---|"]
    for p in m["picks"]:
        lat, acc = p["latency_ms"], p["accuracy"]
        ms = "-" if lat["measured"] is None else f"{lat['measured']:.4g}" + (" (noisy)" if lat["noisy"] else "")
        result = {True: "verified", "noisy": "noisy (not verified)"}.get(p["verified"], "unverified")
        # no evaluation data of the supernet's classes: the pick's own report.md says why and what to do first
        top1 = "not evaluated (predicted only)" if acc["measured_top1"] is None else f"{acc['measured_top1']:.2f} %"
        lines.append(f"| {p['budget_ms']:g} ms | `{p['arch_digest']}` | {result} | {lat['predicted']:.4g} | {ms} | "
                     f"{acc['predicted_top1']:.2f} % | {top1} | `{p['dir']}/` |")
    for f in m.get("failed", []):
        lines.append(f"| {f['budget_ms']:g} ms | - | no pick: {f['reason']} | - | - | - | - | - |")
    lines += ["", f"**Latency predictor.** {m['latency_predictor']['description']}.", "",
              f"**Search.** {m['search']['strategy']} (seed {m['search']['seed']}), one search per budget on the same "
              f"profile and accuracy predictor; each pick is {m['search']['pick_rule']}. Best predicted top-1 per "
              "budget: its own search, the largest budget's search alone, all searches pooled (the pick):", "",
              "| budget | own search | largest budget's search | pooled |", "|---|---|---|---|"]
    fmt = lambda v: "-" if v is None else f"{v:.2f} %"  # noqa: E731
    for row in m["search"]["per_budget"]:
        lines.append(f"| {row['budget_ms']:g} ms | {fmt(row['own_search_best'])} | "
                     f"{fmt(row['largest_budget_search_best'])} | {fmt(row['pooled_best'])} |")
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in m["timings_s"].items() if k != "total")
    lines += ["", f"**Time.** {m['timings_s']['total']:.1f} s in all: {timings}.", "",
              "![accuracy against latency, every budget](pareto.png)", ""]
    return "\n".join(lines)


def write_combined(out: Path, manifests: list[dict[str, Any]], results: list[Any], picks: list[Finalist], *,
                   device: str, search: list[dict], timings: dict, failed: dict[float, str] | None = None,
                   failures: ViewFailures | None = None) -> dict[str, Any]:
    """Write the top-level manifest.json, report.md and pareto.png of a run over several budgets.
    ``failures``: see :func:`_write_views` (the manifest is written before the views it renders)."""
    out = Path(out)
    manifest = combined_manifest(manifests, search=search, timings=timings, failed=failed)
    write_manifest(out, manifest)
    _write_views(out, {"pareto.png": lambda: plot_budgets(results, picks, manifest["budgets_ms"], device),
                       "report.md": lambda: render_combined_report(manifest)}, failures)
    return manifest
