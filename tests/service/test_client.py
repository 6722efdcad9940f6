"""PredictorClient against a real server: every call, errors as NasedgeError, the remote predictor adapter."""

from __future__ import annotations

import numpy as np
import pytest

from nasedge.client import PredictorClient, ServiceError
from nasedge.errors import NasedgeError
from nasedge.predict.profile import fit_profile

from .conftest import SPACE, free_port


def test_client_end_to_end(serve, token, measurements, help_ofa):
    queries = help_ofa.items[200:260]
    with serve(max_batch=25) as url, PredictorClient(url, token=token, batch_size=25) as client:
        assert client.ready() and SPACE in client.spaces()
        refs = client.reference_archs(SPACE)
        assert len(refs) == 10 and all(r in {a for a, _ in measurements} for r in refs)
        from nasedge.predict.profile import profile_archs

        assert client.archs_to_measure(SPACE) == profile_archs(SPACE, 20, 0)
        assert client.archs_to_measure(SPACE, n=12, seed=2, random=True) == profile_archs(SPACE, 12, 2, active=False)
        info = client.register("gpu-a", SPACE, measurements)
        # the registration's answer also says what the measurement check found (not stored with the device)
        assert (info.pop("noisy_measurements"), info.pop("warnings")) == (0, [])
        assert info["adaptation"].startswith("prior") and info.pop("more_measurements") == ""
        assert info["name"] == "gpu-a" and info["measurements"] == 20
        assert [d["name"] for d in client.devices()] == ["gpu-a"] and client.device("gpu-a") == info
        local = fit_profile("gpu-a", SPACE, [a for a, _ in measurements], [ms for _, ms in measurements],
                            cv_folds=5)
        got = client.predict("gpu-a", queries)  # 60 archs: three requests of at most 25
        # bit for bit against the same calls made locally (OpenBLAS's matrix-vector product rounds a row
        # differently depending on the rows around it: one call of 60 can differ from three in the last bit)
        chunks = np.concatenate([local.predict(queries[i:i + 25]) for i in range(0, 60, 25)])
        assert got.dtype == np.float64 and np.array_equal(got, chunks)
        np.testing.assert_allclose(got, local.predict(queries), rtol=1e-14, atol=0)
        remote = client.latency_predictor("gpu-a")
        assert remote.space == SPACE
        assert np.array_equal(remote.predict(queries[:3]), local.predict(queries[:3]))
        assert remote.predict([]).shape == (0,)
        client.delete("gpu-a")
        with pytest.raises(ServiceError, match=r"HTTP 404: no latency profile for device 'gpu-a'") as exc:
            client.predict("gpu-a", queries[:1])
        assert exc.value.status == 404


def test_client_errors(serve, token, measurements, help_ofa):
    with serve() as url:
        anonymous = PredictorClient(url)
        with pytest.raises(ServiceError, match=r"POST .*/v1/devices: HTTP 401: missing bearer token"):
            anonymous.register("gpu-a", SPACE, measurements)
        bad = help_ofa.items[0].to_dict()
        bad["resolution"] = 7
        PredictorClient(url, token=token).register("gpu-a", SPACE, measurements)
        with pytest.raises(ServiceError, match=r"HTTP 422: archs\[1\].resolution: value 7") as exc:
            anonymous.predict("gpu-a", [help_ofa.items[0], bad])
        assert exc.value.errors[0]["field"] == "archs[1].resolution"
        with pytest.raises(NasedgeError, match="cannot send int"):
            anonymous.predict("gpu-a", [3])
        writer = PredictorClient(url, token=token)
        # a name is one path segment: "gpu-a#x" deleted gpu-a, "gpu-a/../gpu-a" read it
        for name in ("gpu-a#x", "gpu-a?x=1", "gpu-a/../gpu-a"):
            with pytest.raises(ServiceError, match="HTTP (404|422)"):
                writer.delete(name)
            with pytest.raises(ServiceError, match="HTTP (404|422)"):
                writer.device(name)
        assert [d["name"] for d in writer.devices()] == ["gpu-a"]
        with pytest.raises(NasedgeError, match="device name '' is not valid"):
            writer.delete("")
        archs = [a for a, _ in measurements]
        for latency, shown in ((float("nan"), "nan"), (float("inf"), "inf"), ("abc", "'abc'")):
            with pytest.raises(NasedgeError, match=rf"measurements\[19\].latency_ms: value {shown} is not valid"):
                writer.register("gpu-b", SPACE, [*[(a, 1.0) for a in archs[:19]], (archs[19], latency)])
        with pytest.raises(NasedgeError, match=r"measurements\[0\]: 'a' is not valid; expected an \(arch, latency_ms\)"):
            writer.register("gpu-b", SPACE, "abc")
        remote = writer.latency_predictor("gpu-a")
        assert np.array_equal(remote.predict(a for a in archs[:3]), remote.predict(archs[:3]))  # a generator too
    for option, value in (("batch_size", 0), ("batch_size", -1), ("batch_size", 2.5), ("timeout", -1),
                          ("timeout", float("nan"))):
        with pytest.raises(NasedgeError, match=f"{option}: value .* is not valid"):
            PredictorClient("http://127.0.0.1:1", **{option: value})
    with pytest.raises(NasedgeError, match="cannot reach the predictor service at http://127.0.0.1"):
        PredictorClient(f"http://127.0.0.1:{free_port()}").devices()


