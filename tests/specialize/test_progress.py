"""specialize's bars: when stderr is not a terminal (a log, CI, nohup), plain lines every few seconds."""

from __future__ import annotations

import io
import time

from rich.console import Console

from nasedge.specialize.progress import progress_bar


def test_a_bar_on_a_log_is_plain_lines():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    with progress_bar(console, "measure cpu", "profile archs", 4, interval=0.05) as update:
        update(0)
        time.sleep(0.2)
        update(4, description="not shown in plain lines")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("measure cpu profile archs: 0/4, ") and lines[-1].startswith("measure cpu profile "
                                                                                           "archs: 4/4, ")
    assert "\x1b" not in out.getvalue()  # no terminal control sequences in a log


def test_finalists_evaluated_in_process_report_per_batch(tmp_path):
    """The evaluation stage reported only when a finalist was done: one finalist (minutes on a CPU) held its bar at
    0/1. In this process the finalist in flight counts as its share of its images, per batch."""
    import torch

    from nasedge.data import DataConfig
    from nasedge.spaces import get_space
    from nasedge.specialize.final_evaluation import evaluate_finalists
    from nasedge.supernet import build_supernet, save_supernet
    from tests.synthetic_data import write_dataset

    space = get_space("ofa_mbv3_tiny")
    torch.manual_seed(0)
    save_supernet(build_supernet(space), tmp_path / "supernet.pt")
    data = DataConfig(path=str(write_dataset(tmp_path / "data.npz", n_train=64, n_test=40)), image_size=24,
                      recalibration_images=32, recalibration_batch_size=16)
    calls = []
    evaluate_finalists(space.sample_many(2, 0), supernet_path=tmp_path / "supernet.pt", data=data, test_images=None,
                       use_ray=False, progress=lambda done, total: calls.append((round(done, 2), total)))
    # per finalist: 0, 16 and 32 of 32 recalibration images, then its 40 test images in one batch (72 in all)
    assert calls == [(0, 2), (0.22, 2), (0.44, 2), (1, 2), (1, 2), (1.22, 2), (1.44, 2), (2, 2)]
