"""Print a ``train.phases=[...]`` override: the elastic phases of a composed config at another learning rate.

Used to start other elastic recipes from a run's kept full-network phase (``train.init_from``):

  nasedge train experiment=cifar10_ofa train.out_dir=runs/lr06 train.init_from=runs/cifar10_ofa/phases/full.pt \\
      "$(python experiments/cifar10_ofa/elastic_phases.py --lr 0.06 experiment=cifar10_ofa)"
"""

from __future__ import annotations

import argparse
import dataclasses

from omegaconf import OmegaConf

from nasedge.config import compose


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def elastic_override(overrides: list[str], lr: float) -> str:
    phases = OmegaConf.to_object(compose(overrides).train).phases[1:]
    items = []
    for phase in phases:
        d = {k: v for k, v in dataclasses.asdict(phase).items() if v is not None}
        d["lr"] = lr
        items.append("{" + ", ".join(f"{k}: {_value(v)}" for k, v in d.items()) + "}")
    return "train.phases=[" + ", ".join(items) + "]"


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lr", type=float, required=True, help="learning rate of every elastic phase")
    p.add_argument("overrides", nargs="*", help="the run's configuration overrides")
    a = p.parse_args()
    print(elastic_override(a.overrides, a.lr))
