"""``train.init_from`` across class counts: a supernet of other classes starts a run on the user's data with a
new classifier head, reported in one line; every other tensor comes from init_from, and a tensor that does not
fit otherwise is a one-line error, never a silent shape mismatch."""

from __future__ import annotations

import pytest
import torch

from nasedge.config import compose
from nasedge.errors import NasedgeError
from nasedge.spaces import get_space
from nasedge.supernet import build_supernet, load_supernet, save_supernet
from nasedge.train import train_from_config
from tests.synthetic_data import write_shapes_folder

ONE_PHASE = "train.phases=[{name: expand, epochs: 1, lr: 0.05, subnets_per_step: 2, sandwich: true, kd_weight: 1.0}]"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return write_shapes_folder(tmp_path_factory.mktemp("shapes"), per_class=2, test_per_class=1, size=36)


def _overrides(shapes, out, init_from):
    return ["search_space=ofa_mbv3_tiny", "train=tiny", ONE_PHASE, "train.batch_size=7", f"train.out_dir={out}",
            f"train.init_from={init_from}", "data=image_folder", f"data.path={shapes}", "data.image_size=28",
            "data.recalibration_images=14", "data.decode=cpu"]


def test_a_ten_class_supernet_fine_tunes_on_seven_classes_with_a_new_head(shapes, tmp_path):
    torch.manual_seed(1)
    start = build_supernet(get_space("ofa_mbv3_tiny"))
    save_supernet(start, tmp_path / "ten.pt")
    lines = []
    result = train_from_config(compose(_overrides(shapes, tmp_path / "run", tmp_path / "ten.pt")), log=lines.append)
    assert result.finished
    head = [line for line in lines if line.startswith("new classifier head")]
    assert head == [f"new classifier head: 10 classes -> 7 classes (head.classifier: Linear 48 -> 7, freshly "
                    f"initialised; every other tensor from {tmp_path / 'ten.pt'})"]
    tuned = load_supernet(tmp_path / "run" / "supernet.pt")
    assert tuned.num_classes == 7 and tuned.head.classifier.weight.shape == (7, 48)
    # one short phase moves the shared weights but starts from init_from's: far closer to them than to a fresh net
    fresh = build_supernet(get_space("ofa_mbv3_tiny"), 7)
    w0, w1, wf = (m.stem[0].weight if hasattr(m.stem, "__getitem__") else next(m.stem.parameters())
                  for m in (start, tuned, fresh))
    assert (w1 - w0).norm() < 0.5 * (wf - w0).norm()


def test_another_mismatch_than_the_head_is_one_line():
    from nasedge.train.progressive_shrinking import load_except_head

    model = build_supernet(get_space("ofa_mbv3_tiny"), 7)
    state = build_supernet(get_space("ofa_mbv3_tiny")).state_dict()
    assert load_except_head(build_supernet(get_space("ofa_mbv3_tiny")), state, "x") == ""
    key = next(k for k, v in state.items() if v.dim() == 4)
    state[key] = torch.zeros(*state[key].shape[:-1], state[key].shape[-1] + 2)
    with pytest.raises(NasedgeError, match=f"src: tensor {key} has shape"):
        load_except_head(model, state, "src")
    del state[key]
    with pytest.raises(NasedgeError, match=f"src: tensor {key} is missing"):
        load_except_head(model, state, "src")
