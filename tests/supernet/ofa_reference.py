"""OFA's own supernet (the ``ofa`` package, a test dependency) with random weights, as a reference.

Every parameter is random (kernel transformation matrices and BatchNorm affine terms included, so that
each can change the outputs) and the BatchNorm statistics are calibrated on smooth random images, through
the largest subnet or, as OFA does before evaluating one, through the subnet compared, so that logits
depend on both the input and the arch.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

OFA_WIDTHS = {"ofa_mbv3_w1.0": 1.0, "ofa_mbv3_w1.2": 1.2, "ofa_proxyless_w1.3": 1.3}


@torch.no_grad()
def ofa_reference_supernet(space: str, seed: int = 0, calibration_batches: int = 4):
    """OFA's OFAMobileNetV3 or OFAProxylessNASNets (kernel 3/5/7, expand 3/4/6, depth 2/3/4) of ``space``: random,
    calibrated, eval mode."""
    from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3, OFAProxylessNASNets

    torch.manual_seed(seed)
    network = OFAProxylessNASNets if space.startswith("ofa_proxyless") else OFAMobileNetV3
    net = network(n_classes=1000, dropout_rate=0.1, width_mult=OFA_WIDTHS[space], ks_list=[3, 5, 7],
                  expand_ratio_list=[3, 4, 6], depth_list=[2, 3, 4])
    for name, p in net.named_parameters():
        if name.endswith("_matrix"):  # identity at initialisation: a small kernel would be a plain centre crop
            p.add_(0.1 * torch.randn_like(p))
        elif name.startswith("classifier"):  # logits of a few units, as in a trained network, not of 0.1
            p.mul_(10)
        elif p.dim() == 1 and ".bn." in f".{name}":
            p.copy_(1 + 0.2 * torch.randn_like(p) if name.endswith("weight") else 0.2 * torch.randn_like(p))
    return calibrate_ofa_bn(net, None, calibration_batches)


@torch.no_grad()
def calibrate_ofa_bn(net, arch=None, batches: int = 1):
    """OFA's BatchNorm calibration of one subnet (``arch``; None: the largest) on smooth random images.

    As OFA does before it evaluates a subnet: statistics shared with other subnets do not fit this one,
    and through 20 blocks the mismatch leaves logits that hardly depend on the input.
    """
    from nasedge.supernet.ofa_checkpoint import ofa_arch

    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    if arch is None:
        net.set_max_net()
        resolution = 160
    else:
        setting = ofa_arch(arch)
        net.set_active_subnet(ks=setting["ks"], e=setting["e"], d=setting["d"])
        resolution = arch.resolution
    net.train()
    for _ in range(batches):
        net(random_images(8, resolution))
    for bn in bns:
        bn.momentum = 0.1
    return net.eval()


def random_images(n: int, resolution: int, noise: torch.Tensor | None = None) -> torch.Tensor:
    """Smooth random images (7 x 7 noise upsampled): unlike pixel noise, which global pooling averages
    away, they give each image its own logits. The same ``noise`` gives the same images at any resolution."""
    noise = torch.randn(n, 3, 7, 7) if noise is None else noise
    return F.interpolate(noise, size=(resolution, resolution), mode="bilinear", align_corners=False)


def save_ofa_checkpoint(net, path: Path, wrapped: bool = True) -> Path:
    """Write ``net`` the way OFA publishes its supernets (``{"state_dict": ...}``) or as a bare state dict."""
    state = net.state_dict()
    torch.save({"state_dict": state} if wrapped else state, path)
    return path


@torch.no_grad()
def compare_with_ofa(net, supernet, arch, x: torch.Tensor) -> dict[str, float]:
    """Max abs differences between nasedge's and OFA's logits on ``x``: extracted subnets and dynamic supernets;
    also the largest logit and how much the logits of the first two images differ (OFA's subnet)."""
    from nasedge.supernet.ofa_checkpoint import ofa_arch

    setting = ofa_arch(arch)
    net.set_active_subnet(ks=setting["ks"], e=setting["e"], d=setting["d"])
    ofa_dynamic = net(x)
    ofa_subnet = net.get_active_subnet(preserve_weight=True).eval()(x)
    supernet.set_active(arch)
    nasedge_dynamic = supernet(x)
    nasedge_subnet = supernet.extract(arch)(x)
    return {"subnet": (nasedge_subnet - ofa_subnet).abs().max().item(),
            "dynamic": (nasedge_dynamic - ofa_dynamic).abs().max().item(),
            "logit_scale": ofa_subnet.abs().max().item(),
            "input_effect": (ofa_subnet[0] - ofa_subnet[1]).abs().max().item()}


def check_subnets_with_their_own_bn_statistics(net, space: str):
    """20 archs of ``space`` at 128-160 px and one at 224, each with BatchNorm calibrated for it (OFA's way) before
    import: nasedge's logits within 1e-4 of OFA's, of a size where 1e-4 means something and different per image.
    Returns the supernet imported last (BatchNorm of the 224 px arch)."""
    from nasedge.arch import Arch
    from nasedge.spaces import get_space
    from nasedge.supernet.ofa_checkpoint import from_ofa_state_dict, ofa_state_dict

    archs = get_space(space).restrict(resolution=range(128, 161, 4)).sample_many(20, 3)
    archs.append(Arch(space, archs[0].kernel, archs[0].expand, archs[0].depth, 224))
    torch.manual_seed(2)
    for arch in archs:
        calibrate_ofa_bn(net, arch)
        supernet = from_ofa_state_dict(ofa_state_dict(net.state_dict()), space).eval()
        diff = compare_with_ofa(net, supernet, arch, random_images(2, arch.resolution))
        assert diff["subnet"] < 1e-4 and diff["dynamic"] < 1e-4, (arch, diff)
        assert diff["logit_scale"] > 0.5 and diff["input_effect"] > 0.1, (arch, diff)
    return supernet


def ofa_tutorial_accuracy_predictor(seed: int = 0):
    """OFA's tutorial AccuracyPredictor with random weights (``ofa.tutorial`` itself imports gdown, which
    ``ofa`` does not declare, so its one module is loaded alone), scaled so outputs look like accuracies."""
    import importlib.util

    path = Path(importlib.util.find_spec("ofa").origin).parent / "tutorial" / "accuracy_predictor.py"
    spec = importlib.util.spec_from_file_location("ofa_tutorial_accuracy_predictor", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(seed)
    predictor = module.AccuracyPredictor(pretrained=False, device="cpu")
    with torch.no_grad():  # outputs spread like top-1 fractions (about 0.75 +- 0.1), not around 0 +- 0.01
        predictor.model[-1].weight.mul_(10)
        predictor.model[-1].bias.fill_(0.75)
    return predictor


def ofa_tutorial_population(archs) -> list[dict]:
    """``archs`` as the tutorial's predictor takes them (resolution as ``r: [r]``)."""
    from nasedge.supernet.ofa_checkpoint import ofa_arch

    return [{**s, "r": [s["image_size"]]} for s in map(ofa_arch, archs)]
