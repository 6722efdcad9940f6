"""Draw the device splits of the robustness study. Reproducible: python gen_splits.py (seed below)."""

from pathlib import Path
import csv
import json
import os
import random

H = str(Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets" / "latency" / "help")
WORK = os.environ.get("WORK", "/tmp/nasedge_random_splits")  # results folder (splits.json, runs/)
os.makedirs(f"{WORK}/runs", exist_ok=True)


SEED = 20250611


def kind(d):
    if d.startswith(("1080ti", "2080ti", "titan")):
        return "gpu"
    if d.startswith(("gold", "silver")):
        return "cpu"
    if d in ("essential_ph_1", "pixel2", "pixel3", "samsung_a50", "samsung_s7"):
        return "phone"
    return d  # raspi4, fpga, eyeriss


splits = []
for space in ("nasbench201", "fbnet"):
    rng = random.Random(f"{SEED}-{space}")
    devs = next(csv.reader(open(f"{H}/{space}/latency_ms.csv")))[1:]
    # 8 random splits: 2..12 sources, 3 targets outside them
    for i in range(8):
        k = rng.randint(2, 12)
        src = rng.sample(devs, k)
        tgt = rng.sample([d for d in devs if d not in src], 3)
        splits.append(dict(space=space, name=f"rand{i}", kind="random", sources=sorted(src), targets=tgt))
    # awkward draws
    src = rng.sample(devs, 1)
    splits.append(
        dict(
            space=space,
            name="single",
            kind="single-source",
            sources=src,
            targets=rng.sample([d for d in devs if d not in src], 3),
        )
    )
    src = [rng.choice(["eyeriss", "fpga", "raspi4"])]
    splits.append(
        dict(
            space=space,
            name="single_exotic",
            kind="single-source",
            sources=src,
            targets=rng.sample([d for d in devs if kind(d) == "gpu"], 2)
            + rng.sample([d for d in devs if kind(d) in ("cpu", "phone")], 1),
        )
    )
    for one in ("phone", "cpu"):  # sources all of one type, targets of the others
        splits.append(dict(space=space, name=f"{one}s_only", kind="one-type",
                           sources=[d for d in devs if kind(d) == one],
                           targets=rng.sample([d for d in devs if kind(d) != one], 3)))
    gpu = rng.choice(sorted({d.rsplit("_", 1)[0] for d in devs if kind(d) == "gpu"}))
    dup = [d for d in devs if d.rsplit("_", 1)[0] == gpu]
    splits.append(
        dict(
            space=space,
            name="gpu_dup3",
            kind="near-duplicate",
            sources=dup,
            targets=rng.sample([d for d in devs if kind(d) == "gpu" and d not in dup], 1)
            + rng.sample([d for d in devs if kind(d) != "gpu"], 2),
        )
    )
for s in splits:
    s["n_src"] = len(s["sources"])
    s["src_kinds"] = sorted({kind(d) for d in s["sources"]})
    s["tgt_kinds"] = [kind(d) for d in s["targets"]]
json.dump(dict(seed=SEED, splits=splits), open(f"{WORK}/splits.json", "w"), indent=1)
for s in splits:
    print(s["space"], s["name"], s["n_src"], ",".join(s["sources"]), "->", ",".join(s["targets"]))
