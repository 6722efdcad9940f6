"""Kill -9 battery: ``measure``, ``specialize`` while profiling, ``predictor fit`` and service registration.

  cd <repo> && nice -n 10 python experiments/new_board/kill_battery.py --work /tmp/kill_battery \
      --out experiments/new_board/kill_battery.jsonl

For each kind, one uninterrupted reference run, then ``--trials`` trials: start the real command on a
tiny workload, SIGKILL it at a random time (seeded per trial), rerun it to completion, and check

- on a device that measures one arch at a time: at most one arch re-measured per kill (``counting_cli.py``
  records every arch a measurement loop starts; re-measured = archs started more than once over the killed
  run and the rerun); on one that interleaves groups (``cpu-ort-t1`` since the round journal): the kill
  falls while rounds are timed, at most the round in flight is lost (rounds timed, which ``counting_cli.py``
  records, minus rounds kept in rows and journal: at most one per arch of the group), and the rerun resumes
  exactly the rounds kept for the archs without a row, and leaves no journal behind;
- no corrupt or half-written file: the CSV reads without a repaired line, the profile / database
  reads, and no temporary file is left after the rerun;
- the same result as an uninterrupted run: the same set of archs measured (one row each) and, given
  those measurements, the same profile (predictor state, cross-validated quality) as a fit of them in
  this process; for registration, the same predictions as the reference device's.

Resumable: trials already in ``--out`` (JSON lines, one per trial, appended and fsynced) are skipped.
Prints a plain line per trial. Workloads: ``ofa_mbv3_tiny`` on ``cpu-ort-t1`` (measure, predictor fit
with the regressor predictor; the service fits with it too), the shipped CIFAR supernet on
``cpu-ort-t1`` with 6 profile archs for specialize (synthetic 32-px data for its final evaluation:
accuracy is not what is tested).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

DEVICE = "cpu-ort-t1"
TINY = "ofa_mbv3_tiny"
MEASURE_ARCHS = 8
FIT_ARCHS = 10
PROFILE_ARCHS = 6
KINDS = ("measure", "specialize", "fit", "register")


# --- the commands --------------------------------------------------------------------------------
def nasedge_cmd(*args: str) -> list[str]:
    return [sys.executable, str(HERE / "counting_cli.py"), *args]


def command(kind: str, work: Path, data: Path) -> list[str]:
    if kind == "measure":
        return nasedge_cmd("measure", "--device", DEVICE, "--space", TINY, "--num-archs", str(MEASURE_ARCHS),
                           "--out", "lat.csv")
    if kind == "fit":
        return nasedge_cmd("predictor", "fit", "--device", DEVICE, "--space", TINY, "-n", str(FIT_ARCHS),
                           "--predictor", "regressor", "--save-measurements", "lat.csv", "--profiles-dir", "profiles")
    if kind == "specialize":
        return nasedge_cmd("specialize", "--device", DEVICE, "--latency", "100ms", "--out", "out",
                           "experiment=specialize_fast", f"specialize.profile_archs={PROFILE_ARCHS}",
                           f"specialize.profile_max_archs={PROFILE_ARCHS}",
                           "specialize.top_k=1", "specialize.formats=[onnx]", "search.max_evaluations=20",
                           "specialize.test_images=64", "specialize.recalibration_images=64",
                           "data.recalibration_images=64", f"data.path={data}", "predictor.profiles_dir=profiles")
    raise ValueError(kind)


def csv_path(kind: str, work: Path) -> Path:
    # specialize keeps the measurements of a profile in the nasedge home (NASEDGE_HOME is work/home here)
    return work / ("home/measurements/cpu-ort-t1@ofa_mbv3_cifar.csv" if kind == "specialize" else "lat.csv")


def expected_rows(kind: str) -> set:
    from nasedge.predict.profile import profile_archs
    from nasedge.spaces import get_space

    if kind == "measure":
        space = get_space(TINY)
        return {(str(i), a.digest()) for i, a in enumerate(space.sample_many(MEASURE_ARCHS, 0, unique=True))}
    space, n = (TINY, FIT_ARCHS) if kind == "fit" else ("ofa_mbv3_cifar", PROFILE_ARCHS)
    return {(f"profile-{i}", a.digest()) for i, a in enumerate(profile_archs(space, n, 0))}


def environment(work: Path, calls: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "NASEDGE_HOME": str(work / "home"),
            "BATTERY_CALLS": str(calls), "PYTHONUNBUFFERED": "1"}


# --- checks --------------------------------------------------------------------------------------
def temporaries(work: Path) -> list[str]:
    return sorted(str(p.relative_to(work)) for p in work.rglob(".*.tmp"))


def read_rows(path: Path) -> tuple[list, list[str]]:
    """(measurements of DEVICE, repair warnings); raises on a corrupt file."""
    from nasedge.measure import read_measurements_csv

    if not path.exists():
        return [], []
    warnings: list[str] = []
    return [m for m in read_measurements_csv(path, warn=warnings.append) if m.device == DEVICE], warnings


def lines(path: Path) -> list[str]:
    """The arch digests a run recorded as started (its ``round`` lines left out)."""
    return [x for x in path.read_text().split() if x != "round"] if path.exists() else []


def timed_rounds(path: Path) -> int:
    """How many rounds of one arch a run recorded as timed."""
    return path.read_text().split().count("round") if path.exists() else 0


def journal_rounds(kind: str, work: Path) -> dict[str, int]:
    """Rounds kept in the round journal of the kind's CSV, per arch key (empty for one arch at a time)."""
    from nasedge.measure.round_journal import RoundJournal, journal_path

    path = journal_path(csv_path(kind, work), DEVICE)
    if not path.exists():
        return {}
    return RoundJournal(path, DEVICE, []).kept()


