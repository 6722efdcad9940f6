"""Cache the inner loop's tasks (untrimmed: seed 0 x 5 folds; HELP: 5 seeds) with every blend candidate but `flat`
fitted, so that variants of `flat` (and extra candidates) are re-blended in seconds by blend_variants.py.

    python experiments/latency_predictors/tried/blend_cache.py help-nb help-fb ct-fb ct-nb ctr-fb ctr-nb ctr-ofa lodo \\
        transfer ct-ofa       (into the working directory: cache_<bench>.pkl, 4-65 MB each; ~2 min on 2 cores)

The working folder must be outside the source tree; each cache is written whole (atomically) once its benchmark is
done. Bad input (an unknown benchmark, --shots) is one line, exit status 2, before the work.
"""
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # experiments/: expcli
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from expcli import outside_the_tree, plain_args, positive_int, run  # noqa: E402  (after the sys.path entry)

import nasedge.predict.meta as M  # noqa: E402
from benches import check_benches, tasks  # noqa: E402  (the benchmarks' datasets, targets and sources)
from nasedge.atomic import atomic_write_bytes  # noqa: E402
from nasedge.errors import NasedgeError  # noqa: E402
from nasedge.predict.benchmark import _meta_model, help_tasks, untrimmed_tasks  # noqa: E402

captured = {}
_choose_blend = M.choose_blend


def _spy(y, loo, **kw):  # the leave-one-out predictions of every candidate, as meta computed them
    captured['loo'] = loo
    return _choose_blend(y, loo, **kw)


M.choose_blend = _spy


def cache(bench, ds, targets, tasks_of, weights=None):
    models, out = {}, []
    for tg in targets:
        y = ds.column(tg)
        for t in tasks_of(tg):
            model = M.load_meta_model(weights).without((tg,)) if weights else _meta_model(ds, t, models)
            items, query = [ds.items[i] for i in t.measured], [ds.items[i] for i in t.query]
            ym = y[t.measured]
            p = M.MetaPredictor(ds.encoding, model=model)
            p.fit(items, ym)
            phi, phq = model.basis(ds.encoding, items), model.basis(ds.encoding, query)
            groups = M.variance_groups(model.onehot_width, model.feature_names)
            others = M._prior_free(ds.encoding, items, ym)
            flat_head = M.flat_adapt(groups, phi, ym, (ym / ym.mean()) ** 2)[0]
            out.append(dict(target=tg, seed=t.seed, ym=ym, heads=model.heads, yq=y[t.query], phi=phi, phq=phq.astype(np.float32),
                            groups=groups, loo=captured['loo'], qp={'prior': phq @ p.head, 'flat': phq @ flat_head,
                                                                    **{k: o._predict(query) for k, o in others.items()}}))
    atomic_write_bytes(Path(f'cache_{bench}.pkl'), pickle.dumps(out))  # never a cache cut short
    print(bench, len(out), 'tasks', flush=True)


SHOTS = 20  # untrimmed samples per task; `--shots=10` (sixteenth session) before the benchmarks for fewer


def main():
    global SHOTS
    given = plain_args(__doc__, "BENCH... [--shots=N]")
    args = [a for a in given if not a.startswith('--shots=')]
    for a in given:
        if a.startswith('--shots='):
            try:
                SHOTS = positive_int(a.split('=', 1)[1])
            except ValueError:
                raise NasedgeError(f"{a}: expected a number of samples of at least 1") from None
    check_benches(args)
    outside_the_tree("the working folder (where cache_<bench>.pkl go)", Path.cwd())
    for b in args:
        ds, todo = tasks(b)
        options = dict(todo)
        if b.startswith('help'):
            cache(b, ds, list(options), lambda tg: help_tasks(ds, tg, 10, 5))
        else:
            weights = options[todo[0][0]].get('options', {}).get('weights')  # transfer: the shipped prior
            cache(b, ds, list(options), lambda tg: untrimmed_tasks(ds, tg, SHOTS, 1, 5, options[tg].get('sources')),
                  weights=weights)


if __name__ == '__main__':
    run(main)
