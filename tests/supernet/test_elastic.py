import torch

from nasedge.spaces import get_space
from nasedge.spaces.ofa_mbv3 import BlockSlot
from nasedge.supernet.elastic import ElasticBatchNorm2d, ElasticDepthwiseConv2d, ElasticMBConv


def test_kernel_transform_starts_as_centre_crop_and_is_learned():
    conv = ElasticDepthwiseConv2d(8, (3, 5, 7), stride=1)
    w = conv.weight
    assert torch.equal(conv.kernel(5, 8), w[:, :, 1:6, 1:6])
    assert torch.equal(conv.kernel(3, 4), w[:4, :, 2:5, 2:5])
    with torch.no_grad():
        conv.transforms["7to5"].add_(0.1 * torch.randn(25, 25))
    assert not torch.allclose(conv.kernel(5, 8), w[:, :, 1:6, 1:6])
    # the 3x3 kernel is derived through 7 -> 5 -> 3, so both matrices receive gradients
    conv(torch.randn(1, 8, 9, 9), 3).sum().backward()
    assert conv.transforms["7to5"].grad.abs().sum() > 0 and conv.transforms["5to3"].grad.abs().sum() > 0
    assert conv.weight.grad[:, :, 0].abs().sum() == 0  # outer ring unused by a 3x3 kernel


def test_elastic_batchnorm_updates_only_active_channels():
    bn = ElasticBatchNorm2d(16).train()
    bn(torch.randn(4, 8, 5, 5) + 3.0)
    assert (bn.running_mean[:8] > 0.1).all() and (bn.running_mean[8:] == 0).all()


def test_sort_channels_orders_by_importance_and_keeps_full_width_function():
    space = get_space("ofa_mbv3_cifar")
    slot = BlockSlot(0, 1, 1, 40, 40, 1, "relu", True)
    torch.manual_seed(0)
    block = ElasticMBConv(slot, space).eval()
    x = torch.randn(2, 40, 8, 8)
    before = block(x, 7, 6)
    block.sort_channels()
    assert torch.allclose(block(x, 7, 6), before, atol=1e-5)
    importance = block.project_conv.weight.abs().sum(dim=(0, 2, 3))
    assert torch.all(importance[:-1] >= importance[1:])
