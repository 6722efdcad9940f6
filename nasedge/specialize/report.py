"""What ``nasedge specialize`` leaves behind: manifest.json, pareto.png, report.md and search.json."""

from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any

from nasedge.atomic import atomic_write_bytes, atomic_write_text
from nasedge.specialize.verification import Finalist


def build_manifest(*, device: Any, budget: float, fastest_predicted: float, verified: bool,
                   unverified_reason: str, source: Any, supernet_path: Path, digest: str, accuracy_path: Path,
                   result: Any, finalists: list[Finalist], pick: Finalist, evaluation: Any, files: dict, skipped: dict,
                   export_s: dict, spec: Any, seed: int, stages: Any) -> dict[str, Any]:
    """Everything needed to trust, reproduce and deploy the pick, as one JSON-able dict."""
    from dataclasses import asdict

    from nasedge import __version__

    details = {k: v for k, v in source.details.items() if k != "state"}
    measured = pick.measured_ms
    return {
        "nasedge": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["nasedge", *sys.argv[1:]]) if Path(sys.argv[0]).name == "nasedge" else None,
        "device": {"name": device.name, "description": device.description, "where": device.location()},
        "budget_ms": budget,
        "verified": verified,
        "verification": (f"measured on {device.name}: median {measured:.4g} ms over the measurement protocol"
                         if verified else f"unverified: {unverified_reason}"),
        "arch": pick.arch.to_dict(),
        "arch_digest": pick.arch.digest(),
        "latency_ms": {"predicted": pick.predicted_ms, "measured": measured,
                       "measured_p90": pick.measured_p90_ms, "noisy": pick.noisy,
                       "within_budget": pick.within_budget, "fastest_predicted": fastest_predicted},
        "accuracy": {"predicted_top1": pick.predicted_top1, "measured_top1": evaluation.top1,
                     "test_images": evaluation.test_images, "recalibration_images": evaluation.recalibration_images,
                     "evaluated_on": evaluation.where, "predicted_only": evaluation.top1 is None},
        "latency_predictor": {"kind": source.kind, "description": source.description, **details},
        "accuracy_predictor": str(accuracy_path),
        "supernet": {"path": str(supernet_path), "sha256": digest, "space": result.space},
        "search": {"strategy": result.strategy, "seed": seed, "options": result.options,
                   "evaluations": result.evaluations, "latency_predictions": result.constraint_evaluations,
                   "proposals": result.proposals, "stop_reason": result.stop_reason,
                   "seconds": round(result.elapsed_s, 2)},
        "finalists": [f.record() for f in finalists],
        "files": {fmt: p.name for fmt, p in files.items()},
        "skipped": skipped,
        "settings": asdict(spec),
        "timings_s": {**stages.seconds, **{f"export:{k}": v for k, v in export_s.items()}},
    }


def write_manifest(out: Path, manifest: dict[str, Any]) -> Path:
    path = Path(out) / "manifest.json"
    atomic_write_text(path, json.dumps(manifest, indent=1) + "\n")
    return path


def plot_pareto(result: Any, finalists: list[Finalist], pick: Finalist, budget: float, device: str) -> bytes:
    """PNG: predicted accuracy against predicted latency of every arch the search scored, its Pareto front,
    the budget, the measured finalists and the pick."""
    import io

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
    ax.set_xlabel(f"latency on {device} (ms)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(f"{result.space}, {result.strategy}: accuracy vs latency under {budget:g} ms", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def render_report(m: dict[str, Any]) -> str:
    """report.md from a manifest."""
    lat, acc = m["latency_ms"], m["accuracy"]
    measured = "not measured" if lat["measured"] is None else f"{lat['measured']:.4g} ms"
    lines = [
        f"# {m['supernet']['space']} specialized for {m['device']['name']} under {m['budget_ms']:g} ms", "",
        f"- **Device**: {m['device']['name']} ({m['device']['description']}; {m['device']['where']})",
        f"- **Result**: {'verified on the device' if m['verified'] else m['verification']}",
        f"- **Arch** `{m['arch_digest']}`: `{json.dumps(m['arch'], separators=(',', ':'))}`", "",
        "| | predicted | measured |", "|---|---|---|",
        f"| latency | {lat['predicted']:.4g} ms | {measured} |",
        f"| top-1 | {acc['predicted_top1']:.2f} % | " + (
            f"{acc['measured_top1']:.2f} % ({acc['test_images']} test images, BN recalibrated on "
            f"{acc['recalibration_images']}) |" if acc["measured_top1"] is not None else
            f"not evaluated: **accuracy is predicted only** ({acc['evaluated_on'].split(': ', 1)[-1]}) |"), "",
        f"**Latency predictor.** {m['latency_predictor']['description']}.", "",
        f"**Search.** {m['search']['strategy']} (seed {m['search']['seed']}): {m['search']['evaluations']} "
        f"accuracy-predictor calls, {m['search']['latency_predictions']} latency predictions, "
        f"{m['search']['seconds']:.1f} s; stopped on {m['search']['stop_reason']}. The fastest subnet is predicted "
        f"at {lat['fastest_predicted']:.3g} ms.", "",
        "**Finalists** (best predicted accuracy under the budget):", "",
        "| arch | predicted top-1 | predicted ms | measured ms | within budget | top-1 |", "|---|---|---|---|---|---|",
    ]
    for f in m["finalists"]:
        ms = "-" if f["measured_ms"] is None else f"{f['measured_ms']:.4g}" + (" (noisy)" if f["noisy"] else "")
        ok = "-" if f["within_budget"] is None else ("yes" if f["within_budget"] else "no")
        top1 = f"{f['top1']:.2f}" if f.get("top1") is not None else "-"
        pick = " **pick**" if f["arch_digest"] == m["arch_digest"] else ""
        lines.append(f"| `{f['arch_digest']}`{pick} | {f['predicted_top1']:.2f} | {f['predicted_ms']:.4g} | {ms} | "
                     f"{ok} | {top1} |")
    files = ", ".join(f"`{name}`" for name in m["files"].values())
    skipped = "".join(f"; {fmt} skipped: {why}" for fmt, why in m["skipped"].items())
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in m["timings_s"].items())
    lines += ["", f"**Files.** {files}{skipped}; `manifest.json`, `pareto.png`, `search.json`.", "",
              f"**Supernet.** `{m['supernet']['path']}` (sha256 `{m['supernet']['sha256'][:16]}...`).", "",
              f"**Time.** {timings}.", "", "![accuracy against latency](pareto.png)", ""]
    return "\n".join(lines)


def write_outputs(out: Path, **kw: Any) -> dict[str, Any]:
    """Write manifest.json, search.json, pareto.png and report.md into ``out``; returns the manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = build_manifest(**kw)
    kw["result"].save(out / "search.json")
    atomic_write_bytes(out / "pareto.png", plot_pareto(kw["result"], kw["finalists"], kw["pick"], kw["budget"],
                                                      kw["device"].name))
    atomic_write_text(out / "report.md", render_report(manifest))
    write_manifest(out, manifest)
    return manifest
