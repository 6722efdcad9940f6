"""Cut the small latency datasets shipped for tests out of the HELP benchmark.

    python experiments/latency_predictors/make_samples.py --help-dir ../shared/datasets/latency/help

Writes latency_predictors/data/help_<space>_sample/ (archs.jsonl, latency_ms.csv, reference_archs.json):
the reference archs, the first archs of HELP's meta-training pool and the first of its query range,
with every device column, in the directory format of DESIGN.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from nasedge.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[2]

# space -> (pool start of HELP's query range, archs taken from each range)
SAMPLES = {"ofa": (4000, 150), "nasbench201": (900, 150)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--help-dir", required=True, help="the HELP benchmark folder (ofa/, fbnet/, nasbench201/)")
    ap.add_argument("--out", default=str(ROOT / "latency_predictors" / "data"))
    args = ap.parse_args(argv)
    for space, (query_start, n) in SAMPLES.items():
        src = Path(args.help_dir) / space
        refs = json.loads((src / "reference_archs.json").read_text())
        keep = set(range(n)) | set(range(query_start, query_start + n)) | set(refs)
        lines = [ln for ln in (src / "archs.jsonl").read_text().splitlines()
                 if ln.strip() and json.loads(ln)["arch_id"] in keep]
        with (src / "latency_ms.csv").open(newline="") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], [r for r in rows[1:] if int(r[0]) in keep]
        out = Path(args.out) / f"help_{space}_sample"
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "archs.jsonl", "\n".join(lines) + "\n")
        atomic_write_text(out / "latency_ms.csv", "\n".join(",".join(r) for r in [header, *body]) + "\n")
        atomic_write_text(out / "reference_archs.json", json.dumps(refs) + "\n")
        print(f"{out}: {len(lines)} archs x {len(header) - 1} devices")
    return 0


if __name__ == "__main__":
    from nasedge.errors import NasedgeError

    try:
        sys.exit(main())
    except NasedgeError as exc:
        sys.exit(f"error: {exc}")