def test_remote_predictor_is_a_search_constraint(serve, token, measurements):
    """`PredictorClient(url).latency_predictor(device)` drops in for a local profile: an evolution search
    with it as the latency constraint finds exactly what the same search with the local profile finds."""
    import pickle

    from nasedge.search import create_strategy
    from nasedge.search.proxies import ProxyAccuracy
    from nasedge.spaces import get_space

    space = get_space(SPACE)
    local = fit_profile("gpu-a", SPACE, [a for a, _ in measurements], [ms for _, ms in measurements],
                        cv_folds=5)
    with serve() as url, PredictorClient(url, token=token) as client:
        client.register("gpu-a", SPACE, measurements)
        remote = PredictorClient(url).latency_predictor("gpu-a")  # reads need no token
        assert (remote.name, remote.device, remote.space, remote.version) == ("meta", "gpu-a", SPACE, 1)
        budget = float(np.median(local.predict(space.sample_many(50, 1))))

        def search(constraint):
            return create_strategy("evolution", max_evaluations=40).run(
                space, ProxyAccuracy(space), constraint, budget, seed=3)

        got, want = search(remote), search(local.predict)
        assert got.evaluations == want.evaluations == 40
        assert [c.arch for c in got.history] == [c.arch for c in want.history]
        np.testing.assert_allclose([c.constraint for c in got.history], [c.constraint for c in want.history],
                                   rtol=1e-12)
        assert all(c.constraint <= budget for c in got.history if c.feasible)
        # it survives pickling (Ray ships constraints to workers) and predicts the same afterwards
        again = pickle.loads(pickle.dumps(remote))
        assert np.array_equal(again(space.sample_many(3, 9)), remote.predict(space.sample_many(3, 9)))
        # registered again meanwhile: an error, not numbers from two different predictors
        client.delete("gpu-a")
        client.register("gpu-a", SPACE, measurements[:19] + [(measurements[19][0], 2 * measurements[19][1])])
        with pytest.raises(NasedgeError, match=r"registered again .* version 1 -> 2"):
            remote.predict(space.sample_many(2, 4))


