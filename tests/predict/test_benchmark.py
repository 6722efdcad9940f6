import numpy as np
import pytest

from nasedge.errors import NasedgeError
from nasedge.predict.benchmark import arch_folds, evaluate, help_tasks, nearest_device, run_task, untrimmed_tasks


def test_help_tasks_follow_the_protocol(ofa_sample):
    ds = ofa_sample
    tasks = help_tasks(ds, "titan_rtx_64", shots=10, seeds=3)
    assert len(tasks) == 3
    y = ds.column("titan_rtx_64")
    for t in tasks:
        assert len(t.measured) == 20 and list(t.measured[:10]) == list(ds.reference)
        assert np.all(ds.arch_ids[t.measured[10:]] < 4000) and np.all(ds.arch_ids[t.query] >= 4000)
        assert len(t.query) == 120  # 150 query-range archs minus the 10 % at both ends
        q = y[t.query]
        rest = y[(ds.arch_ids >= 4000) & ~np.isin(np.arange(len(ds)), t.query)]
        assert np.all((rest <= q.min()) | (rest >= q.max()))  # the trimmed ones are the extremes
        assert "titan_rtx_64" not in t.sources and len(t.sources) == 9
    assert len({tuple(t.measured) for t in tasks}) == 3
    with pytest.raises(NasedgeError, match="meta-train device of HELP's protocol"):
        help_tasks(ds, "v100_1")


def test_untrimmed_tasks_count_every_measurement(ofa_sample):
    ds = ofa_sample
    tasks = untrimmed_tasks(ds, "v100_1", shots=20, seeds=2, folds=5)
    for seed in (0, 1):
        mine = [t for t in tasks if t.seed == seed]
        queried = np.concatenate([t.query for t in mine])
        assert len(queried) == len(set(queried)) == len(ds) - 10  # every arch but the reference archs
        for t in mine:
            assert len(t.measured) == 20 and set(ds.reference) <= set(t.measured)
            assert not set(t.measured) & set(t.query)
            assert not set(t.query) & set(t.train_rows)  # the meta-model never sees the fold it predicts
    folds = arch_folds(ds, 5)
    assert set(folds) == set(range(5)) and np.array_equal(folds, arch_folds(ds, 5))


def test_more_samples_on_request(ofa_sample):
    """``max_shots``: the first 20 samples are those of the plain protocol; a predictor that asks gets more."""
    ds = ofa_sample
    plain = untrimmed_tasks(ds, "v100_1", shots=20, seeds=2, folds=5)
    more = untrimmed_tasks(ds, "v100_1", shots=20, seeds=2, folds=5, max_shots=30)
    for a, b in zip(plain, more, strict=True):
        assert np.array_equal(a.measured, b.measured) and np.array_equal(a.query, b.query) and len(b.more) == 10
        assert not set(b.more) & (set(b.measured) | set(b.query))
    flops = evaluate(ds, "v100_1", "flops", protocol="untrimmed", shots=20, seeds=1, folds=5, max_shots=30)
    assert flops["samples"] == 20 and flops["max_shots"] == 30  # flops never asks for more
    assert flops["within_10pct"] == evaluate(ds, "v100_1", "flops", protocol="untrimmed", shots=20, seeds=1,
                                             folds=5)["within_10pct"]
    with pytest.raises(NasedgeError, match="max_shots 10: expected at least shots"):
        evaluate(ds, "v100_1", protocol="untrimmed", shots=20, max_shots=10)
    with pytest.raises(NasedgeError, match=r"protocol 'help' draws a fixed number of samples; more on request "
                                           r"\(max_shots\) is for 'untrimmed'$"):  # it said: expected at least shots
        evaluate(ds, "titan_rtx_64", protocol="help", shots=10, max_shots=40)


def test_evaluate_and_nearest(ofa_sample):
    ds = ofa_sample
    r = evaluate(ds, "titan_rtx_64", "meta", "help", 10, 2)
    assert set(r) >= {"spearman", "mape", "within_10pct", "per_seed"} and len(r["per_seed"]) == 2
    assert r["spearman"] > 0.98 and r["mape"] < 5
    task = help_tasks(ds, "titan_rtx_64", seeds=1)[0]
    pred = nearest_device(ds, task)
    assert pred.shape == task.query.shape
    assert evaluate(ds, "titan_rtx_64", "nearest", "help", 10, 1)["spearman"] > 0.95
    u = evaluate(ds, "titan_rtx_32", "flops", "untrimmed", 20, 1)
    assert u["measured_on_target"] == 20 and u["query_archs"] == len(ds) - 10
    with pytest.raises(NasedgeError, match="unknown protocol"):
        evaluate(ds, "titan_rtx_64", protocol="other")
    with pytest.raises(NasedgeError, match="unknown device 'gpu9'"):
        evaluate(ds, "gpu9")


