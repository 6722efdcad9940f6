"""`nasedge serve` as users run it: a separate process on a loopback port, its database, kill -9."""

from __future__ import annotations

import csv
import random
import signal
import threading
import time

import httpx
import numpy as np
import pytest

from nasedge.cli import main
from nasedge.errors import NasedgeError
from nasedge.client import PredictorClient
from nasedge.predict.dataset import read_arch_latency_csv
from nasedge.predict.profile import load_profile
from nasedge.service.storage import Storage

from .conftest import body, free_socket


def _write_csv(path, pairs) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "latency_ms"])
        for arch, ms in pairs:
            w.writerow([arch.to_json(), repr(ms)])


def _token_file(tmp_path, capsys) -> tuple[str, str]:
    path = tmp_path / "tokens"
    assert main(["serve", "token", "create", "--file", str(path)]) == 0
    token = capsys.readouterr().out.split("it is not stored anywhere): ")[1].split()[0]
    return token, str(path)


def _serve(server_process, tmp_path, tokens: str, log_name: str = "serve.log", db: str | None = None):
    (tmp_path / "shipped").mkdir(exist_ok=True)
    return server_process(["-m", "nasedge.cli", "serve", "--port", "0", "--db",
                           db or f"sqlite:///{tmp_path / 'profiles.db'}", f"service.token_file={tokens}",
                           f"service.shipped_profiles_dir={tmp_path / 'shipped'}"],
                          log=tmp_path / log_name)


def test_registration_gives_the_offline_fit(tmp_path, capsys, server_process, measurements, help_ofa):
    """POST /v1/devices with 20 measurements, then /v1/predict == `nasedge predictor fit` on the same CSV."""
    token, tokens = _token_file(tmp_path, capsys)
    _write_csv(tmp_path / "lat.csv", measurements)
    server = _serve(server_process, tmp_path, tokens)
    fit = ["predictor", "fit", "--device", "gpu-a", "--measurements", str(tmp_path / "lat.csv"),
           "--profiles-dir", str(tmp_path / "off")]
    assert main(fit) == 0, capsys.readouterr().err  # offline, in this process while the server starts
    server.wait_ready()
    enc, archs, latency = read_arch_latency_csv(tmp_path / "lat.csv")
    queries = help_ofa.items[:100]
    with PredictorClient(server.url, token=token) as client:
        info = client.register("gpu-a", enc.name, zip(archs, latency))
        got, meta = client.predict_with_info("gpu-a", queries)
    profile = load_profile("gpu-a", tmp_path / "off")
    assert info["quality"] == profile.quality and meta["predictor"] == profile.predictor == "meta"
    assert np.array_equal(got, profile.predict(queries))
    server.proc.send_signal(signal.SIGINT)  # Ctrl-C: how a server is stopped, not an error
    assert server.proc.wait(timeout=30) == 0


@pytest.mark.slow  # a PostgreSQL server of its own, restarted; three server processes
def test_serve_on_postgresql_keeps_its_devices_across_restarts(tmp_path, capsys, server_process, measurements,
                                                              help_ofa):
    """`nasedge serve` on a PostgreSQL URL as users run it: register and predict over HTTP; a restart of the
    server finds the device, the same version and numbers; a restart of PostgreSQL under a running server
    (connections dropped) is not noticed by its clients."""
    from .postgres import Unavailable, start_cluster

    try:
        cluster = start_cluster()
    except Unavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    try:
        token, tokens = _token_file(tmp_path, capsys)
        url, auth = cluster.database(), {"Authorization": f"Bearer {token}"}
        query = {"device": "gpu-a", "archs": [a.to_dict() for a in help_ofa.items[:50]]}
        server = _serve(server_process, tmp_path, tokens, db=url)
        server.wait_ready()
        assert "database postgresql+psycopg://nasedge:***@127.0.0.1:" in (tmp_path / "serve.log").read_text()
        r = httpx.post(f"{server.url}/v1/devices", json=body("gpu-a", measurements), headers=auth,
                       timeout=120)
        assert r.status_code == 201, r.text
        registered = r.json()
        before = httpx.post(f"{server.url}/v1/predict", json=query).json()
        assert before["version"] == registered["version"] and len(before["latency_ms"]) == 50
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0
        server = _serve(server_process, tmp_path, tokens, "serve-again.log", db=url)
        server.wait_ready()
        info = httpx.get(f"{server.url}/v1/devices/gpu-a").json()
        assert info == {k: registered[k] for k in info}
        assert httpx.post(f"{server.url}/v1/predict", json=query).json() == before
        cluster.restart()
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert httpx.post(f"{server.url}/v1/predict", json=query).json() == before
        r = httpx.post(f"{server.url}/v1/devices", json=body("gpu-a", measurements), headers=auth,
                       timeout=120)
        assert (r.status_code, r.json()["version"]) == (200, registered["version"])  # a retry: what is stored
        assert Storage(url).problems() == []
    finally:
        cluster.stop()


