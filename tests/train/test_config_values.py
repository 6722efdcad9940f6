"""Values of the train config out of range fail as one line naming the key, when the config is built (no training)."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
from omegaconf import OmegaConf

from nasedge.config import compose
from nasedge.errors import NasedgeError
from nasedge.train.config import PhaseConfig, TrainConfig

TINY = ["search_space=ofa_mbv3_tiny", "train=tiny"]


def build(*overrides: str) -> TrainConfig:
    """The train config as ``nasedge train`` builds it (train_from_config: compose, then OmegaConf.to_object)."""
    return OmegaConf.to_object(compose([*TINY, *overrides]).train)


def one_phase(**fields) -> str:
    body = ", ".join(f"{k}: {v}" for k, v in {"name": "full", "epochs": 1, "lr": 0.1, **fields}.items())
    return f"train.phases=[{{{body}}}]"


@pytest.mark.parametrize("options", [[], ["train=tiny"], ["train=static"], ["experiment=cifar10_ofa"],
                                     ["experiment=cifar10_ofa_finetune"], ["experiment=cifar10_scratch"]])
def test_shipped_configs_pass(options):
    cfg = OmegaConf.to_object(compose(options).train)
    assert isinstance(cfg, TrainConfig)
    cfg.check()


def test_default_dataclasses_pass():
    TrainConfig().check()
    PhaseConfig().check()


def test_values_the_tests_and_recipes_use_pass():
    build("train.max_minutes=1e-9", "train.cpu_threads=null", "train.grad_clip=5", "train.lr_reference_batch=256",
          "train.nesterov=false", "train.momentum=0",
          one_phase(lr=0.0, warmup_epochs=1, kd_weight=0))


BAD = [
    ("train.batch_size=0", "train.batch_size", "0", "a positive integer"),
    ("train.out_dir=", "train.out_dir", "''", "a folder"),
    ("train.batch_size=-4", "train.batch_size", "-4", "a positive integer"),
    ("train.eval_batch_size=0", "train.eval_batch_size", "0", "a positive integer"),
    ("train.eval_every_epochs=0", "train.eval_every_epochs", "0", "a positive integer"),
    ("train.cpu_threads=-1", "train.cpu_threads", "-1", "a positive integer or null"),
    ("train.cpu_threads=0", "train.cpu_threads", "0", "a positive integer or null"),
    ("train.label_smoothing=5", "train.label_smoothing", "5.0", r"a number in \[0, 1\)"),
    ("train.label_smoothing=-0.1", "train.label_smoothing", "-0.1", r"a number in \[0, 1\)"),
    ("train.label_smoothing=1", "train.label_smoothing", "1.0", r"a number in \[0, 1\)"),
    ("train.max_minutes=-1", "train.max_minutes", "-1.0", "a positive finite number"),
    ("train.max_minutes=0", "train.max_minutes", "0.0", "a positive finite number"),
    ("train.max_minutes=nan", "train.max_minutes", "nan", "a positive finite number"),
    ("train.max_minutes=inf", "train.max_minutes", "inf", "a positive finite number"),
    ("train.checkpoint_part_mib=0", "train.checkpoint_part_mib", "0", "a positive integer"),
    ("train.momentum=-0.5", "train.momentum", "-0.5", r"a number in \[0, 1\)"),
    ("train.momentum=1.5", "train.momentum", "1.5", r"a number in \[0, 1\)"),
    ("train.momentum=nan", "train.momentum", "nan", r"a number in \[0, 1\)"),
    ("train.weight_decay=-1e-4", "train.weight_decay", "-0.0001", "a finite number >= 0"),
    ("train.weight_decay=nan", "train.weight_decay", "nan", "a finite number >= 0"),
    ("train.grad_clip=0", "train.grad_clip", "0.0", "a positive number or null"),
    ("train.grad_clip=-1", "train.grad_clip", "-1.0", "a positive number or null"),
    ("train.lr_reference_batch=0", "train.lr_reference_batch", "0", "a positive integer or null"),
    ("train.device=nope", "train.device", "'nope'", "auto, cpu, cuda, cuda:N or mps"),
    ("train.device=cuda:x", "train.device", "'cuda:x'", "auto, cpu, cuda, cuda:N or mps"),
    ("train.device=meta", "train.device", "'meta'", "auto, cpu, cuda, cuda:N or mps"),
    ("train.mode=nope", "train.mode", "'nope'", "progressive_shrinking or static"),
    (one_phase(lr=-1), r"train.phases\[0\].lr", "-1.0", "a finite number >= 0"),
    (one_phase(lr="nan"), r"train.phases\[0\].lr", "nan", "a finite number >= 0"),
    (one_phase(epochs=0), r"train.phases\[0\].epochs", "0", "a positive integer"),
    (one_phase(epochs=-1), r"train.phases\[0\].epochs", "-1", "a positive integer"),
    (one_phase(warmup_epochs=-1), r"train.phases\[0\].warmup_epochs", "-1.0", r"in \[0, 1\]"),
    (one_phase(warmup_epochs=2), r"train.phases\[0\].warmup_epochs", "2.0", r"in \[0, 1\]"),
    (one_phase(subnets_per_step=0), r"train.phases\[0\].subnets_per_step", "0", "a positive integer"),
    (one_phase(kd_weight=-1), r"train.phases\[0\].kd_weight", "-1.0", "a finite number >= 0"),
    (one_phase(kernel="[0]"), r"train.phases\[0\].kernel", r"\[0\]", "a list of positive integers or null"),
    ("train.phases=[{name: full, epochs: 1, lr: 0.1}, {name: kernel, epochs: 1, lr: -2}]",
     r"train.phases\[1\].lr", "-2.0", "a finite number >= 0"),
]


@pytest.mark.parametrize("override, key, value, expected", BAD, ids=[b[0] for b in BAD])
def test_bad_value_fails_when_the_config_is_built(override, key, value, expected):
    with pytest.raises(NasedgeError) as info:
        build(override)
    message = str(info.value)
    assert "\n" not in message
    assert re.fullmatch(rf"{key}: value {value} is not valid; expected .*{expected}.*", message), message


def test_nesterov_needs_momentum():
    with pytest.raises(NasedgeError, match=r"^train.momentum: value 0 is not valid with train.nesterov=true"):
        build("train.momentum=0")


def test_phases_empty_and_duplicate_names_fail_when_built():
    with pytest.raises(NasedgeError, match="^train.phases is empty$"):
        build("train.phases=[]")
    with pytest.raises(NasedgeError, match="^train.phases: phase names must be unique"):
        build("train.phases=[{name: full, epochs: 1, lr: 0.1}, {name: full, epochs: 1, lr: 0.1}]")


def test_check_again_after_changing_a_built_config():
    cfg = build()
    with pytest.raises(NasedgeError, match=r"^train.batch_size: value 0 is not valid; expected a positive integer$"):
        dataclasses.replace(cfg, batch_size=0)
    cfg.eval_batch_size = 0
    with pytest.raises(NasedgeError, match=r"^train.eval_batch_size: value 0 is not valid"):
        cfg.check()


def test_python_values_of_the_wrong_type_fail():
    with pytest.raises(NasedgeError, match=r"^train.batch_size: value True is not valid"):
        TrainConfig(batch_size=True)
    with pytest.raises(NasedgeError, match=r"^train.phases\[0\].epochs: value 1.5 is not valid"):
        TrainConfig(phases=[PhaseConfig(epochs=1.5)])
    with pytest.raises(NasedgeError, match=r"^train.device: value None is not valid"):
        TrainConfig(device=None)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_where_there_is_none(monkeypatch, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(NasedgeError, match=rf"^train.device: value '{device}' is not available: no CUDA device is "
                                           rf"available here; expected auto or cpu$"):
        build(f"train.device={device}")


def test_cuda_index_beyond_the_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert build("train.device=cuda:1").device == "cuda:1"
    assert build("train.device=cuda").device == "cuda"
    with pytest.raises(NasedgeError, match=r"^train.device: value 'cuda:2' is not available: this machine has 2 CUDA "
                                           r"devices; expected cuda:0 to cuda:1"):
        build("train.device=cuda:2")


def test_mps_where_there_is_none(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(NasedgeError, match=r"^train.device: value 'mps' is not available"):
        build("train.device=mps")


def test_phases_of_another_space_name_the_space_they_fit():
    """train=tiny with the default space said only "restricted depth choices must keep the maximum 4"."""
    from nasedge.spaces import get_space
    from nasedge.train.progressive_shrinking import check_phases

    with pytest.raises(NasedgeError, match=r"^train.phases\[full\]: restricted depth choices must keep the maximum 4 "
                                           r"\(search_space=ofa_mbv3_cifar\); these phases fit "
                                           r"search_space=ofa_mbv3_tiny$"):
        check_phases(get_space("ofa_mbv3_cifar"), build("train=tiny").phases)
    check_phases(get_space("ofa_mbv3_tiny"), build(*TINY).phases)


def test_a_space_that_cannot_load_is_no_hint_and_never_the_error(monkeypatch):
    # a plugin's space that failed to load (or to restrict) replaced the phases' own error, or was a TypeError
    import nasedge.spaces
    import nasedge.train.progressive_shrinking as trainer

    def get_space(name):
        if name == "broken":
            raise TypeError("restrict() got an unexpected keyword argument 'kernel'")
        return nasedge.spaces.get_space(name)

    monkeypatch.setattr(nasedge.spaces, "list_spaces", lambda: ["broken", "ofa_mbv3_cifar", "ofa_mbv3_tiny"])
    monkeypatch.setattr(trainer, "get_space", get_space)
    with pytest.raises(NasedgeError, match=r"maximum 4 \(search_space=ofa_mbv3_cifar\); these phases fit "
                                           r"search_space=ofa_mbv3_tiny$"):
        trainer.check_phases(nasedge.spaces.get_space("ofa_mbv3_cifar"), build("train=tiny").phases)


def test_a_resume_with_other_phases_names_the_differing_field_not_the_lists():
    """Other train.phases on resume wrote both lists of phases out: a line several KB long."""
    from nasedge.train.progressive_shrinking import _difference

    phases = OmegaConf.to_container(compose(TINY).train.phases)
    changed = [*phases[:1], {**phases[1], "lr": 0.5}, *phases[2:]]
    assert _difference({"train": {"phases": changed}}, {"train": {"phases": phases}}) == \
        "train.phases.1.lr: 0.5 against 0.05"
    assert _difference({"train": {"phases": phases[:2]}}, {"train": {"phases": phases}}) == \
        "train.phases: 2 items against 4"
