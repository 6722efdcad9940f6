"""Importing OFA's ProxylessNAS supernet (ofa_proxyless_d234_e346_k357_w1.3): it computes what OFA's own code computes.

OFA's OFAProxylessNASNets comes from the ``ofa`` package (a test dependency; skipped without it) with random,
calibrated weights (tests/supernet/ofa_reference.py); experiments/imagenet_scale measures the same at larger scale.
"""

from __future__ import annotations

import hashlib

import pytest
import torch

pytest.importorskip("ofa")

from nasedge.arch import Arch  # noqa: E402
from nasedge.cli import main  # noqa: E402
from nasedge.cost import arch_cost  # noqa: E402
from nasedge.spaces import get_space  # noqa: E402
from nasedge.supernet import load_supernet  # noqa: E402
from nasedge.supernet.ofa_checkpoint import ofa_arch  # noqa: E402
from tests.supernet.ofa_reference import (  # noqa: E402
    check_subnets_with_their_own_bn_statistics, compare_with_ofa, ofa_reference_supernet, random_images,
    save_ofa_checkpoint)

SPACE = "ofa_proxyless_w1.3"


@pytest.fixture(scope="module")
def ofa_file(tmp_path_factory):
    """(OFA's ProxylessNAS supernet with random calibrated weights, that supernet saved in OFA's format)."""
    net = ofa_reference_supernet(SPACE, calibration_batches=2)
    return net, save_ofa_checkpoint(net, tmp_path_factory.mktemp("ofa") / "ofa_proxyless_w1.3.pth")


def test_structure_is_ofas(ofa_file):
    """Parameter counts of subnets equal OFA's; OFA's arch setting has one entry per block (21), depth per stage."""
    net, _ = ofa_file
    space = get_space(SPACE)
    assert space.family == "ofa_proxyless" and space.stage_depth_choices[-1] == (1,)
    for arch in (space.min_arch(), space.max_arch(), *space.sample_many(3, 1)):
        setting = ofa_arch(arch)
        assert len(setting["ks"]) == len(setting["e"]) == 21 and setting["d"][-1] == 1
        net.set_active_subnet(ks=setting["ks"], e=setting["e"], d=setting["d"])
        subnet = net.get_active_subnet(preserve_weight=False)
        assert sum(p.numel() for p in subnet.parameters()) == arch_cost(arch, space).params
    net.set_max_net()


def test_imported_supernet_matches_ofa(ofa_file, tmp_path, capsys):
    net, path = ofa_file
    rc = main(["import", "ofa", str(path), "--space", SPACE, "--out", str(tmp_path / "supernet.pt")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert SPACE in out
    supernet = load_supernet(tmp_path / "supernet.pt").eval()
    assert supernet.space.name == SPACE
    assert supernet.meta["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_supernet(path).space.name == SPACE  # the OFA file read directly, the space found by its shapes
    largest = supernet.space.max_arch()  # at the resolution its BatchNorm statistics were calibrated at
    torch.manual_seed(1)
    diff = compare_with_ofa(net, supernet, Arch(SPACE, largest.kernel, largest.expand, largest.depth, 160),
                            random_images(2, 160))
    assert diff["subnet"] < 1e-4 and diff["dynamic"] < 1e-4, diff


def test_subnets_match_ofa_with_their_own_bn_statistics(ofa_file):
    """20 archs at 128-160 and one at 224, each with BatchNorm calibrated for it (OFA's way) before import."""
    net, _ = ofa_file
    supernet = check_subnets_with_their_own_bn_statistics(net, SPACE)
    extracted = supernet.extract(supernet.space.max_arch())
    assert all(m.eps == 1e-3 for m in extracted.modules() if isinstance(m, torch.nn.BatchNorm2d))  # OFA's bn_param


def test_mbv3_file_as_proxyless_is_one_line(tmp_path, capsys):
    mbv3 = ofa_reference_supernet("ofa_mbv3_w1.2", calibration_batches=1)
    path = save_ofa_checkpoint(mbv3, tmp_path / "mbv3.pth")
    rc = main(["import", "ofa", str(path), "--space", SPACE, "--out", str(tmp_path / "s.pt")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert f"not an OFA checkpoint of {SPACE}: first_conv.conv.weight has shape (24, 3, 3, 3)" in err
    assert "(it fits ofa_mbv3_w1.2)" in err
    assert not (tmp_path / "s.pt").exists()
