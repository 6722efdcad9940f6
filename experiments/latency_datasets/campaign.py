"""Our own latency datasets on this machine's CPU: OFA-MobileNetV3 w1.2 (the archs of HELP's ofa
dataset, so rows line up) and the CIFAR space, on the local CPU devices.

  setsid -w nice -n -5 python experiments/latency_datasets/campaign.py            # the full campaign
  python experiments/latency_datasets/campaign.py --limit 20 --out /tmp/sample    # a sample, elsewhere
  python experiments/latency_datasets/campaign.py --assemble                      # rebuild latency_ms.csv
  setsid -w nice -n -5 python experiments/latency_datasets/campaign.py --devices cpu-ort-t2 --recheck

`--recheck`, for devices with a machine check (a probe timed around every arch, protocol `probe_s`):
measure again every arch measured without the check, or while the machine ran slow, i.e. with a probe
median above the device's fastest one in the dataset by more than the tolerance (the fastest is known
only afterwards, so a pass can leave some; up to three passes, fewer when one measures nothing).

`--out DIR`: a sample outside the repository, with its own measurements (those of the repository's
dataset are not counted as done; the same archs, copied there); nothing is written into the repository.

Resumable: every group of 25 archs is written atomically per device; run the same command again to
continue. `setsid -w` gives the campaign its own session, so that it can raise its session's
scheduler priority (autogroup nice) too: see nasedge.measure.measurer.raise_priority.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/: expcli
from expcli import ArgumentParser, positive_int, run  # noqa: E402  (after the sys.path entry)

from nasedge.arch import Arch, write_archs_jsonl  # noqa: E402
from nasedge.atomic import atomic_write_bytes, atomic_write_text, check_out_dir  # noqa: E402
from nasedge.errors import NasedgeError, unknown_name  # noqa: E402
from nasedge.cost import arch_cost  # noqa: E402
from nasedge.measure import get_device  # noqa: E402
from nasedge.measure.dataset import assemble_latency_csv, measure_dataset, reference_first_order  # noqa: E402
from nasedge.measure.measurement import Measurement, read_measurements_csv  # noqa: E402
from nasedge.measure.measurer import raise_priority  # noqa: E402
from nasedge.measure.protocol import ProtocolConfig  # noqa: E402
from nasedge.progress import progress_reporter  # noqa: E402
from nasedge.spaces import get_space  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

DATA = ROOT / "latency_predictors" / "data"
# the shared datasets (HELP benchmark): $NASEDGE_DATASETS, else ../shared/datasets beside the repository
DATASETS = Path(os.environ.get("NASEDGE_DATASETS", ROOT.parent / "shared" / "datasets"))
HELP_OFA = DATASETS / "latency" / "help" / "ofa"
SPACES = ("ofa_mbv3_w1.2", "ofa_mbv3_cifar")
DEVICES = ("cpu-ort-t1", "cpu-ort-t2", "cpu-torch-t1", "cpu-torch-t2", "cpu-litert-t1")
NUM_ARCHS = 1000


def prepare_w12(directory: Path, help_dir: Path) -> None:
    """HELP's ofa arch ids 0..999 plus its 10 reference archs, as nasedge archs of ofa_mbv3_w1.2."""
    for name in ("archs.jsonl", "reference_archs.json"):
        if not (help_dir / name).is_file():
            raise NasedgeError(f"--help-ofa {help_dir}: no {name} there; expected HELP's ofa dataset")
    refs = json.loads((help_dir / "reference_archs.json").read_text())
    keep = set(range(NUM_ARCHS)) | set(refs)
    space = get_space("ofa_mbv3_w1.2")
    rows = []
    for line in (help_dir / "archs.jsonl").read_text().splitlines():
        d = json.loads(line)
        if d["arch_id"] in keep:
            arch = Arch(space.name, d["ks"], d["e"], d["d"], d["r"])
            rows.append((d["arch_id"], space.validate(arch, source=f"{help_dir}/archs.jsonl:{d['arch_id']}")))
    directory.mkdir(parents=True, exist_ok=True)
    write_archs_jsonl(directory / "archs.jsonl", rows)
    atomic_write_text(directory / "reference_archs.json", json.dumps(refs) + "\n")


def prepare_cifar(directory: Path) -> None:
    """1,000 distinct archs of ofa_mbv3_cifar (seed 0); the 10 reference archs are those at the MAC deciles."""
    space = get_space("ofa_mbv3_cifar")
    archs = space.sample_many(NUM_ARCHS, 0)
    by_macs = sorted(range(len(archs)), key=lambda i: arch_cost(archs[i], space).macs)
    refs = sorted(by_macs[int((k + 0.5) * len(archs) / 10)] for k in range(10))
    directory.mkdir(parents=True, exist_ok=True)
    write_archs_jsonl(directory / "archs.jsonl", list(enumerate(archs)))
    atomic_write_text(directory / "reference_archs.json", json.dumps(refs) + "\n")


def slow_or_unchecked(devices, directories) -> Callable[[Measurement], bool]:
    """``redo`` for measure_dataset: the archs of probed devices measured unchecked or while the machine ran slow."""
    limits = {}
    for d in devices:
        protocol = ProtocolConfig.from_dict(dict((d.config.measure or {}).get("protocol") or {}))
        if protocol.probe_s <= 0:
            continue
        probes = [m.stats.probe_ms for directory in directories if (directory / f"{d.name}.csv").is_file()
                  for m in read_measurements_csv(directory / f"{d.name}.csv") if m.stats.probe_ms is not None]
        limits[d.name] = min(probes) * (1 + protocol.probe_tolerance) if probes else None

    def redo(m: Measurement) -> bool:
        if m.device not in limits:
            return False
        return m.stats.probe_ms is None or (limits[m.device] is not None and m.stats.probe_ms > limits[m.device])

    return redo


