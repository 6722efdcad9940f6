import warnings

import pytest
import torch

from nasedge.errors import ArchError, NasedgeError
from nasedge.spaces import get_space
from nasedge.supernet import build_supernet, load_supernet, recalibrate_bn, save_supernet


def test_set_active_validates_and_selects_depth(scrambled_supernet):
    space = get_space("ofa_mbv3_cifar")
    net = scrambled_supernet(space.name)
    with pytest.raises(ArchError):
        net.set_active(get_space("ofa_mbv3_w1.2").max_arch())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        outs = {d: net.set_active(space.max_arch().__class__(space.name, [7] * 20, [6] * 20, [d] * 5, 32)) and net(x)
                for d in (2, 4)}
    assert not torch.allclose(outs[2], outs[4])


def test_sorting_channels_keeps_max_subnet_output(scrambled_supernet):
    space = get_space("ofa_mbv3_cifar")
    net = build_supernet(space).eval()
    net.load_state_dict(scrambled_supernet(space.name).state_dict())
    net.set_active(space.max_arch())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = net(x)
        net.sort_channels()
        after = net(x)
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-5)


def test_bn_recalibration_in_supernet_equals_recalibration_of_extracted_subnet(scrambled_supernet):
    space = get_space("ofa_mbv3_cifar")
    net = build_supernet(space)
    net.load_state_dict(scrambled_supernet(space.name).state_dict())
    arch = space.sample(3)
    images = [torch.randn(8, 3, arch.resolution, arch.resolution) for _ in range(3)]
    subnet = net.extract(arch)
    net.set_active(arch)
    assert recalibrate_bn(net, images) == 24
    assert recalibrate_bn(subnet, images, num_images=20) == 20  # 8 + 8 + 4
    recalibrate_bn(subnet, images)
    x = torch.randn(2, 3, arch.resolution, arch.resolution)
    with torch.no_grad():
        assert torch.allclose(net.eval()(x), subnet(x), atol=1e-5)
        assert torch.allclose(net.extract(arch)(x), subnet(x), atol=1e-6)
    # running statistics are the mean over the recalibration batches, not the initial values
    stem_bn = subnet.stem[1]
    feats = torch.cat([subnet.stem[0](b) for b in images])
    assert torch.allclose(stem_bn.running_mean, feats.mean((0, 2, 3)), atol=1e-4)
    assert not net.training and stem_bn.momentum == 0.1


def test_checkpoint_round_trip_and_errors(tmp_path, scrambled_supernet):
    space = get_space("ofa_mbv3_cifar")
    net = scrambled_supernet(space.name)
    save_supernet(net, tmp_path / "s.pt", meta={"epochs": 3})
    loaded = load_supernet(tmp_path / "s.pt").eval()
    assert loaded.meta == {"epochs": 3}
    arch = space.sample(0)
    x = torch.randn(1, 3, arch.resolution, arch.resolution)
    with torch.no_grad():
        assert torch.equal(net.extract(arch)(x), loaded.extract(arch)(x))
    save_supernet(net, tmp_path / "h.pt", half=True)
    assert (tmp_path / "h.pt").stat().st_size < 0.55 * (tmp_path / "s.pt").stat().st_size
    with torch.no_grad():
        assert torch.allclose(load_supernet(tmp_path / "h.pt").eval().extract(arch)(x), net.extract(arch)(x),
                              rtol=0.05, atol=0.05)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(NasedgeError, match="bad.pt: not a readable"):
        load_supernet(tmp_path / "bad.pt")
    with pytest.raises(NasedgeError, match="not found"):
        load_supernet(tmp_path / "missing.pt")
    (tmp_path / "pickle.pt").write_bytes(b"\x80\x04garbage")  # starts as a pickle: torch warned about it first
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NasedgeError, match="pickle.pt: not a readable supernet checkpoint"):
            load_supernet(tmp_path / "pickle.pt")
    if not torch.cuda.is_available():  # the file is fine; this machine has no CUDA device
        with pytest.raises(NasedgeError, match="device 'cuda': no CUDA device is available here"):
            load_supernet(tmp_path / "s.pt", map_location="cuda")
    with pytest.raises(NasedgeError, match="map_location 'gpu' is not a torch device"):  # was: s.pt not readable
        load_supernet(tmp_path / "s.pt", map_location="gpu")
    assert build_supernet(space.name).space == space  # a space by name, as get_space takes it
    for classes in (0, -3, 2.5):
        with pytest.raises(NasedgeError, match=f"num_classes: value {classes} is not valid"):
            build_supernet(space, classes)