def _crash_trials(n: int, tmp_path, capsys, server_process, measurements, seed: int = 0) -> dict:
    """Register, kill -9 the server at a random moment of a registration, restart, check; ``n`` times."""
    token, tokens = _token_file(tmp_path, capsys)
    rng = random.Random(seed)
    url = f"sqlite:///{tmp_path / 'profiles.db'}"
    server = _serve(server_process, tmp_path, tokens)
    server.wait_ready()
    start = time.monotonic()
    r = httpx.post(f"{server.url}/v1/devices", json=body("base", measurements),
                   headers={"Authorization": f"Bearer {token}"}, timeout=120)
    assert r.status_code == 201
    duration = time.monotonic() - start
    query = {"archs": [a.to_dict() for a, _ in measurements]}
    expected = httpx.post(f"{server.url}/v1/predict", json={"device": "base", **query}).json()["latency_ms"]
    tally = {"absent": 0, "present": 0, "answered_201": 0}
    for trial in range(n):
        name = f"dev-{trial}"
        answer = {}

        def register() -> None:
            try:
                r = httpx.post(f"{server.url}/v1/devices", json=body(name, measurements),
                               headers={"Authorization": f"Bearer {token}"}, timeout=120)
                answer["status"] = r.status_code
            except httpx.HTTPError:
                answer["status"] = None  # the server died under it

        thread = threading.Thread(target=register)
        thread.start()
        time.sleep(rng.uniform(0.2, 1.15) * duration)
        server.kill()
        thread.join()
        s = Storage(url)
        assert s.problems() == [], f"trial {trial}"
        s.close()
        server = _serve(server_process, tmp_path, tokens, f"serve-{trial}.log")
        server.wait_ready()
        r = httpx.get(f"{server.url}/v1/devices/{name}")
        if answer["status"] == 201:
            tally["answered_201"] += 1
            assert r.status_code == 200, "a registration answered 201 must survive the crash"
        if r.status_code == 404:
            tally["absent"] += 1
            continue
        tally["present"] += 1
        assert r.json()["measurements"] == 20
        got = httpx.post(f"{server.url}/v1/predict", json={"device": name, **query}).json()["latency_ms"]
        assert got == expected  # fully registered: the same profile as the same measurements gave before
    assert httpx.get(f"{server.url}/v1/devices/base").status_code == 200
    return tally


@pytest.mark.slow  # server processes killed; tests/service/test_storage.py kills -9 inside the transaction by default
def test_kill_9_during_registration(tmp_path, capsys, server_process, measurements):
    tally = _crash_trials(1, tmp_path, capsys, server_process, measurements, seed=1)
    assert tally["absent"] + tally["present"] == 1


@pytest.mark.slow
def test_kill_9_during_registration_many_times(tmp_path, capsys, server_process, measurements):
    tally = _crash_trials(20, tmp_path, capsys, server_process, measurements, seed=2)
    print(f"\nkill -9 trials: {tally}")
    assert tally["absent"] + tally["present"] == 20


def test_bad_configuration_is_one_line(tmp_path, capsys):
    assert main(["serve", "service.write_token_hashes=[nope]"]) == 2
    assert "service.write_token_hashes: value 'nope'" in capsys.readouterr().err
    assert main(["serve", "service.max_batch=0"]) == 2
    assert "service.max_batch: value 0 is not valid" in capsys.readouterr().err
    assert main(["serve", "service.batch_inline_archs=-1"]) == 2
    assert "service.batch_inline_archs: value -1 is not valid; expected a non-negative integer" in capsys.readouterr().err
    # a predictor the service cannot fit at a registration: refused at start, not as a 422 to every client
    assert main(["serve", "predictor=lut", "--port", "0"]) == 2
    assert "predictor (the service fits it at each registration): predictor 'lut' needs a latency table" in (
        capsys.readouterr().err)
    assert main(["serve", "service.cv_folds=3"]) == 2
    assert "use predictor=NAME" in capsys.readouterr().err
    assert main(["serve", "--db", "nonsense://", "--port", "0"]) == 2
    assert "service.db" in capsys.readouterr().err
    assert main(["serve", "predictor.cv_folds=0"]) == 2  # the service copies it: named as the user set it
    assert "predictor.cv_folds: value 0 is not valid" in capsys.readouterr().err
    assert main(["serve", "predictor.cv_folds=2"]) == 2  # folds that say too little to print as a quality
    assert "predictor.cv_folds: value 2 is not valid; expected an integer >= 3" in capsys.readouterr().err
    assert main(["serve", "service.log_level=loud"]) == 2
    assert "service.log_level: value 'loud' is not valid; expected one of critical" in capsys.readouterr().err
    # every Ray setting can be set (four could not: the YAML did not write them) and is checked at start
    for setting, message in (("batch_wait_timeout_s=-1", "expected a number of seconds >= 0"),
                             ("replica_cpus=0", "expected a number of CPUs > 0"),
                             ("max_ongoing_requests=0", "expected a positive integer"),
                             ("num_cpus=0", "expected a positive integer or null"),
                             ("address=''", "expected a Ray address")):
        assert main(["serve", f"service.ray.{setting}"]) == 2
        assert f"service.ray.{setting.split('=')[0]}: value " in (err := capsys.readouterr().err) and message in err
    assert main(["serve", "service.host="]) == 2  # uvicorn would listen on every interface
    assert "service.host: value '' is not valid" in capsys.readouterr().err
    (tmp_path / "binary").write_bytes(bytes(range(256)))
    assert main(["serve", f"service.token_file={tmp_path / 'binary'}"]) == 2
    assert "binary: not a token file (not text)" in capsys.readouterr().err
    (tmp_path / "empty").write_text("# no hash yet\n")
    assert main(["serve", f"service.token_file={tmp_path / 'empty'}"]) == 2
    assert "empty: holds no token hash; add one with `nasedge serve token create" in capsys.readouterr().err