def group_size() -> int:
    from nasedge.measure import get_device

    return get_device(DEVICE).group_size()


def same_profile(kind: str, work: Path) -> tuple[bool, str]:
    """Whether the stored profile is what fitting the CSV's measurements in this process gives."""
    from omegaconf import OmegaConf

    from nasedge.config import compose
    from nasedge.predict import predictor_class
    from nasedge.predict.profile import fit_profile, load_profile, profile_archs

    name, space, n, folder = (("regressor", TINY, FIT_ARCHS, "profiles") if kind == "fit" else
                              ("meta", "ofa_mbv3_cifar", PROFILE_ARCHS, "profiles"))
    pcfg = OmegaConf.to_container(compose([f"predictor={name}"]).predictor, resolve=True)
    by_row = {(m.arch_id, m.arch): m for m in read_rows(csv_path(kind, work))[0]}
    rows = [(f"profile-{i}", a) for i, a in enumerate(profile_archs(space, n, 0))]
    ordered = [by_row[r] for r in rows]
    ref = fit_profile(DEVICE, space, [m.arch for m in ordered], [m.median_ms for m in ordered], name,
                      cv_folds=int(pcfg["cv_folds"]), **predictor_class(name).options_from_config(pcfg))
    stored = load_profile(DEVICE, work / folder, space)
    a, b = json.loads(stored.to_json()), json.loads(ref.to_json())
    a.pop("created"), b.pop("created")
    diff = [k for k in a if a[k] != b.get(k)]
    return not diff, ",".join(diff)


# --- a trial of a command ------------------------------------------------------------------------
def csv_rows(path: Path) -> int:
    try:
        return max(0, path.read_text().count("\n") - 1)
    except FileNotFoundError:
        return 0


