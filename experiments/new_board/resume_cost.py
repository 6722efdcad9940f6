"""What resuming a killed group costs, before and after a resumed group builds only the archs still to time.

One group of ``--archs`` archs is measured on ``--device`` (default ``cpu-ort-t1``; its protocol, the group the
size of the list) into a CSV with its round journal, and killed right after round ``--kill-after`` is kept (in
process, where a SIGKILL would land: the journal holds those rounds, no row is written). Then, alternately
(ABAB...), the same journal is resumed to completion in a fresh process by the code at ``--before`` (a checkout of
the earlier commit) and at ``--after`` (this tree), each from a copy of the journal, so both see the same machine
load. Prints the seconds each resume took (measure_to_csv alone, the import excluded), how many archs the journal
already settled, and whether the resumed rows agree (the settled archs' rows are the journal's rounds alone, so
every resume must give them the same medians).

  git worktree add /tmp/before <commit before the change>
  cd <repo> && OMP_NUM_THREADS=1 python experiments/new_board/resume_cost.py --before /tmp/before --after $PWD \\
      --work /tmp/resume_cost --passes 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from group_cost import _device  # the shipped device measuring in groups of a given size


def _rows(space: str, n: int):
    from nasedge.spaces import get_space

    return [(f"profile-{i}", a) for i, a in enumerate(get_space(space).sample_many(n, 0, unique=True))]


def child(args: argparse.Namespace) -> None:
    """Resume the measurement in ``--work/csv`` to completion; print seconds and the rows' medians as JSON."""
    import nasedge
    from nasedge.measure import measure_to_csv

    rows = _rows(args.space, args.archs)
    device = _device(len(rows), args.device)
    t = time.perf_counter()
    got = measure_to_csv(device, rows, Path(args.work) / "lat.csv")
    print(json.dumps({"seconds": time.perf_counter() - t, "nasedge": nasedge.__file__,
                      "median_ms": [m.median_ms for m in got], "rounds": [m.stats.rounds for m in got]}))


def killed_journal(args: argparse.Namespace) -> tuple[Path, list[bool], float]:
    """Measure the group, killed after ``--kill-after`` rounds; returns a copy of the journal, which archs it
    settles, and the seconds the killed run took."""
    from nasedge.measure import measure_to_csv
    from nasedge.measure.protocol import settled_by_log
    from nasedge.measure.round_journal import RoundJournal, arch_key, journal_path

    class Killed(BaseException):
        pass

    record, kept = RoundJournal.record, []

    def kill(self, rounds):
        record(self, rounds)
        kept.append(len(rounds))
        if len(kept) == args.kill_after:
            raise Killed

    rows = _rows(args.space, args.archs)
    device = _device(len(rows), args.device)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    RoundJournal.record = kill
    t = time.perf_counter()
    try:
        measure_to_csv(device, rows, work / "lat.csv")
        raise SystemExit("the group ended before the kill: lower --kill-after")
    except Killed:
        pass
    finally:
        RoundJournal.record = record
    seconds = time.perf_counter() - t
    journal = journal_path(work / "lat.csv", args.device)
    keep = work / "journal.copy"
    shutil.copy(journal, keep)
    log = RoundJournal(journal, args.device, [arch_key(i, a) for i, a in rows])
    return keep, settled_by_log(log, len(rows), device.protocol()), seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", help="checkout of the code before the change")
    ap.add_argument("--after", help="checkout of the code after it (this tree)")
    ap.add_argument("--work", default="/tmp/resume_cost")
    ap.add_argument("--device", default="cpu-ort-t1", help="a shipped device that measures in groups")
    ap.add_argument("--space", default="ofa_mbv3_cifar")
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--kill-after", type=int, default=11, help="rounds kept before the kill")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    keep, settled, killed_s = killed_journal(args)
    print(f"killed after {args.kill_after} rounds ({killed_s:.1f} s): the journal settles {sum(settled)} of "
          f"{args.archs} archs", flush=True)
    journal = keep.with_name(f"lat.csv.{args.device}.rounds.jsonl")
    runs: dict[str, list] = {"before": [], "after": []}
    for p in range(args.passes):
        for name in (("before", "after") if p % 2 == 0 else ("after", "before")):
            (Path(args.work) / "lat.csv").unlink(missing_ok=True)
            shutil.copy(keep, journal)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (getattr(args, name),
                                                                          os.environ.get("PYTHONPATH"))))}
            cmd = [sys.executable, __file__, "--child", "--work", args.work, "--space", args.space,
                   "--archs", str(args.archs), "--device", args.device]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if not r["nasedge"].startswith(str(Path(getattr(args, name)).resolve())):
                raise SystemExit(f"{name}: imported {r['nasedge']}, not the checkout {getattr(args, name)}")
            runs[name].append(r)
            print(f"pass {p + 1} {name}: resumed in {r['seconds']:.1f} s", flush=True)
    # the settled archs' rows are the journal's rounds alone: every resume must give them the same medians
    same = len({tuple(m for m, s in zip(r["median_ms"], settled) if s) for v in runs.values() for r in v}) == 1
    summary = {k: sorted(round(r["seconds"], 1) for r in v) for k, v in runs.items()}
    print(json.dumps({"archs": args.archs, "settled_by_journal": sum(settled), "kill_after_rounds": args.kill_after,
                      "resume_seconds": summary, "restored_rows_equal": same}))


if __name__ == "__main__":
    main()
