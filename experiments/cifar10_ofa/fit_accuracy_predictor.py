"""Held-out quality of the accuracy predictor, then the shipped predictor fitted on all subnets.

Now the library's verb (``nasedge accuracy fit``); this script stays as the command that made the shipped
predictor (held-out share 400 of 2,000 = 0.2, 3 splits):

    nasedge accuracy fit results/run3_teacher_batch_bn/acc_dataset.jsonl \
        --out nasedge/assets/cifar10_ofa_mbv3/accuracy_predictor.json
"""

from __future__ import annotations

import sys

from nasedge.cli import main

if __name__ == "__main__":
    sys.exit(main(["accuracy", "fit", *sys.argv[1:]]))
