import numpy as np

from nasedge.predict.active import design_basis, select_archs, v_optimal
from nasedge.predict.benchmark import evaluate, untrimmed_tasks
from nasedge.predict.profile import profile_archs, reference_archs
from nasedge.spaces import get_space


def test_v_optimal_spreads_the_design():
    # 1-d feature: after a measured point at 0, the picks go to the ends of the candidate range, not its middle
    x = np.linspace(-1, 1, 21)[:, None]
    picks = v_optimal(np.vstack([[0.0], x]), 1, 2)
    assert sorted(abs(x[picks, 0])) == [1.0, 1.0]
    assert len(set(v_optimal(np.vstack([[0.0], x]), 1, 5))) == 5  # never the same candidate twice


def test_select_archs_uses_archs_only(ofa_sample):
    ds = ofa_sample
    ref = [ds.items[i] for i in ds.reference]
    cand = [ds.items[i] for i in range(len(ds)) if i not in set(ds.reference)][:200]
    picks = select_archs(ds.encoding, ref, cand, 10)
    assert len(set(picks)) == 10 and all(0 <= i < 200 for i in picks)
    assert picks == select_archs(ds.encoding, ref, cand, 10)
    assert design_basis(ds.encoding, cand).shape[0] == 200
    assert select_archs(ds.encoding, ref, cand, 0) == []


def test_active_profile_archs():
    space = get_space("ofa_mbv3_cifar")
    archs = profile_archs(space, 20, seed=3, active=True)
    assert archs[:10] == reference_archs(space) and len(set(archs)) == 20
    assert profile_archs(space, 20, seed=3, active=True) == archs


def test_active_untrimmed_protocol(ofa_sample):
    ds = ofa_sample
    tasks = untrimmed_tasks(ds, "v100_1", shots=20, seeds=2, folds=5, active=True)
    for t in tasks:
        assert len(t.measured) == 20 and set(ds.reference) <= set(t.measured)
        assert not set(t.measured) & set(t.query)
    r = evaluate(ds, "titan_rtx_64", "flops", "untrimmed", 20, 1, 2, active=True)
    assert r["active"] and r["spearman"] > 0.9


def test_every_other_pick_is_the_next_random_candidate():
    # 1-d feature: the design's picks go to the ends; with random_every=2 the second and fourth picks are the first
    # candidates not taken yet (the candidates come in random order), and a shorter run is a prefix of a longer one
    x = np.vstack([[0.0], np.linspace(-1, 1, 21)[:, None]])
    picks = v_optimal(x, 1, 4, random_every=2)
    def first_free(taken):
        return min(set(range(21)) - set(taken))

    assert picks[1] == first_free(picks[:1]) and picks[3] == first_free(picks[:3])
    assert abs(x[1 + picks[0], 0]) == 1.0 and abs(x[1 + picks[2], 0]) == 1.0
    assert v_optimal(x, 1, 3, random_every=2) == picks[:3]
    assert v_optimal(x, 1, 4) != picks  # random_every=0: the design alone


def test_profile_archs_default_to_the_active_choice():
    space = get_space("ofa_mbv3_cifar")
    default, random = profile_archs(space, 20, seed=3), profile_archs(space, 20, seed=3, active=False)
    assert default == profile_archs(space, 20, seed=3, active=True) and default[:10] == random[:10]
    assert default[10:] != random[10:]
    assert profile_archs(space, 30, seed=3)[:20] == default  # asking for more samples keeps the first ones