def test_a_stored_prior_never_holds_the_target(ofa_sample, tmp_path, monkeypatch):
    """run_task with ``weights``: the target's own head is left out of the loaded prior."""
    from nasedge.predict import profile
    from nasedge.predict.meta import meta_train

    ds = ofa_sample
    meta_train(ds.encoding, ds.items, ds.latency, ds.devices).save(tmp_path / "prior.npz")
    task = untrimmed_tasks(ds, "titan_rtx_64", seeds=1, folds=2)[0]
    sources = []
    create = profile.create_predictor

    def recording(name, enc, **options):
        sources.append(options["model"].devices)
        return create(name, enc, **options)

    monkeypatch.setattr(profile, "create_predictor", recording)
    pred, used = run_task(ds, task, "meta", {"weights": str(tmp_path / "prior.npz")})
    assert pred.shape == task.query.shape and used == len(task.measured) == 20
    assert sources == [tuple(d for d in ds.devices if d != "titan_rtx_64")]


def test_more_shots_than_the_device_has_is_an_error(ofa_sample):
    """Fewer samples than asked would be reported under the protocol's name; they are refused instead."""
    ds = ofa_sample
    n = int(np.isfinite(ds.column("v100_1")).sum())
    with pytest.raises(NasedgeError, match=r"shots \d+: device 'v100_1' has \d+ measured archs outside fold 0"):
        untrimmed_tasks(ds, "v100_1", shots=n, seeds=1, folds=5)
    with pytest.raises(NasedgeError, match=r"max_shots \d+: device 'v100_1'"):
        untrimmed_tasks(ds, "v100_1", shots=20, seeds=1, folds=5, max_shots=n)
    with pytest.raises(NasedgeError, match=r"shots 100000: device 'titan_rtx_64' has \d+ archs to draw"):
        help_tasks(ds, "titan_rtx_64", shots=100_000, seeds=1)


def test_nearest_takes_the_next_best_source_where_the_best_did_not_measure(nb201_sample):
    ds = nb201_sample
    task = untrimmed_tasks(ds, "gold_6226", 20, 1, 5, sources=("gold_6240", "silver_4114", "pixel2"))[0]
    full = nearest_device(ds, task)
    gapped = ds.latency.copy()
    best = max(task.sources, key=lambda d: np.corrcoef(np.log(ds.column(d)[task.measured]),
                                                        np.log(ds.column("gold_6226")[task.measured]))[0, 1])
    gapped[task.query[::3], ds.device_index(best)] = np.nan  # the best source missed every third query arch
    gapped[:, ds.device_index("pixel2")] = 1.0  # a constant source: no correlation, never the nearest
    ds2 = type(ds)(ds.encoding, ds.items, ds.arch_ids, ds.devices, gapped, ds.reference, ds.sources)
    pred = nearest_device(ds2, task)
    keep = np.ones(len(task.query), bool)
    keep[::3] = False
    np.testing.assert_array_equal(pred[keep], full[keep])  # the best source where it measured
    assert np.all(np.isfinite(pred)) and not np.array_equal(pred[~keep], full[~keep])


def test_the_reference_archs_of_two_datasets_are_not_all_the_samples(nb201_sample):
    ds = nb201_sample
    twice = type(ds)(ds.encoding, ds.items, ds.arch_ids, ds.devices, ds.latency,
                     (*ds.reference, *[i for i in range(40) if i not in ds.reference][:10]), ds.sources)
    tasks = untrimmed_tasks(twice, "pixel2", 20, 2, 5)
    assert all(list(t.measured[:10]) == list(ds.reference) for t in tasks)
    assert len({tuple(t.measured) for t in tasks if t.fold == 0}) == 2  # 10 random samples per seed, not 20 fixed


