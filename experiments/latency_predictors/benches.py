"""The benchmarks of the inner loops of issue 20 by their short names, the one place that says which dataset, which
targets and which source devices each uses (the same as run.py's experiments):

- ``help-nb``, ``help-fb``: HELP's protocol on its test devices (10 samples);
- ``ct-fb``, ``ct-nb``, ``ct-ofa``: cross-type, the GPUs as sources, the other devices as targets (on OFA our CPU
  devices); ``ctr-fb``, ``ctr-nb``, ``ctr-ofa``: the reverse;
- ``lodo``: every OFA device in turn, the others as sources; ``transfer``: the shipped OFA prior on the CIFAR space.
"""

from __future__ import annotations

import os
from pathlib import Path

from run import GPU_PREFIXES

from nasedge.errors import unknown_name
from nasedge.predict import list_predictors
from nasedge.predict.benchmark import BASELINES, HELP_SPLITS
from nasedge.predict.dataset import LatencyDataset, load_dataset
from nasedge.resources import shipped_path

ROOT = Path(__file__).resolve().parents[2]
HELP_DATA = Path(os.environ.get("NASEDGE_DATASETS", ROOT.parent / "shared" / "datasets")) / "latency" / "help"
OURS = str(ROOT / "latency_predictors" / "data" / "ofa_mbv3_w1.2")
SPACES = {"fb": "fbnet", "nb": "nasbench201"}
BENCHES = ("help-nb", "help-fb", "ct-fb", "ct-nb", "ct-ofa", "ctr-fb", "ctr-nb", "ctr-ofa", "lodo", "transfer")


def tasks(bench: str) -> tuple[LatencyDataset, list[tuple[str, dict]]]:
    """``(dataset, [(target, options of nasedge.predict.benchmark.evaluate)])``: ``protocol`` and ``shots`` where
    they are HELP's, ``sources`` where not every other device is one, ``options`` (the stored prior) for transfer."""
    if bench in ("help-nb", "help-fb"):
        ds = load_dataset(str(HELP_DATA / SPACES[bench[-2:]]), None)
        return ds, [(t, {"protocol": "help", "shots": 10}) for t in HELP_SPLITS[ds.encoding.name]["test"]]
    if bench == "transfer":
        ds = load_dataset(str(ROOT / "latency_predictors" / "data" / "ofa_mbv3_cifar"), None)
        weights = str(shipped_path("latency_predictors") / "meta" / f"{ds.encoding.family}.npz")
        return ds, [(t, {"options": {"weights": weights}}) for t in ds.devices]
    kind, _, space = bench.partition("-")
    if bench == "lodo" or (kind in ("ct", "ctr") and space in (*SPACES, "ofa")):
        ds = (load_dataset(str(HELP_DATA / SPACES[space]), None) if space in SPACES
              else load_dataset([str(HELP_DATA / "ofa"), OURS], None))
        if bench == "lodo":
            return ds, [(t, {}) for t in ds.devices]
        gpus = [d for d in ds.devices if d.startswith(GPU_PREFIXES)]
        others = [d for d in ds.devices if d not in gpus]
        sources, targets = (gpus, others) if kind == "ct" else (others, gpus)
        return ds, [(t, {"sources": sources}) for t in targets]
    raise unknown_name("benchmark", bench, BENCHES)


def check_benches(names: list[str]) -> list[str]:
    """``names`` where each is a benchmark of :data:`BENCHES`, else a one-line error (before a dataset loads)."""
    for name in names:
        if name not in BENCHES:
            raise unknown_name("benchmark", name, BENCHES)
    return names


def check_predictors(names: list[str]) -> list[str]:
    """``names`` where each is a predictor ``evaluate`` takes (a registered one or a baseline), else a one-line
    error before the work: an unknown name found at its turn came after the others' minutes."""
    known = [*list_predictors(), *BASELINES]
    for name in names:
        if name not in known:
            raise unknown_name("latency predictor", name, known)
    return names
