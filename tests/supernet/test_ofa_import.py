"""Importing Once-for-All checkpoints: the imported supernet computes what OFA's own code computes.

OFA's networks come from the ``ofa`` package (a test dependency; skipped without it) with random,
calibrated weights (tests/supernet/ofa_reference.py); experiments/imagenet_scale measures the same at
larger scale.
"""

from __future__ import annotations

import hashlib

import pytest
import torch

pytest.importorskip("ofa")

from nasedge.arch import Arch  # noqa: E402
from nasedge.cli import main  # noqa: E402
from nasedge.errors import NasedgeError  # noqa: E402
from nasedge.spaces import get_space  # noqa: E402
from nasedge.supernet import load_supernet  # noqa: E402
from nasedge.supernet.ofa_checkpoint import (  # noqa: E402
    from_ofa_state_dict, normalise_key, read_ofa_checkpoint)
from tests.supernet.ofa_reference import (  # noqa: E402
    check_subnets_with_their_own_bn_statistics, compare_with_ofa, ofa_reference_supernet, random_images,
    save_ofa_checkpoint)

SPACES = ("ofa_mbv3_w1.0", "ofa_mbv3_w1.2")


@pytest.fixture(scope="module", params=SPACES)
def ofa_file(request, tmp_path_factory):
    """(space, OFA's supernet with random calibrated weights, that supernet saved in OFA's format)."""
    net = ofa_reference_supernet(request.param)
    path = save_ofa_checkpoint(net, tmp_path_factory.mktemp("ofa") / f"ofa_{request.param}.pth")
    return request.param, net, path


def _cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_imported_supernet_matches_ofa(ofa_file, tmp_path, capsys):
    space, net, path = ofa_file
    rc, out, err = _cli(capsys, "import", "ofa", str(path), "--out", str(tmp_path / "supernet.pt"))
    assert rc == 0, err
    assert space in out
    supernet = load_supernet(tmp_path / "supernet.pt").eval()
    assert supernet.space.name == space
    assert supernet.meta["source"] == path.name
    assert supernet.meta["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    torch.manual_seed(1)
    largest = get_space(space).max_arch()  # at the resolution its BatchNorm statistics were calibrated at
    largest = Arch(space, largest.kernel, largest.expand, largest.depth, 160)
    for arch in [largest, *get_space(space).sample_many(2, 7)]:
        diff = compare_with_ofa(net, supernet, arch, random_images(2, arch.resolution))
        assert diff["subnet"] < 1e-4 and diff["dynamic"] < 1e-4, (arch, diff)


def test_subnets_match_ofa_with_their_own_bn_statistics(ofa_file):
    """20 archs at 128-160 and one at 224, each with BatchNorm calibrated for it (OFA's way) before import."""
    space, net, _ = ofa_file
    check_subnets_with_their_own_bn_statistics(net, space)


def test_ofa_file_loads_directly_and_in_other_spellings(ofa_file):
    space, net, path = ofa_file
    imported = load_supernet(path)  # what `nasedge specialize --supernet OFA_FILE` does
    assert imported.space.name == space and imported.meta["imported_from"] == "once-for-all"
    reference = imported.state_dict()
    # a bare state dict, older OFA names (mobile_inverted_conv, unwrapped bn/conv/linear) and DataParallel's prefix
    saved = torch.load(path, weights_only=True)["state_dict"]
    old = {"module." + k.replace("blocks.1.conv.", "blocks.1.mobile_inverted_conv.").replace(".bn.bn.", ".bn.")
           .replace(".conv.conv.", ".conv."): v for k, v in saved.items()}
    assert {normalise_key(k) for k in old} == {normalise_key(k) for k in saved}
    other = from_ofa_state_dict({normalise_key(k): v for k, v in old.items()}).state_dict()
    assert all(torch.equal(reference[k], other[k]) for k in reference)


def test_wrong_width_names_the_tensor_and_the_space_that_fits(ofa_file, tmp_path, capsys):
    space, _, path = ofa_file
    other = next(s for s in SPACES if s != space)
    rc, _, err = _cli(capsys, "import", "ofa", str(path), "--space", other, "--out", str(tmp_path / "s.pt"))
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert f"not an OFA checkpoint of {other}: first_conv.conv.weight has shape" in err
    assert f"(it fits {space})" in err
    assert not (tmp_path / "s.pt").exists()


@pytest.mark.parametrize("damage, message", [
    ("truncate", "not a readable PyTorch file"),
    ("missing", "missing tensor blocks.20.conv.point_linear.bn.running_var"),
    ("extra", "unexpected tensor blocks.21.conv.point_linear.bn.weight"),
    ("reshape", "classifier.linear.bias has shape (7,)"),
    ("foreign", "not an OFA supernet checkpoint"),
])
def test_a_wrong_file_is_one_line_naming_what_does_not_match(ofa_file, tmp_path, capsys, damage, message):
    space, net, path = ofa_file
    bad = tmp_path / "bad.pth"
    state = dict(net.state_dict())
    if damage == "truncate":
        bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        if damage == "missing":
            del state["blocks.20.conv.point_linear.bn.bn.running_var"]
        elif damage == "extra":
            state["blocks.21.conv.point_linear.bn.bn.weight"] = torch.zeros(3)
        elif damage == "reshape":
            state["classifier.linear.bias"] = torch.zeros(7)
        elif damage == "foreign":
            state = torch.nn.Linear(3, 4).state_dict()
        torch.save({"state_dict": state}, bad)
    rc, _, err = _cli(capsys, "import", "ofa", str(bad), "--space", space, "--out", str(tmp_path / "s.pt"))
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert message in err and str(bad) in err
    with pytest.raises(NasedgeError, match="bad.pth"):
        load_supernet(bad)


def test_ofa_proxyless_file_as_mbv3_names_the_space_it_fits(ofa_file, tmp_path, capsys):
    # OFA's other published supernet: once refused as a wrong file, now imported (tests/supernet/test_ofa_proxyless.py)
    from ofa.imagenet_classification.elastic_nn.networks import OFAProxylessNASNets

    space, _, _ = ofa_file
    bad = tmp_path / "proxyless.pth"
    torch.save({"state_dict": OFAProxylessNASNets(width_mult=1.3, ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6],
                                                  depth_list=[2, 3, 4]).state_dict()}, bad)
    rc, _, err = _cli(capsys, "import", "ofa", str(bad), "--space", space, "--out", str(tmp_path / "s.pt"))
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert "first_conv.conv.weight has shape (40, 3, 3, 3)" in err and "(it fits ofa_proxyless_w1.3)" in err
    assert not (tmp_path / "s.pt").exists()


