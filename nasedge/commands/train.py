"""Train a supernet with progressive shrinking (or one arch alone), resuming from the last checkpoint.

  nasedge train experiment=cifar10_ofa train.max_minutes=9      stop cleanly at a checkpoint after 9 minutes
  nasedge train search_space=ofa_mbv3_tiny train=tiny data.path=small.npz
  torchrun --standalone --nproc-per-node=8 -m nasedge train experiment=cifar10_ofa   one process per GPU

Exit status: 0 when training has finished, 75 when it stopped at a checkpoint (time budget, SIGTERM or a
first Ctrl-C; a second Ctrl-C stops at once) and the same command resumes it.
"""

from __future__ import annotations

import argparse

EXIT_RESUMABLE = 75


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="configuration overrides (Hydra syntax)")


def run(args: argparse.Namespace) -> int:
    import sys
    from functools import partial

    # composing imports PyTorch (seconds); the plan follows once the configuration is known
    print("train: loading PyTorch and the configuration ...", file=sys.stderr, flush=True)
    from nasedge.config import compose
    from nasedge.train import train_from_config, what_a_failed_run_keeps
    from nasedge.train.distributed import collective_failure_in_one_line

    cfg = compose(args.overrides)
    _note_embedded_data(cfg)
    # asked when a collective fails: a run that fails before its first checkpoint has none to keep
    with collective_failure_in_one_line(partial(what_a_failed_run_keeps, cfg.train.out_dir)):
        result = train_from_config(cfg)
    return 0 if result.finished else EXIT_RESUMABLE


def _note_embedded_data(cfg) -> None:
    """The default data is the shipped evaluation data: say that it makes a smoke test, not a supernet."""
    import os
    import sys
    from pathlib import Path

    from nasedge.config import compose

    embedded = compose(["data=cifar10_embedded"]).data.path  # its one home: conf/data/cifar10_embedded.yaml
    first_rank = os.environ.get("RANK", "0") == "0"  # under torchrun one note, not one per process
    if first_rank and Path(str(cfg.data.path)).resolve() == Path(embedded).resolve():
        print("train: note: the data is nasedge's shipped evaluation data (data=cifar10_embedded: 2,000 training "
              "images, kept for BatchNorm recalibration): a smoke test, too few to train a supernet; train on "
              "data=cifar10 (NASEDGE_CIFAR10 or data.path) or your own data", file=sys.stderr, flush=True)
