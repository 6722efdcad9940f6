"""A training run killed mid-epoch and restarted ends where an uninterrupted run ends.

    python experiments/cifar10_ofa/resume_check.py [--data $NASEDGE_CIFAR10] [--out runs/resume_check]

Real CIFAR-10 images (5,000 training, 2,000 test, resized to 24 px) and every progressive-shrinking
phase of the tiny space, on the CPU. Run A is uninterrupted. Run B is the same command, killed with
SIGKILL a moment after its second epoch checkpoint (mid-epoch), then started again until it finishes
(at most ``--max-restarts`` times). Prints both runs' per-epoch top-1 and whether the final weights are identical.

``--data`` defaults to ``$NASEDGE_CIFAR10``, else ``../shared/datasets/cifar10-jpeg.npz`` beside the repository;
``--out`` to ``runs/resume_check`` in the repository. The out folder must be new, empty, or one this script made
(it holds ``.resume_check``); only what the script writes there (``A``, ``B``, their logs, ``result.json``) is
replaced. A run that fails stops the check with its own error line (exit 2).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # experiments/: expcli
from expcli import CIFAR10, REPO, ArgumentParser, positive_int, run  # noqa: E402  (after the sys.path entry)

from nasedge.atomic import atomic_write_text, check_out_dir  # noqa: E402
from nasedge.errors import NasedgeError  # noqa: E402

MARK = ".resume_check"  # in an out folder this script made: the folder it may clear again
MADE = ["A", "B", "A.log", "B.log", "result.json"]  # what it writes there, all it ever removes


def prepare_out(out: Path) -> None:
    """``out`` new, empty or marked as this script's (its earlier results removed); else a one-line error."""
    check_out_dir("--out", str(out))
    if out.exists() and any(out.iterdir()) and not (out / MARK).exists():
        raise NasedgeError(f"--out {out}: the folder holds files this script did not make; give a new or empty "
                           f"folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARK).touch()
    for name in MADE:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def failed(name: str, returncode: int, log: Path) -> NasedgeError:
    """The error of a run that exited with ``returncode``: its last line on stderr (its own one-line error)."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()] if log.exists() else []
    last = lines[-1].strip() if lines else "(nothing on stderr)"
    return NasedgeError(f"run {name} failed (exit {returncode}; log {log}): {last}")


def main() -> int:
    ap = ArgumentParser(prog="resume_check.py")
    ap.add_argument("--data", default=str(CIFAR10), help="the packed CIFAR-10 file (default: %(default)s)")
    ap.add_argument("--out", default=str(REPO / "runs" / "resume_check"), help="(default: %(default)s)")
    ap.add_argument("--max-restarts", type=positive_int, default=3,
                    help="restarts of run B after its kill before the check gives up (default: %(default)s)")
    args = ap.parse_args()
    data = Path(args.data)
    if not data.is_file():
        raise NasedgeError(f"--data {data}: {'is a folder' if data.is_dir() else 'no such file'}; expected the "
                           f"packed CIFAR-10 file (cifar10-jpeg.npz)")
    out = Path(args.out)
    prepare_out(out)
    common = ["search_space=ofa_mbv3_tiny", "train=tiny", "data=cifar10", f"data.path={data.resolve()}",
              "data.image_size=24", "data.limit_train=5000", "data.limit_test=2000", "data.recalibration_images=500"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    cmd = lambda d: [sys.executable, "-m", "nasedge.cli", "train", *common, f"train.out_dir={out / d}"]  # noqa: E731

    def train(name: str, stdout=subprocess.DEVNULL) -> subprocess.Popen:
        with open(out / f"{name}.log", "a") as log:  # the child keeps its own descriptor
            return subprocess.Popen(cmd(name), env=env, stdout=stdout, stderr=log, text=True)

    t = time.time()
    print(f"run A (uninterrupted): training, log {out / 'A.log'}", flush=True)
    proc = train("A")
    if proc.wait():
        raise failed("A", proc.returncode, out / "A.log")
    took = time.time() - t
    print(f"run A (uninterrupted): {took:.0f} s", flush=True)
    proc = train("B")
    manifest = out / "B" / "checkpoint" / "checkpoint.json"
    deadline = time.time() + 2 * took + 60  # B's first checkpoints come well before A's whole run took
    try:
        while not (manifest.exists() and json.loads(manifest.read_text())["sequence"] >= 1):
            if proc.poll() is not None:
                if proc.returncode:
                    raise failed("B", proc.returncode, out / "B.log")
                raise NasedgeError("run B finished before its second checkpoint: nothing to kill")
            if time.time() > deadline:
                raise NasedgeError(f"run B wrote no second checkpoint in {time.time() - t - took:.0f} s "
                                   f"(run A took {took:.0f} s); see {out / 'B.log'}")
            time.sleep(0.1)
        time.sleep(2.0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    state = json.loads(manifest.read_text())
    print(f"run B killed (SIGKILL) after checkpoint {state['sequence']}; restarting", flush=True)
    for _ in range(args.max_restarts):
        r = train("B", stdout=subprocess.PIPE)
        stdout, _ = r.communicate()
        resumed = [line for line in stdout.splitlines() if line.startswith("resumed from")]
        print("  " + (resumed[0] if resumed else "(no resume line)"), flush=True)
        if r.returncode == 0:
            break
        print(f"  {failed('B', r.returncode, out / 'B.log')}", flush=True)
    else:
        raise NasedgeError(f"run B did not finish in {args.max_restarts} restarts; see {out / 'B.log'}")
    a = json.loads((out / "A" / "metrics.json").read_text())
    b = json.loads((out / "B" / "metrics.json").read_text())
    print(f"{'phase':8s} {'epoch':>5s}  {'A max':>6s} {'B max':>6s}  {'A min':>6s} {'B min':>6s}")
    for x, y in zip(a, b):
        print(f"{x['phase']:8s} {x['epoch']:5d}  {x['top1_max']:6.2f} {y['top1_max']:6.2f}  "
              f"{x['top1_min']:6.2f} {y['top1_min']:6.2f}")
    import torch

    sa = torch.load(out / "A" / "supernet.pt", weights_only=True)["state_dict"]
    sb = torch.load(out / "B" / "supernet.pt", weights_only=True)["state_dict"]
    same = all(torch.equal(sa[k], sb[k]) for k in sa)
    print(f"final weights identical: {same}")
    atomic_write_text(out / "result.json", json.dumps({"A": a, "B": b, "identical_weights": same}, indent=1))
    return 0


if __name__ == "__main__":
    run(main)
