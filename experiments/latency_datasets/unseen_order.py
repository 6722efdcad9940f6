"""The order in which plans/unseen.sh and plans/alone.sh measure the archs of latency_predictors/data/ofa_mbv3_w1.2:
the 10 reference archs, then the others shuffled with seed 0 (so that any prefix is a fair sample), as arch JSON
lines for `nasedge measure --archs`.

    python3 experiments/latency_datasets/unseen_order.py OUT.jsonl
"""
import json
import random
import sys

DATA = "latency_predictors/data/ofa_mbv3_w1.2"

rows = [json.loads(line) for line in open(f"{DATA}/archs.jsonl")]
refs = json.load(open(f"{DATA}/reference_archs.json"))
rest = [r for r in rows if r["arch_id"] not in refs]
random.Random(0).shuffle(rest)
by_id = {r["arch_id"]: r for r in rows}
with open(sys.argv[1], "w") as f:
    for r in [by_id[i] for i in refs] + rest:
        f.write(json.dumps(r) + "\n")
