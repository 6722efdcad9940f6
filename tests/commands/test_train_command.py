"""``nasedge train`` as a command: what bad input gives (one line, exit 2, before any training)."""

from __future__ import annotations

import numpy as np

from tests.synthetic_data import write_dataset


def train_args(data, out_dir, *extra):
    return ["train", "search_space=ofa_mbv3_tiny", "train=tiny", "data=cifar10", f"data.path={data}",
            "data.image_size=8", f"train.out_dir={out_dir}", *extra]


def test_a_label_outside_the_classes_is_one_line_before_training(nasedge_cli, tmp_path):
    path = write_dataset(tmp_path / "bad.npz", n_train=64, n_test=16, size=8)
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["train_labels"][5] = 42
    np.savez(path, **arrays)
    run = nasedge_cli(*train_args(path, tmp_path / "run"))
    assert run.returncode == 2, run
    errors = [line for line in run.stderr.splitlines() if line.startswith("nasedge: error:")]
    assert errors == [f"nasedge: error: {path}: train_labels holds 42 at row 5; expected 0..9 (10 classes in "
                      f"classes)"], run.stderr
    assert "Traceback" not in run.stderr and '"epoch"' not in run.stdout  # refused before the first step
    assert not (tmp_path / "run").exists()  # a refused run leaves no folder behind


def test_a_collective_that_fails_before_the_first_checkpoint_says_none_is_kept(nasedge_cli, tmp_path, monkeypatch):
    """Under torchrun a rank killed before the first checkpoint made the others say "the last checkpoint is kept"."""
    import nasedge.train

    def another_rank_died(cfg):
        raise RuntimeError("[gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:13736: Connection reset by peer")

    for key, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GROUP_RANK", raising=False)
    monkeypatch.setattr(nasedge.train, "train_from_config", another_rank_died)
    run = nasedge_cli(*train_args(tmp_path / "d.npz", tmp_path / "run"))
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1].endswith(f"no checkpoint was written yet (none in {tmp_path}/run/checkpoint); "
                                                f"the same command starts afresh"), run.stderr
