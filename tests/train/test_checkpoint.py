import json

import pytest
import torch

from nasedge.errors import NasedgeError
from nasedge.train.checkpoint import load_checkpoint, save_checkpoint


def test_parts_are_bounded_and_round_trip(tmp_path):
    state = {"w": torch.randn(700_000), "step": 3, "name": "x", "nested": {"a": [1, 2]}}  # ~2.8 MB
    save_checkpoint(tmp_path, state, part_mib=1)
    parts = sorted(tmp_path.glob("ckpt-*.part*"))
    assert len(parts) == 3 and all(p.stat().st_size <= 1 << 20 for p in parts)
    loaded = load_checkpoint(tmp_path)
    assert torch.equal(loaded["w"], state["w"]) and loaded["nested"] == {"a": [1, 2]}


def test_new_checkpoint_replaces_old_and_cleans_up(tmp_path):
    save_checkpoint(tmp_path, {"v": 1})
    save_checkpoint(tmp_path, {"v": 2})
    assert load_checkpoint(tmp_path)["v"] == 2
    assert len(list(tmp_path.glob("ckpt-*"))) == 1
    assert json.loads((tmp_path / "checkpoint.json").read_text())["sequence"] == 1


def test_interrupted_write_keeps_previous_checkpoint(tmp_path):
    save_checkpoint(tmp_path, {"v": 1})
    # a crash after writing parts but before the manifest rename leaves stray parts only
    (tmp_path / "ckpt-000001.part000").write_bytes(b"partial")
    assert load_checkpoint(tmp_path)["v"] == 1


def test_damage_is_reported(tmp_path):
    assert load_checkpoint(tmp_path) is None
    save_checkpoint(tmp_path, {"v": torch.ones(10)})
    part = next(tmp_path.glob("ckpt-*"))
    part.write_bytes(part.read_bytes()[:-3] + b"xyz")
    with pytest.raises(NasedgeError, match="damaged"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.json").write_text("{")
    with pytest.raises(NasedgeError, match="manifest is damaged"):
        load_checkpoint(tmp_path)