def run_command(kind: str, work: Path, data: Path, calls: Path, log: Path, kill_at: float | None = None) -> dict:
    """Run the command to its end, or SIGKILL it ``kill_at`` seconds after it started its first arch (on a device
    that interleaves groups, after it timed its first round: building a group's models comes first)."""
    n = len(expected_rows(kind))
    csv = csv_path(kind, work)
    with open(log, "w") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(command(kind, work, data), cwd=work, env=environment(work, calls), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        first = last = None
        killed = False
        grouped = group_size() > 1
        while proc.poll() is None:
            now = time.monotonic()
            if first is None and calls.exists() and (not grouped or b"round" in calls.read_bytes()):
                first = now
            if kill_at is not None and first is not None and now >= first + kill_at:
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
            if last is None and first is not None and csv_rows(csv) >= n:
                last = now
            if now - t0 > 900:
                proc.kill()
            time.sleep(0.02)
        rc = proc.wait()
    out = {"rc": rc, "seconds": round(time.monotonic() - t0, 2)}
    if kill_at is not None:
        out.update(killed=killed, first_arch_at=round(first - t0, 2) if first is not None else None)
    elif first is not None and last is not None:
        out["measuring_s"] = round(last - first, 2)
    return out


def reference_timing(kind: str, work: Path, data: Path) -> dict:
    """An uninterrupted run: its duration and how long its measuring took (first arch started to last row)."""
    work.mkdir(parents=True, exist_ok=True)
    log = work / "reference.log"
    got = run_command(kind, work, data, work / "calls.txt", log)
    if got["rc"] != 0 or "measuring_s" not in got:
        raise SystemExit(f"{kind}: the reference run failed (exit {got['rc']}); see {log}")
    rows, _ = read_rows(csv_path(kind, work))
    got.update(rows=len(rows), same_set={(m.arch_id, m.arch.digest()) for m in rows} == expected_rows(kind))
    return got


def command_trial(kind: str, trial: int, work: Path, data: Path, ref: dict, rng: random.Random,
                  window: float = 1.1) -> dict:
    if work.exists():  # a retry starts afresh
        import shutil

        shutil.rmtree(work)
    work.mkdir(parents=True)
    killed_calls, rerun_calls = work / "calls-killed.txt", work / "calls-rerun.txt"
    kill_at = rng.uniform(0, window * ref["measuring_s"])  # while measuring (a little past its usual end)
    got = run_command(kind, work, data, killed_calls, work / "killed.log", kill_at)
    rec = {"kind": kind, "trial": trial, "kill_after_s": round(kill_at, 2), "killed": got["killed"],
           "first_arch_at_s": got["first_arch_at"]}
    rows, warnings = read_rows(csv_path(kind, work))
    started = lines(killed_calls)
    kept = journal_rounds(kind, work)
    done = {f"{m.arch_id}:{m.arch.digest()}" for m in rows}
    rec.update(rows_after_kill=len(rows), started_in_killed_run=len(started),
               lost_in_flight=len(started) - len(rows), temporaries_after_kill=temporaries(work),
               torn_after_kill=len(warnings))
    if group_size() > 1:  # interleaved groups: what a kill costs is counted in rounds of one arch
        # kept: the rounds of the archs with a row (in the row) and of the others (in the journal)
        to_resume = sum(v for k, v in kept.items() if k not in done)
        rec.update(rounds_timed_in_killed_run=timed_rounds(killed_calls),
                   rounds_kept_at_kill=sum(m.stats.rounds for m in rows) + to_resume, rounds_to_resume=to_resume)
        rec["rounds_lost_in_flight"] = rec["rounds_timed_in_killed_run"] - rec["rounds_kept_at_kill"]
    again = run_command(kind, work, data, rerun_calls, work / "rerun.log")
    rows, warnings = read_rows(csv_path(kind, work))
    calls = started + lines(rerun_calls)
    rec.update(rerun_rc=again["rc"], rerun_s=again["seconds"], measured_in_rerun=len(lines(rerun_calls)),
               re_measured=len(calls) - len(set(calls)), rows=len(rows),
               same_set={(m.arch_id, m.arch.digest()) for m in rows} == expected_rows(kind),
               one_row_each=len(rows) == len({m.arch_id for m in rows}), torn_after_rerun=len(warnings),
               temporaries=temporaries(work))
    if "rounds_to_resume" in rec:
        log = (work / "rerun.log").read_text()
        resumed = re.search(r"resuming (\d+) rounds timed before", log)
        rec["rounds_resumed"] = int(resumed.group(1)) if resumed else 0
        rec["journal_left"] = bool(journal_rounds(kind, work)) or any(work.rglob("*.rounds.jsonl"))
    if kind in ("fit", "specialize") and again["rc"] == 0:
        rec["same_profile"], rec["profile_diff"] = same_profile(kind, work)
    if "rounds_to_resume" in rec:  # a group: at most its round in flight lost, every round kept used again
        costs = (rec["rounds_lost_in_flight"] <= min(group_size(), len(expected_rows(kind)))
                 and rec["rounds_resumed"] == rec["rounds_to_resume"] and not rec["journal_left"])
    else:  # one arch at a time: at most the arch in flight lost, and measured again
        costs = rec["re_measured"] <= 1 and rec["lost_in_flight"] <= 1
    rec["ok"] = (again["rc"] == 0 and costs and rec["same_set"] and rec["one_row_each"] and not warnings
                 and not rec["temporaries"] and rec.get("same_profile", True))
    return rec


# --- service registration ------------------------------------------------------------------------
class Server:
    def __init__(self, work: Path, port: int, tokens: Path, log: Path):
        cmd = [sys.executable, "-m", "nasedge", "serve", "--port", str(port), "--db",
               f"sqlite:///{work / 'profiles.db'}", f"service.token_file={tokens}", "predictor=regressor",
               f"service.shipped_profiles_dir={work / 'shipped'}"]
        (work / "shipped").mkdir(exist_ok=True)
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(log, "w")
        self.proc = subprocess.Popen(cmd, cwd=work, env=environment(work, work / "unused"), stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 120) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited ({self.proc.returncode}); see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit("the server did not get ready")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


def registration_setup(work: Path, fit_csv: Path) -> dict:
    """A token file, the registration body (the fit reference's measurements) and the reference device."""
    import httpx

    from nasedge.service.auth import create_token

    work.mkdir(parents=True, exist_ok=True)
    token, stored = create_token()
    (work / "tokens").write_text(stored + "\n")
    rows, _ = read_rows(fit_csv)
    body = {"space": TINY, "measurements": [{"arch": m.arch.to_dict(), "latency_ms": m.median_ms} for m in rows]}
    port = free_port()
    fresh = work / "reference-db"
    if fresh.exists():
        import shutil

        shutil.rmtree(fresh)
    fresh.mkdir()
    server = Server(fresh, port, work / "tokens", work / "serve-reference.log")
    server.wait_ready()
    t = time.monotonic()
    r = httpx.post(f"{server.url}/v1/devices", json={"name": "reference", **body},
                   headers={"Authorization": f"Bearer {token}"}, timeout=300)
    seconds = time.monotonic() - t
    if r.status_code != 201:
        raise SystemExit(f"register: the reference registration failed: {r.status_code} {r.text}")
    query = {"archs": [m["arch"] for m in body["measurements"]]}
    expected = httpx.post(f"{server.url}/v1/predict", json={"device": "reference", **query}).json()["latency_ms"]
    server.kill()
    return {"token": token, "body": body, "port": port, "seconds": seconds, "query": query, "expected": expected}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def register_trial(trial: int, work: Path, setup: dict, rng: random.Random) -> dict:
    import httpx

    from nasedge.service.storage import Storage

    name = f"dev-{trial}"
    headers = {"Authorization": f"Bearer {setup['token']}"}
    server = Server(work, setup["port"], work / "tokens", work / f"serve-{trial}.log")
    server.wait_ready()
    answer: dict = {}

    def register() -> None:
        try:
            r = httpx.post(f"{server.url}/v1/devices", json={"name": name, **setup["body"]}, headers=headers,
                           timeout=300)
            answer["status"] = r.status_code
        except httpx.HTTPError:
            answer["status"] = None  # the server died under it

    kill_at = rng.uniform(0.0, 1.2) * setup["seconds"]
    thread = threading.Thread(target=register)
    t = time.monotonic()
    thread.start()
    time.sleep(kill_at)
    server.kill()
    thread.join()
    rec = {"kind": "register", "trial": trial, "kill_after_s": round(time.monotonic() - t, 2),
           "answered": answer["status"]}
    storage = Storage(f"sqlite:///{work / 'profiles.db'}")
    rec["db_problems_after_kill"] = storage.problems()
    storage.close()
    server = Server(work, setup["port"], work / "tokens", work / f"serve-{trial}-rerun.log")
    server.wait_ready()
    present = httpx.get(f"{server.url}/v1/devices/{name}").status_code == 200
    rec["registered_by_killed_run"] = present
    if not present:  # the rerun: register again, to completion
        rec["rerun_status"] = httpx.post(f"{server.url}/v1/devices", json={"name": name, **setup["body"]},
                                         headers=headers, timeout=300).status_code
    info = httpx.get(f"{server.url}/v1/devices/{name}").json()
    got = httpx.post(f"{server.url}/v1/predict", json={"device": name, **setup["query"]}).json()["latency_ms"]
    server.kill()
    storage = Storage(f"sqlite:///{work / 'profiles.db'}")
    rec.update(db_problems=storage.problems(), measurements=info.get("measurements"),
               same_predictions=got == setup["expected"], temporaries=temporaries(work),
               answered_201_survived=answer["status"] != 201 or present)
    storage.close()
    rec["ok"] = (not rec["db_problems_after_kill"] and not rec["db_problems"] and rec["same_predictions"]
                 and rec["measurements"] == len(setup["body"]["measurements"]) and not rec["temporaries"]
                 and rec["answered_201_survived"])
    return rec


# --- the battery ---------------------------------------------------------------------------------
def append_line(path: Path, record: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def synthetic_data(path: Path) -> Path:
    if not path.exists():
        from tests.synthetic_data import write_dataset

        write_dataset(path, n_train=128, n_test=64, size=32)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the trials' files")
    ap.add_argument("--out", type=Path, required=True, help="results, one JSON line per trial (resumed)")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--only", metavar="A:B", help="run trials A..B-1 only (several processes share a kind)")
    ap.add_argument("--retry-unkilled", action="store_true",
                    help="run again the trials whose command ended before its kill time (the machine got faster "
                         "than in the reference run) or, for specialize, was killed after profiling; the kill "
                         "within the first half of the reference's measuring time")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--summary", action="store_true", help="print the results table of --out (markdown) and exit")
    args = ap.parse_args()
    if args.summary:
        records = {}
        for x in args.out.read_text().splitlines():
            if x.strip():
                r = json.loads(x)
                records[(r["kind"], r["trial"])] = r  # a retried trial: its last record
        print(summary(list(records.values())))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    done = {}
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[(r["kind"], r["trial"])] = r
    data = synthetic_data(args.work / "data32.npz")
    t_all = time.monotonic()
    for kind in args.kinds.split(","):
        ref = done.get((kind, "reference"))
        if ref is None:
            if kind == "register":
                fit_ref = args.work / "fit" / "reference"
                if not csv_path("fit", fit_ref).exists():
                    reference_timing("fit", fit_ref, data)
                setup = registration_setup(args.work / "register", csv_path("fit", fit_ref))
                ref = {"kind": kind, "trial": "reference", "seconds": round(setup["seconds"], 2)}
            else:
                ref = {"kind": kind, "trial": "reference", **reference_timing(kind, args.work / kind / "reference", data)}
            append_line(args.out, ref)
            print(f"kill battery: {kind} reference: {json.dumps(ref)}", flush=True)
        elif kind == "register":
            setup = registration_setup(args.work / "register", csv_path("fit", args.work / "fit" / "reference"))
        first, last = map(int, args.only.split(":")) if args.only else (0, args.trials)
        for trial in range(first, min(last, args.trials)):
            prev = done.get((kind, trial), {})
            retry = args.retry_unkilled and (prev.get("killed") is False or  # specialize: kill *while profiling*
                                             kind == "specialize" and prev.get("rows_after_kill", 0) >= PROFILE_ARCHS)
            if (kind, trial) in done and not retry:
                continue
            rng = random.Random(f"{args.seed}-{kind}-{trial}" + ("-retry" if retry else ""))
            t = time.monotonic()
            if kind == "register":
                rec = register_trial(trial, args.work / "register", setup, rng)
            else:
                rec = command_trial(kind, trial, args.work / kind / f"trial-{trial}", data, ref, rng,
                                    0.5 if retry else 1.1)
                rec["retry"] = retry
            rec["trial_s"] = round(time.monotonic() - t, 1)
            append_line(args.out, rec)
            print(f"kill battery: {kind} trial {trial + 1}/{args.trials}: {'ok' if rec['ok'] else 'FAILED'}, "
                  f"killed after {rec['kill_after_s']} s, re-measured {rec.get('re_measured', '-')}, "
                  f"{rec['trial_s']} s ({(time.monotonic() - t_all) / 60:.1f} min in all)", flush=True)


def summary(records: list[dict]) -> str:
    """One markdown row per kind: trials, passed, killed while measuring, archs lost / re-measured, checks."""
    out = ["| kind | trials | ok | killed mid-run | rows kept at kill (median) | lost in flight (max) | "
           "re-measured (max) | same archs | same profile / predictions | corrupt or repaired files | "
           "temporaries left | s per trial (median) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for kind in KINDS:
        rs = [r for r in records if r["kind"] == kind and r["trial"] != "reference"]
        if not rs:
            continue
        med = lambda xs: sorted(xs)[len(xs) // 2] if xs else "-"  # noqa: E731
        if kind == "register":
            killed = sum(r["answered"] is None for r in rs)
            rows = f"{sum(r['registered_by_killed_run'] for r in rs)} registered before the kill"
            lost = remeasured = "-"
            same_set = "-"
            same = sum(r["same_predictions"] for r in rs)
            bad = sum(bool(r["db_problems_after_kill"] or r["db_problems"]) for r in rs)
        elif "rounds_to_resume" in rs[0]:  # interleaved groups: counted in rounds of one arch
            killed = sum(r["killed"] for r in rs)
            rows = (f"{med([r['rows_after_kill'] for r in rs])} rows, {med([r['rounds_kept_at_kill'] for r in rs])} "
                    "rounds")
            lost = f"{max(r['rounds_lost_in_flight'] for r in rs)} rounds"
            remeasured = f"{sum(r['rounds_resumed'] == r['rounds_to_resume'] for r in rs)} of {len(rs)} resumed all kept"
            same_set = sum(r["same_set"] and r["one_row_each"] for r in rs)
            same = sum(r.get("same_profile", False) for r in rs) if kind != "measure" else "-"
            bad = sum(bool(r["torn_after_kill"] or r["torn_after_rerun"]) or r["rerun_rc"] != 0 for r in rs)
        else:
            killed = sum(r["killed"] for r in rs)
            rows = med([r["rows_after_kill"] for r in rs])
            lost = max(r["lost_in_flight"] for r in rs)
            remeasured = max(r["re_measured"] for r in rs)
            same_set = sum(r["same_set"] and r["one_row_each"] for r in rs)
            same = sum(r.get("same_profile", False) for r in rs) if kind != "measure" else "-"
            bad = sum(bool(r["torn_after_kill"] or r["torn_after_rerun"]) or r["rerun_rc"] != 0 for r in rs)
        temps = sum(bool(r["temporaries"]) for r in rs)
        out.append(f"| {kind} | {len(rs)} | {sum(r['ok'] for r in rs)} | {killed} | {rows} | {lost} | {remeasured} | "
                   f"{same_set} | {same} | {bad} | {temps} | {med([r['trial_s'] for r in rs])} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