def test_unknown_space_and_missing_file(tmp_path, capsys):
    rc, _, err = _cli(capsys, "import", "ofa", str(tmp_path / "none.pth"), "--out", str(tmp_path / "s.pt"))
    assert rc == 2 and "OFA checkpoint not found" in err
    with pytest.raises(NasedgeError, match="no OFA checkpoint layout"):
        from_ofa_state_dict({"first_conv.conv.weight": torch.zeros(1)}, space="ofa_mbv3_cifar")


def test_read_ofa_checkpoint_unwraps_state_dict(ofa_file, tmp_path):
    _, net, _ = ofa_file
    bare = save_ofa_checkpoint(net, tmp_path / "bare.pth", wrapped=False)
    assert set(read_ofa_checkpoint(bare)) == {normalise_key(k) for k in net.state_dict()}


# one width is enough for what does not depend on it: the smallest network keeps these fast
SMALLEST = pytest.mark.parametrize("ofa_file", ["ofa_mbv3_w1.0"], indirect=True)


@SMALLEST
@pytest.mark.parametrize("value, kind", [(float("nan"), "NaN"), (float("inf"), "infinite")])
def test_non_finite_weights_are_refused_naming_the_tensor(ofa_file, tmp_path, capsys, value, kind):
    # a diverged run's checkpoint: refused at import, not found out at export (or exported, computing NaN)
    space, net, _ = ofa_file
    bad = tmp_path / "bad.pth"
    state = dict(net.state_dict())
    state["blocks.5.conv.depth_conv.conv.conv.weight"] = state["blocks.5.conv.depth_conv.conv.conv.weight"].clone()
    state["blocks.5.conv.depth_conv.conv.conv.weight"][0, 0, 1, 2] = value
    torch.save({"state_dict": state}, bad)
    rc, _, err = _cli(capsys, "import", "ofa", str(bad), "--out", str(tmp_path / "s.pt"))
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{bad}: tensor blocks.5.conv.depth_conv.conv.weight has 1 {kind} value" in err
    assert not (tmp_path / "s.pt").exists()
    with pytest.raises(NasedgeError, match="blocks.5.conv.depth_conv.conv.weight"):
        load_supernet(bad)  # what specialize, eval and export do with an OFA file


@SMALLEST
def test_checkpoint_without_num_batches_tracked_is_imported(ofa_file, tmp_path, capsys):
    # older PyTorch wrote BatchNorm without it, and torch's own loading tolerates that; it means nothing at inference
    space, net, _ = ofa_file
    old = tmp_path / "old.pth"
    state = {k: v for k, v in net.state_dict().items() if not k.endswith(".num_batches_tracked")}
    assert len(state) < len(net.state_dict())
    torch.save({"state_dict": state}, old)
    rc, _, err = _cli(capsys, "import", "ofa", str(old), "--out", str(tmp_path / "s.pt"))
    assert rc == 0, err
    # (net, not the fixture's file: other tests recalibrate net's BatchNorm in place)
    imported, reference = load_supernet(tmp_path / "s.pt").state_dict(), from_ofa_state_dict(net.state_dict()).state_dict()
    assert imported.keys() == reference.keys()
    for k, v in imported.items():
        if k.endswith(".num_batches_tracked"):
            assert v.item() == 0  # left at BatchNorm's default
        else:
            assert torch.equal(v, reference[k]), k
    # any other missing BatchNorm tensor is still refused
    del state["first_conv.bn.running_mean"]
    torch.save({"state_dict": state}, old)
    rc, _, err = _cli(capsys, "import", "ofa", str(old), "--space", space, "--out", str(tmp_path / "t.pt"))
    assert rc == 2 and "missing tensor first_conv.bn.running_mean" in err, err