def test_a_database_that_cannot_be_written_is_refused_at_start_when_writes_are_on(tmp_path, capsys, monkeypatch):
    """SQLite opened read-only (mode=ro): every registration would be a 500; said at start instead. Without
    write tokens a read-only database is what a read-only service needs, so it is not refused."""
    path = tmp_path / "p.db"
    Storage(f"sqlite:///{path}").migrate()
    ro = f"sqlite:///file:{path}?mode=ro&uri=true"
    token_file = tmp_path / "tokens"
    assert main(["serve", "token", "create", "--file", str(token_file)]) == 0
    capsys.readouterr()
    assert main(["serve", "--port", "0", "--db", ro, f"service.token_file={token_file}"]) == 2
    err = capsys.readouterr().err
    assert "cannot be written (attempt to write a readonly database)" in err and "nasedge serve: http" not in err
    with pytest.raises(NasedgeError, match="cannot be written"):
        Storage(ro).check_writable()
    Storage(f"sqlite:///{path}").check_writable()  # the same file, writable
    monkeypatch.chdir(tmp_path)
    Storage(f"sqlite:///file:{tmp_path}/sub/q.db?uri=true").migrate()  # a URI's folder is its file's, not ./file:
    assert (tmp_path / "sub" / "q.db").is_file() and not (tmp_path / "file:").exists()


def test_a_port_in_use_is_one_line(tmp_path, capsys):
    """Refused before the server announces itself, naming the flag and the address; --ray cannot take port 0."""
    db = f"sqlite:///{tmp_path / 'p.db'}"
    with free_socket() as taken:
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--db", db]) == 2
        err = capsys.readouterr().err
        assert f"--port {port}: cannot listen on 127.0.0.1:{port}" in err and "nasedge serve: http" not in err
        assert main(["serve", f"service.port={port}", "--db", db, "--workers", "2"]) == 2
        assert f"service.port {port}: cannot listen" in capsys.readouterr().err
    assert main(["serve", "--ray", "--port", "0", "--db", db]) == 2
    assert "--port 0: Ray Serve listens on a fixed port" in capsys.readouterr().err
    assert main(["serve", "--host", "nosuch.invalid", "--port", "0", "--db", db]) == 2
    assert "--host 'nosuch.invalid': not an address of this machine" in capsys.readouterr().err


@pytest.mark.slow  # two worker processes start (~10 s)
def test_workers_serve_the_port_they_announce_without_nagle_delays(tmp_path, server_process):
    """--port 0 --workers 2: the printed address serves, and a response does not wait for a delayed
    acknowledgement (about 40 ms a request where the workers' socket leaves TCP_NODELAY off)."""
    server = server_process(["-m", "nasedge.cli", "serve", "--port", "0", "--workers", "2", "--db",
                             f"sqlite:///{tmp_path / 'p.db'}"], log=tmp_path / "serve.log")
    server.wait_ready()
    with httpx.Client() as client:
        client.get(f"{server.url}/v1/devices").raise_for_status()
        times = []
        for _ in range(20):
            start = time.perf_counter()
            client.get(f"{server.url}/v1/devices").raise_for_status()
            times.append(time.perf_counter() - start)
    assert sorted(times)[10] < 0.02, times
    server.proc.send_signal(signal.SIGTERM)  # how a service manager stops it: a clean stop, as Ctrl-C is
    assert server.proc.wait(timeout=30) == 0


def test_sigterm_stops_a_server_as_ctrl_c_does(tmp_path, server_process):
    server = server_process(["-m", "nasedge.cli", "serve", "--port", "0", "--db", f"sqlite:///{tmp_path / 'p.db'}"],
                            log=tmp_path / "serve.log")
    server.wait_ready()
    server.proc.send_signal(signal.SIGTERM)  # systemd counts 143 as a failed unit
    assert server.proc.wait(timeout=30) == 0
    assert "terminated" not in (tmp_path / "serve.log").read_text()
