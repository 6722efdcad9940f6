from pathlib import Path
import collections
import glob
import json
import math
import os
import statistics as st

H = str(Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets" / "latency" / "help")
WORK = os.environ.get("WORK", "/tmp/nasedge_random_splits")  # results folder (splits.json, runs/)


rows, fails = [], []
for mf in sorted(glob.glob(f"{WORK}/runs/*.meta.json")):
    m = json.load(open(mf))
    base = mf[: -len(".meta.json")]
    err = open(base + ".err").read()
    out = open(base + ".json").read()
    s = m["split"]
    if m["rc"] != 0 or err.strip():
        fails.append((m["cmd"], m["rc"], err.strip()[-800:]))
    if m["rc"] != 0:
        continue
    d = json.loads(out)
    for t, v in d["targets"].items():
        r = dict(
            space=s["space"],
            split=s["name"],
            kind=s["kind"],
            n_src=s["n_src"],
            shots=m["shots"],
            target=t,
            tkind=s["tgt_kinds"][s["targets"].index(t)],
            src_kinds=s["src_kinds"],
            secs=m["seconds"] / len(s["targets"]) / (1 if m["shots"] == 10 else 3),
        )
        for p, x in v.items():
            r[p] = (x["spearman"], 100 * x["within_10pct"], x["mape"], x.get("spearman_std", 0))
            if any(
                isinstance(z, float) and (math.isnan(z) or math.isinf(z))
                for z in (x["spearman"], x["mape"], x["within_10pct"])
            ):
                fails.append((m["cmd"], "NaN", f"{t} {p} {x}"))
        pf = ["flops", "regressor", "totals"]
        r["best_pf"] = (max(r[p][0] for p in pf), max(r[p][1] for p in pf))
        r["mean_pf"] = (st.mean(r[p][0] for p in pf), st.mean(r[p][1] for p in pf))
        r["gap_s"] = r["meta"][0] - r["best_pf"][0]
        r["gap_w"] = r["meta"][1] - r["best_pf"][1]
        r["worse"] = r["gap_s"] < -0.02 or r["gap_w"] < -3
        r["worse_nearest"] = r["meta"][0] < r["nearest"][0] - 0.02 or r["meta"][1] < r["nearest"][1] - 3
        rows.append(r)
json.dump(rows, open(f"{WORK}/rows.json", "w"))


def regime(r):
    return r["kind"]


def fmt(xs, i):
    return f"{st.mean(x[i] for x in xs):.3f}" if i == 0 else f"{st.mean(x[i] for x in xs):.1f}"


def table(key, title):
    print(
        f"\n### {title}\n| regime | shots | n | meta | best pf | mean pf | nearest | oracle | meta<best pf | meta<nearest |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    g = collections.defaultdict(list)
    for r in rows:
        g[(key(r), r["shots"])].append(r)
    for (k, sh), rs in sorted(g.items(), key=lambda z: (str(z[0][0]), z[0][1])):

        def cell(p, rs=rs):
            return f"{fmt([r[p] for r in rs], 0)} / {fmt([r[p] for r in rs], 1)}"

        print(
            f"| {k} | {sh} | {len(rs)} | {cell('meta')} | {cell('best_pf')} | {cell('mean_pf')} | {cell('nearest')} | {cell('oracle')} | {sum(r['worse'] for r in rs)} | {sum(r['worse_nearest'] for r in rs)} |"
        )


table(lambda r: r["space"], "by space")
table(lambda r: r["kind"], "by split kind")
table(
    lambda r: "1" if r["n_src"] == 1 else "2-4" if r["n_src"] <= 4 else "5-8" if r["n_src"] <= 8 else "9-12",
    "by number of sources",
)
table(lambda r: r["tkind"] if r["tkind"] in ("gpu", "cpu", "phone") else "other", "by target type")
table(
    lambda r: (
        "target type among sources" if r["tkind"] in r["src_kinds"] else "target type NOT among sources"
    ),
    "target type covered by sources",
)
print("\n### cases where meta < best prior-free (Spearman gap / within gap), or Spearman < 0.5 anywhere")
for r in rows:
    if r["worse"] or min(r[p][0] for p in ("meta",)) < 0.5:
        print(
            r["space"],
            r["split"],
            f"src={r['n_src']}",
            r["shots"],
            r["target"],
            "meta",
            [round(x, 3) for x in r["meta"][:3]],
            "best_pf",
            [round(x, 3) for x in r["best_pf"]],
            "nearest",
            [round(x, 3) for x in r["nearest"][:2]],
            "oracle",
            [round(x, 3) for x in r["oracle"][:2]],
            f"gap {r['gap_s']:+.3f}/{r['gap_w']:+.1f}",
        )
print("\n### low figures (any predictor Spearman < 0.3, or mape > 50)")
for r in rows:
    for p in ("meta", "flops", "regressor", "totals", "nearest", "oracle"):
        if r[p][0] < 0.3 or r[p][2] > 50:
            print(r["space"], r["split"], r["shots"], r["target"], p, [round(x, 3) for x in r[p]])
print("\n### failures")
for f in fails:
    print(f)
print("\n### time per target-seed (s)")
g = collections.defaultdict(list)
for r in rows:
    g[(r["space"], r["split"], r["n_src"])].append(r["secs"])
for k, v in sorted(g.items()):
    print(k, [round(x, 1) for x in sorted(set(v))])