def suspects_first(directory: Path, device: str, against: str, order: list[str]) -> list[str]:
    """``order`` sorted by ``device``'s latency relative to ``against``'s, highest first (others keep their place at the end)."""
    a = {m.arch_id: m.median_ms for m in read_measurements_csv(directory / f"{device}.csv")}
    b = {m.arch_id: m.median_ms for m in read_measurements_csv(directory / f"{against}.csv")}
    ratio = {i: a[i] / b[i] for i in order if i in a and i in b}
    return sorted(ratio, key=ratio.get, reverse=True) + [i for i in order if i not in ratio]


def main() -> int:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spaces", default=",".join(SPACES), help=f"of {', '.join(SPACES)} (default: all)")
    p.add_argument("--devices", default=",".join(DEVICES), help="local devices to measure (default: %(default)s)")
    p.add_argument("--limit", type=positive_int, help="only the first N archs (reference archs first)")
    p.add_argument("--out", type=Path, help="write here instead of latency_predictors/data (for samples: its own "
                                            "measurements, nothing written into the repository)")
    p.add_argument("--priority", type=int, default=-5, help="nice value (and autogroup nice) to run at")
    p.add_argument("--help-ofa", type=Path, help=f"HELP's ofa dataset, to prepare the w1.2 archs where they are not "
                                                 f"prepared yet (default: {HELP_OFA})")
    p.add_argument("--assemble", action="store_true", help="only rebuild latency_ms.csv from measurements/")
    p.add_argument("--recheck", action="store_true",
                   help="measure again what probed devices measured unchecked or while the machine ran slow")
    p.add_argument("--suspects-first", metavar="DEVICE",
                   help="order the archs by latency on the (first) device relative to DEVICE, highest first: "
                        "e.g. two-thread results that show little speed-up over one thread get rechecked first")
    args = p.parse_args()
    # every input checked before anything is written
    spaces = [s.strip() for s in args.spaces.split(",")]
    for space in spaces:
        if space not in SPACES:
            raise unknown_name("space (--spaces)", space, SPACES)
    devices = [get_device(d.strip()) for d in args.devices.split(",")]
    if not args.assemble:
        for d in devices:
            d.check_measurable()
    if args.suspects_first:
        get_device(args.suspects_first)
    help_ofa = args.help_ofa or HELP_OFA
    if args.help_ofa is not None and not (args.help_ofa / "archs.jsonl").is_file():
        raise NasedgeError(f"--help-ofa {args.help_ofa}: no archs.jsonl there; expected HELP's ofa dataset")
    if args.out is not None:
        check_out_dir("--out", str(args.out))
    for space in spaces:
        directory = DATA / space
        out = args.out / space if args.out else directory
        source = directory if (directory / "archs.jsonl").exists() else out  # a sample prepares its own archs
        if not (source / "archs.jsonl").exists():
            prepare_w12(source, help_ofa) if space == "ofa_mbv3_w1.2" else prepare_cifar(source)
        if source != out:  # a sample elsewhere: same archs, its own measurements (none of the tree's counted)
            for f in ("archs.jsonl", "reference_archs.json"):
                if not (out / f).exists():
                    atomic_write_bytes(out / f, (source / f).read_bytes())
        if args.assemble:
            print(assemble_latency_csv(out))
            continue
        print(f"{space}: priority: {', '.join(raise_priority(args.priority))}", flush=True)
        order = reference_first_order(out)
        if args.suspects_first:
            order = suspects_first(out / "measurements", devices[0].name, args.suspects_first, order)
        total = len(order[:args.limit] if args.limit else order)
        with progress_reporter(space, total, unit="archs", stream=sys.stdout) as update:
            def on_group(progress, remaining):
                update(total - remaining)

            t = time.perf_counter()
            meta = {"command": " ".join(sys.argv), "priority": args.priority}
            progress = measure_dataset(out, devices, order=order, limit=args.limit, meta=meta, on_group=on_group)
            for _ in range(3 if args.recheck else 0):
                redo = slow_or_unchecked(devices, [out / "measurements"])
                again = measure_dataset(out, devices, order=order, limit=args.limit,
                                        meta={**meta, "pass": "recheck"}, on_group=on_group, redo=redo)
                for name, pr in again.items():
                    progress[name].measured += pr.measured
                    progress[name].seconds += pr.seconds
                    progress[name].noisy += pr.noisy
                print(f"{space}: recheck measured {sum(pr.measured for pr in again.values())} again", flush=True)
                if not any(pr.measured for pr in again.values()):
                    break
        elapsed = time.perf_counter() - t
        assemble_latency_csv(out)
        remaining = len(order) - total
        print(f"{space}: {elapsed:.0f} s for this call")
        full = 0.0
        for name, pr in progress.items():
            if not pr.measured:  # no time per arch from this call
                print(f"  {name}: measured 0 (had {pr.done_before}), {pr.noisy} noisy")
                continue
            per = pr.seconds_per_arch
            full += per * len(order)
            print(f"  {name}: measured {pr.measured} (had {pr.done_before}), {per:.2f} s/arch, "
                  f"{pr.noisy} noisy; all {len(order)} archs: {per * len(order) / 3600:.2f} h")
        if remaining > 0 and full:
            print(f"  estimate for all {len(order)} archs on these devices: {full / 3600:.1f} h")
    return 0


if __name__ == "__main__":
    run(main)
