"""What `meta`'s blend sees on one device split, fold by fold: each candidate's leave-one-out error and the
correlation of its leave-one-out predictions with the samples (all the blend can go by), beside its Spearman on the
query archs (what it should have gone by), with the weights the blend chose.

    python experiments/latency_predictors/tried/blend_decision.py fbnet titanx_32 \\
        gold_6226,gold_6240,silver_4114,silver_4210r 10      (space, target, sources, shots; seed 0 x 5 folds)
"""
import sys
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))  # expcli
from expcli import DATASETS, plain_args, positive_int, run  # noqa: E402  (after the sys.path entry)

from nasedge.errors import NasedgeError, unknown_name  # noqa: E402
from nasedge.predict import meta as M  # noqa: E402
from nasedge.predict.benchmark import _meta_model, untrimmed_tasks  # noqa: E402
from nasedge.predict.dataset import load_dataset  # noqa: E402

HELP = DATASETS / "latency" / "help"


def main(space: str, target: str, sources: list[str], shots: int) -> None:
    if space not in ("fbnet", "nasbench201"):
        raise unknown_name("space", space, ["fbnet", "nasbench201"])
    ds = load_dataset(HELP / space)
    for device in (target, *sources):
        if device not in ds.devices:
            raise unknown_name("device", device, ds.devices)
    y = ds.column(target)
    seen: dict = {}
    choose = M.choose_blend

    def recording(samples, loo, **kw):  # the candidates' leave-one-out predictions, as the blend gets them
        seen.update(y=samples, loo=loo)
        return choose(samples, loo, **kw)

    M.choose_blend = recording
    cache: dict = {}
    for task in untrimmed_tasks(ds, target, shots, 1, 5, sources):
        model = _meta_model(ds, task, cache)
        p = M.MetaPredictor(ds.encoding, model=model)
        p.fit([ds.items[i] for i in task.measured], y[task.measured])
        query = [ds.items[i] for i in task.query]
        phi = model.basis(ds.encoding, query)
        rank = {"prior": spearmanr(phi @ p.head, y[task.query])[0]}
        rank.update({k: spearmanr(o.predict(query), y[task.query])[0] for k, o in p.others.items()})
        if p.flat_head is not None:
            rank["flat"] = spearmanr(phi @ p.flat_head, y[task.query])[0]
        print(f"fold {task.fold}: meta {spearmanr(p.predict(query), y[task.query])[0]:.3f}; weights "
              + ", ".join(f"{k} {w:.2f}" for k, w in p.weights.items()))
        for k, loo in seen["loo"].items():
            err = np.mean(np.minimum(np.abs(loo - seen["y"]) / seen["y"], M.LOO_CLIP))
            query_rank = f"{rank[k]:.3f}" if k in rank else "(no weight)"
            print(f"  {k:9s} leave-one-out error {100 * err:4.1f} %, r {pearsonr(loo, seen['y'])[0]:.2f}; "
                  f"query Spearman {query_rank}")


def parse():
    space, target, sources, shots = plain_args(__doc__, "SPACE TARGET SOURCES SHOTS", 4, 4)
    try:
        return space, target, sources.split(","), positive_int(shots)
    except ValueError:
        raise NasedgeError(f"SHOTS {shots!r}: expected an integer of at least 1") from None


if __name__ == "__main__":
    run(lambda: main(*parse()))