def test_what_cannot_be_scored_or_would_leak_is_refused(nb201_sample):
    ds = nb201_sample
    lat = ds.latency.copy()
    lat[:, ds.device_index("fpga")] = 2.0
    lat[:, ds.device_index("pixel3")] = lat[:, ds.device_index("pixel2")]  # the target under another name
    copy = type(ds)(ds.encoding, ds.items, ds.arch_ids, ds.devices, lat, ds.reference, ds.sources)
    with pytest.raises(NasedgeError, match="every query arch has the same latency"):
        evaluate(copy, "fpga", "flops", "untrimmed", 20, 1)
    for predictor in ("meta", "nearest"):
        with pytest.raises(NasedgeError, match="source device 'pixel3' has the target 'pixel2''s very latencies"):
            evaluate(copy, "pixel2", predictor, "untrimmed", 20, 1)
    assert evaluate(copy, "pixel2", "flops", "untrimmed", 20, 1)["spearman"] > 0.5  # learns from no source
    alone = type(ds)(ds.encoding, ds.items, ds.arch_ids, ("pixel2",), ds.latency[:, [ds.device_index("pixel2")]],
                     ds.reference, ds.sources[:1])
    assert evaluate(alone, "pixel2", "totals", "untrimmed", 20, 1)["spearman"] > 0.5  # needs no source device
    with pytest.raises(NasedgeError, match="'meta' on 'pixel2' needs at least one device besides the target"):
        evaluate(alone, "pixel2", "meta", "untrimmed", 20, 1)


def test_nearest_says_why_it_has_no_source(nb201_sample):
    ds = nb201_sample
    one = untrimmed_tasks(ds, "gold_6226", 1, 1, 5, sources=("gold_6240", "pixel2"))[0]
    with pytest.raises(NasedgeError, match="needs at least 2 samples on the target to correlate sources with .got 1."):
        nearest_device(ds, one)  # it said no source had measured the samples
    task = untrimmed_tasks(ds, "gold_6226", 20, 1, 5, sources=("gold_6240", "pixel2"))[0]
    lat = ds.latency.copy()
    lat[task.measured[3], [ds.device_index("gold_6240"), ds.device_index("pixel2")]] = np.nan
    gapped = type(ds)(ds.encoding, ds.items, ds.arch_ids, ds.devices, lat, ds.reference, ds.sources)
    with pytest.raises(NasedgeError, match="no source device measured every one of the target's samples"):
        nearest_device(gapped, task)  # it named a query arch every source had measured
    lat = ds.latency.copy()
    lat[task.measured, ds.device_index("gold_6226")] = 2.0
    flat = type(ds)(ds.encoding, ds.items, ds.arch_ids, ds.devices, lat, ds.reference, ds.sources)
    with pytest.raises(NasedgeError, match="the target's samples are all equal"):
        nearest_device(flat, task)


def test_sources_given_as_one_string_are_refused(nb201_sample):
    with pytest.raises(NasedgeError, match="sources: 'gold_6240' is not valid; expected a list of device names"):
        evaluate(nb201_sample, "gold_6226", "flops", "untrimmed", 20, 1, sources="gold_6240")  # it read 'g', 'o', ...


def _with_cells(ds, device: str, rows, values):
    lat = ds.latency.copy()
    lat[list(rows), ds.device_index(device)] = values
    return type(ds)(ds.encoding, ds.items, ds.arch_ids, ds.devices, lat, ds.reference, ds.sources)


def test_the_baselines_predict_no_latency_of_zero_or_less_where_a_few_cells_are_outliers(nb201_sample):
    ds = nb201_sample
    # a reference arch (always among the samples) at 1e5 ms and another at 1e-4 ms: nearest's line went below zero
    ref = _with_cells(ds, "pixel2", ds.reference[:2], [1e5, 1e-4])
    tasks = untrimmed_tasks(ref, "pixel2", 20, 1, 5)
    pred = np.concatenate([nearest_device(ref, t) for t in tasks])
    assert pred.min() == pytest.approx(0.25e-4)  # raised to the floor, as a registered predictor's are
    # three archs at 1e5 ms: the oracle's head predicted a quarter of the rest below zero (-8000 ms)
    outliers = _with_cells(ds, "pixel2", [i for i in range(20) if i not in ds.reference][:3], 1e5)
    tasks = untrimmed_tasks(outliers, "pixel2", 20, 1, 5)
    pred = np.concatenate([run_task(outliers, t, "oracle")[0] for t in tasks])
    assert pred.min() > 0
    r = evaluate(outliers, "pixel2", "oracle", "untrimmed", 20, 1)
    assert r["floored"] > 10  # counted, for the CLI to call the ceiling unreliable
    assert evaluate(ds, "pixel2", "oracle", "untrimmed", 20, 1)["floored"] == 0