def test_push_a_profile_made_by_the_cli(serve, token, measurements, help_ofa, tmp_path, nasedge_cli, monkeypatch):
    """`nasedge predictor push`: a profile fitted here is registered in a service from its measurements (the token
    from NASEDGE_TOKEN), and the service then predicts what the profile does, bit for bit."""
    from nasedge.predict.profile import save_profile

    local = fit_profile("my-board", SPACE, [a for a, _ in measurements], [ms for _, ms in measurements], cv_folds=5)
    save_profile(local, tmp_path / "p")
    queries = help_ofa.items[300:340]
    push = ("predictor", "push", "--device", "my-board", "--profiles-dir", tmp_path / "p")
    with serve() as url:
        monkeypatch.delenv("NASEDGE_TOKEN", raising=False)
        r = nasedge_cli(*push, "--url", url)
        assert r.returncode == 2 and "NASEDGE_TOKEN: not set" in r.stderr and len(r.stderr.splitlines()) == 1
        monkeypatch.setenv("NASEDGE_TOKEN", "nse_wrong")
        r = nasedge_cli(*push, "--url", url)
        assert r.returncode == 2 and "HTTP 401" in r.stderr and "Traceback" not in r.stderr
        monkeypatch.setenv("NASEDGE_TOKEN", token)
        r = nasedge_cli(*push, "--url", url, "--name", "board-2")
        assert r.returncode == 0, r.stderr
        assert f"registered board-2 ({SPACE}) at {url}: version 1, 20 measurements, predictor meta" in r.stdout
        assert f"adaptation: {local.latency_predictor.adaptation()}" in r.stdout and "would pay" not in r.stderr
        with PredictorClient(url) as client:
            assert client.device("board-2")["quality"] == local.quality  # the same cross-validation (5 folds in the tests)
            assert np.array_equal(client.predict("board-2", queries), local.predict(queries))
        r = nasedge_cli("predictor", "push", "--device", "nope", "--profiles-dir", tmp_path / "p", "--url", url)
        assert r.returncode == 2 and "nope" in r.stderr
        # fitted without a reference arch (`predictor fit --allow-missing-reference`): pushed with that allowance
        save_profile(fit_profile("partial-board", SPACE, [a for a, _ in measurements[1:]],
                                 [ms for _, ms in measurements[1:]], cv_folds=5), tmp_path / "p")
        r = nasedge_cli("predictor", "push", "--device", "partial-board", "--profiles-dir", tmp_path / "p", "--url", url)
        assert r.returncode == 0 and "registered partial-board" in r.stdout, r.stderr


def test_push_says_when_more_measurements_would_pay(serve, token, measurements, tmp_path, nasedge_cli, monkeypatch):
    """A board unlike every device of the prior (latency set by the activations written alone, 3 % noise): the
    service's answer says why more measurements would pay, and `predictor push` passes it on."""
    from nasedge.predict import get_encoding
    from nasedge.predict.profile import save_profile

    enc = get_encoding(SPACE)
    archs = [a for a, _ in measurements]
    latency = (0.5 + 1e-5 * enc.features(archs)[:, list(enc.feature_names).index("act")]) \
        * (1 + 0.03 * np.random.default_rng(0).standard_normal(len(archs)))
    local = fit_profile("odd-board", SPACE, archs, list(latency), cv_folds=5)
    assert "the prior does not fit" in local.latency_predictor.more_samples()
    save_profile(local, tmp_path / "p")
    monkeypatch.setenv("NASEDGE_TOKEN", token)
    with serve() as url:
        r = nasedge_cli("predictor", "push", "--device", "odd-board", "--profiles-dir", tmp_path / "p", "--url", url)
        assert r.returncode == 0, r.stderr
        assert f"adaptation: {local.latency_predictor.adaptation()}" in r.stdout
        assert f"nasedge: note: {local.latency_predictor.more_samples()}; 10 more measurements would pay: " \
               f"`nasedge predictor archs --space {SPACE} -n 30`" in r.stderr
        with PredictorClient(url, token=token) as client:
            client.delete("odd-board")
            info = client.register("odd-board", SPACE, zip(archs, latency))
        assert info["more_measurements"] == local.latency_predictor.more_samples()


def test_a_late_answer_is_said_as_late_not_unreachable(monkeypatch, measurements):
    """A server that takes the request and does not answer: the client says so (a registration, fitted by the
    service, may still be stored, and the message says how to tell), not "cannot reach"."""
    import socket

    import nasedge.client as client_module
    from nasedge.client import ServiceTimeout

    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ServiceTimeout, match=r"GET .*/v1/devices: the predictor service did not answer within "
                                                 r"0.2 s"):
            PredictorClient(url, timeout=0.2).devices()
        monkeypatch.setattr(client_module, "REGISTER_TIMEOUT_S", 0.3)
        with pytest.raises(ServiceTimeout, match=r"within 0.3 s; the service fits .* GET /v1/devices/gpu-a tells"):
            PredictorClient(url, timeout=0.2).register("gpu-a", SPACE, measurements)
