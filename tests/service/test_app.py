"""The HTTP API against a real server on a loopback port: registration, prediction, errors, limits, auth."""

from __future__ import annotations

import concurrent.futures
import json
import sqlite3
import threading
import time

import httpx
import numpy as np
import pytest

from nasedge.predict.profile import fit_profile, save_profile
from nasedge.spaces import get_space

from .conftest import BACKENDS, BACKENDS_SLOW_PG, SPACE, body


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_register_then_predict_matches_offline_fit(serve, token, measurements, help_ofa):
    archs, latency = [a for a, _ in measurements], [ms for _, ms in measurements]
    offline = fit_profile("gpu-a", SPACE, archs, latency, cv_folds=5)
    queries = help_ofa.items[100:150]
    with serve() as url, httpx.Client(base_url=url, timeout=60) as c:
        r = c.post("/v1/devices", json=body("gpu-a", measurements), headers=auth(token))
        assert r.status_code == 201, r.text
        info = r.json()
        # the registration's answer also says what the measurement check found and how the predictor adapted
        # (not stored with the device), as the same fit offline does
        assert (info.pop("noisy_measurements"), info.pop("warnings")) == (0, [])
        assert info.pop("more_measurements") == offline.latency_predictor.more_samples() == ""
        # how the predictor adapted is stored with the device, and listed with it
        assert info["adaptation"] == offline.latency_predictor.adaptation() and "does not fit" not in info["adaptation"]
        assert info["name"] == "gpu-a" and info["source"] == "registered" and info["measurements"] == 20
        assert info["quality"] == offline.quality  # the same cross-validation
        r = c.post("/v1/predict", json={"device": "gpu-a", "archs": [a.to_dict() for a in queries]})
        assert r.status_code == 200, r.text
        got = r.json()
        assert (got["device"], got["space"], got["predictor"], got["version"]) == ("gpu-a", SPACE, "meta",
                                                                                 info["version"])
        assert np.array_equal(np.array(got["latency_ms"]), offline.predict(queries))  # bit for bit
        assert c.get("/v1/devices").json()["devices"] == [info]
        assert c.get("/v1/devices/gpu-a").json() == info


def test_reference_archs_and_spaces(serve):
    with serve() as url, httpx.Client(base_url=url) as c:
        assert SPACE in c.get("/v1/spaces").json()["spaces"]
        r = c.get(f"/v1/spaces/{SPACE}/reference-archs").json()
        assert r["space"] == SPACE and len(r["archs"]) == 10 and r["min_measurements"] == 10
        space = get_space(SPACE)
        assert all(space.contains(space.validate(__import__("nasedge.arch").arch.Arch.from_dict(a)))
                   for a in r["archs"])
        assert c.get("/v1/spaces/ofa_mbv3_cifar/reference-archs").json()["space"] == "ofa_mbv3_cifar"
        r = c.get("/v1/spaces/nope/reference-archs")
        assert r.status_code == 404 and "unknown space 'nope'" in r.json()["detail"]


def test_archs_to_measure_are_those_of_the_cli(serve):
    from nasedge.predict.profile import profile_archs

    space = get_space(SPACE)
    with serve() as url, httpx.Client(base_url=url) as c:
        r = c.get(f"/v1/spaces/{SPACE}/archs").json()
        assert (r["space"], r["design"], r["seed"]) == (SPACE, "active", 0)
        assert [space.validate(__import__("nasedge.arch").arch.Arch.from_dict(a)) for a in r["archs"]] == \
            profile_archs(SPACE, 20, 0)
        more = c.get(f"/v1/spaces/{SPACE}/archs", params={"n": 30, "seed": 0}).json()["archs"]
        assert more[:20] == r["archs"]  # a device can measure more later
        drawn = c.get(f"/v1/spaces/{SPACE}/archs", params={"design": "random", "seed": 4}).json()
        assert drawn["archs"][:10] == r["archs"][:10] and drawn["archs"][10:] != r["archs"][10:]
        for params in ({"n": 0}, {"n": 201}, {"design": "best"}, {"seed": -1}, {"n": "x"}):
            bad = c.get(f"/v1/spaces/{SPACE}/archs", params=params)
            assert bad.status_code == 422, (params, bad.text)
        # a space without a sampler has its reference archs only
        assert len(c.get("/v1/spaces/fbnet/archs", params={"n": 5}).json()["archs"]) == 5
        bad = c.get("/v1/spaces/fbnet/archs", params={"n": 20})
        assert bad.status_code == 422 and "n: value 20 is not valid" in bad.json()["detail"]
        assert len(c.get("/v1/spaces/fbnet/archs").json()["archs"]) == 10  # no n asked: all it has
        assert c.get("/v1/spaces/nope/archs").status_code == 404


def test_writes_need_a_valid_token(serve, token, measurements):
    with serve() as url, httpx.Client(base_url=url) as c:
        # the token first, even when the body is not JSON (FastAPI reads the body before the route's checks)
        broken = {"content": '{"name":', "headers": {"Content-Type": "application/json"}}
        assert c.post("/v1/devices", **broken).status_code == 401
        r = c.post("/v1/devices", content=broken["content"], headers={**broken["headers"], **auth(token)})
        assert r.status_code == 422 and "invalid JSON" in r.json()["detail"]  # with the token: what is wrong
        for headers in ({}, auth("nse_wrong"), {"Authorization": "Basic dTpw"}):
            r = c.post("/v1/devices", json=body("gpu-a", measurements), headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", r.text
            assert "token" in r.json()["detail"]
            assert c.delete("/v1/devices/gpu-a", headers=headers).status_code == 401
        assert c.get("/v1/devices").json()["devices"] == []  # nothing was written
    with serve(write_token_hashes=[]) as url:
        r = httpx.post(f"{url}/v1/devices", json=body("gpu-a", measurements), headers=auth(token))
        assert r.status_code == 401 and "no write tokens configured" in r.json()["detail"]


def test_read_auth(serve, token, measurements):
    from nasedge.service.auth import create_token

    reader, reader_hash = create_token()
    with serve(read_auth=True, read_token_hashes=[reader_hash]) as url, httpx.Client(base_url=url) as c:
        assert c.get("/v1/devices").status_code == 401
        assert c.post("/v1/predict", json={"device": "x", "archs": [{}]}).status_code == 401
        assert c.get("/v1/devices", headers=auth(token)).status_code == 200  # a write token reads too
        assert c.get("/v1/devices", headers=auth(reader)).status_code == 200
        r = c.post("/v1/predict", content='{"device":', headers={"Content-Type": "application/json"})
        assert r.status_code == 401  # the token first, even for a body that is not JSON
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
        # a valid token without write permission is 403, not "invalid"
        r = c.post("/v1/devices", json=body("gpu-a", measurements), headers=auth(reader))
        assert r.status_code == 403 and "may read, not write" in r.json()["detail"]
        assert c.delete("/v1/devices/gpu-a", headers=auth(reader)).status_code == 403


def test_a_body_not_declared_as_json_is_415(serve, help_ofa):
    arch = help_ofa.items[0].to_dict()
    with serve() as url, httpx.Client(base_url=url) as c:
        r = c.post("/v1/predict", content=b'{"device": "\xff"}', headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "not readable as JSON (UnicodeDecodeError: 'utf-8' codec" in r.json()["detail"]
        r = c.post("/v1/predict", content="[" * 100_000 + "]" * 100_000, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["detail"] == "<body>: not readable as JSON (nested too deep)"
        text = json.dumps({"device": "x", "archs": [arch]})
        for kind in ("application/x-www-form-urlencoded", "text/plain"):  # curl -d, and a plain string
            r = c.post("/v1/predict", content=text, headers={"Content-Type": kind})
            assert r.status_code == 415 and f"Content-Type '{kind}' is not supported" in r.json()["detail"]
        # no Content-Type at all (requests' data=, curl -H 'Content-Type:'): FastAPI would take the body for bytes
        for headers in ({}, {"Content-Type": ""}):
            r = c.post("/v1/predict", content=text, headers=headers)
            assert r.status_code == 415 and r.json()["detail"] == (
                "header Content-Type is missing; send the body as JSON (Content-Type: application/json)"), r.text
        r = c.post("/v1/predict")  # no body: the route says what it needs
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "<body>", r.text
        for kind in ("application/json", "application/json; charset=utf-8", "application/merge-patch+json"):
            r = c.post("/v1/predict", content=text, headers={"Content-Type": kind})
            assert r.status_code == 404, (kind, r.text)  # read as JSON: device 'x' is not known


def test_malformed_archs_are_422_naming_the_field(serve, token, measurements, help_ofa):
    good = [a.to_dict() for a in help_ofa.items[:5]]
    cases = []
    bad = json.loads(json.dumps(good))
    bad[3]["kernel"][5] = 4
    cases.append((bad, "archs[3].kernel[5]", "value 4 is not allowed; expected [3, 5, 7]"))
    bad = json.loads(json.dumps(good))
    del bad[1]["resolution"]
    cases.append((bad, "archs[1].resolution", "missing"))
    bad = json.loads(json.dumps(good))
    bad[2]["depth"] = [2, 3, "4", 2, 3]
    cases.append((bad, "archs[2].depth[2]", "an integer"))
    bad = json.loads(json.dumps(good))
    bad[0]["colour"] = "red"
    cases.append((bad, "archs[0].colour", "one of the fields"))
    bad = json.loads(json.dumps(good))
    bad[4]["space"] = "ofa_mbv3_cifar"
    cases.append((bad, "archs[4].space", "'ofa_mbv3_w1.2'"))
    bad = json.loads(json.dumps(good))
    bad[1]["depth"].append(2)  # the space's lengths, not the arch's own: kernel was blamed ("a multiple of 6")
    cases.append((bad, "archs[1].depth", "expected 5 entries (one per stage)"))
    cases.append((good[:2] + ["x"], "archs[2]", "valid dictionary"))
    with serve() as url, httpx.Client(base_url=url, timeout=60) as c:
        assert c.post("/v1/devices", json=body("gpu-a", measurements), headers=auth(token)).status_code == 201
        for archs, field, message in cases:
            r = c.post("/v1/predict", json={"device": "gpu-a", "archs": archs})
            assert r.status_code == 422, r.text
            err = r.json()
            assert err["errors"][0]["field"] == field and message in err["detail"], err
            assert err["detail"].startswith(field) and "Traceback" not in r.text
        # the envelope, validated by the schema
        for payload, field in (({"archs": good}, "device"), ({"device": "gpu-a", "archs": []}, "archs"),
                               ({"device": "gpu-a", "archs": good, "x": 1}, "x"),
                               ({"device": "../etc", "archs": good}, "device")):
            r = c.post("/v1/predict", json=payload)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
        # registration: the measurement's arch and latency are named too
        m = body("gpu-b", measurements)
        m["measurements"][7]["arch"]["expand"][0] = 5
        m["measurements"][2]["latency_ms"] = -1.0
        r = c.post("/v1/devices", json=m, headers=auth(token))
        assert r.status_code == 422
        assert {e["field"] for e in r.json()["errors"]} == {"measurements[2].latency_ms"}  # schema first
        assert "(got -1.0)" in r.json()["detail"]  # and the value
        for value in (1.7e308, 1e-320):  # in range for a float, not for a latency: the fit gave NaN or a 500
            m["measurements"][2]["latency_ms"] = value
            r = c.post("/v1/devices", json=m, headers=auth(token))
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "measurements[2].latency_ms", r.text
            assert f"(got {value!r})" in r.json()["detail"]
        m["measurements"][2]["latency_ms"] = 1.0
        r = c.post("/v1/devices", json=m, headers=auth(token))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "measurements[7].arch.expand[0]"
        r = c.post("/v1/predict", content=b'{"device": ', headers={"content-type": "application/json"})
        assert r.status_code == 422 and "invalid JSON" in r.json()["detail"]


def test_registration_checks(serve, token, measurements):
    with serve() as url, httpx.Client(base_url=url, timeout=60) as c:
        r = c.post("/v1/devices", json=body("gpu-a", measurements[3:]), headers=auth(token))
        assert r.status_code == 422 and "3 of the 10 reference archs" in r.json()["detail"]
        r = c.post("/v1/devices", json=body("gpu-a", measurements, space="nope"), headers=auth(token))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "space"
        loose = body("gpu-a", measurements)
        loose["measurements"][0]["noisy"] = "yes"  # a flag is true or false, not a word that reads as one
        r = c.post("/v1/devices", json=loose, headers=auth(token))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "measurements[0].noisy"
        r = c.post("/v1/devices", json={**body("gpu-a", measurements), "allow_missing_reference": 1}, headers=auth(token))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "allow_missing_reference"
        first = c.post("/v1/devices", json=body("gpu-a", measurements), headers=auth(token))
        assert first.status_code == 201
        # the same registration again, as a client retries one that timed out: what is stored, not "taken"
        again = c.post("/v1/devices", json=body("gpu-a", measurements), headers=auth(token))
        assert again.status_code == 200 and again.json() == first.json()
        other = body("gpu-a", measurements)
        other["measurements"][12]["latency_ms"] *= 1.5
        r = c.post("/v1/devices", json=other, headers=auth(token))
        assert r.status_code == 409 and "already registered with other measurements" in r.json()["detail"]
    with serve(require_reference_archs=False) as url:
        r = httpx.post(f"{url}/v1/devices", json=body("gpu-c", measurements[15:]), headers=auth(token),
                       timeout=60)
        assert r.status_code == 201 and r.json()["measurements"] == 5


def test_too_few_measurements_to_judge_ask_for_more(serve, token, measurements, tmp_path, nasedge_cli):
    """3 measurements cannot be cross-validated: more would pay, however well the fit reads on them (as the same
    fit offline says)."""
    import csv

    three = measurements[15:18]
    with open(tmp_path / "lat.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "median_ms"])
        w.writerows([json.dumps(a.to_dict()), ms] for a, ms in three)
    with serve() as url:
        r = httpx.post(f"{url}/v1/devices", json={**body("gpu-3", three), "allow_missing_reference": True},
                       headers=auth(token), timeout=60)
    assert r.status_code == 201 and r.json()["quality"] == {}, r.text
    why = "too few measurements (3) to cross-validate the profile, so its quality is not known"
    assert r.json()["more_measurements"] == why
    cli = nasedge_cli("predictor", "fit", "--device", "gpu-3", "--measurements", tmp_path / "lat.csv",
                      "--profiles-dir", tmp_path / "p", "--allow-missing-reference")
    assert cli.returncode == 0 and f"nasedge: note: {why}; 10 more measurements would pay" in cli.stderr, cli.stderr


def test_registration_applies_the_rule_of_predictor_fit(serve, token, measurements, tmp_path, nasedge_cli):
    """Missing reference archs: refused by both unless allowed (field / flag); noisy rows counted by both."""
    import csv

    flagged = body("gpu-n", measurements[3:])
    for i in (0, 4):
        flagged["measurements"][i]["noisy"] = True
    flagged["measurements"][7]["latency_ms"] *= 2.5  # a hiccup no flag caught: both name it
    with open(tmp_path / "lat.csv", "w", newline="") as f:  # the same measurements as `nasedge measure` writes them
        w = csv.writer(f)
        w.writerow(["arch", "median_ms", "noisy"])
        for i, m in enumerate(flagged["measurements"]):
            w.writerow([json.dumps(m["arch"]), m["latency_ms"], str(m.get("noisy", False))])
    fit = ("predictor", "fit", "--device", "gpu-n", "--measurements", tmp_path / "lat.csv", "--profiles-dir",
           tmp_path / "p", "predictor.cv_folds=5")
    with serve() as url, httpx.Client(base_url=url, timeout=60) as c:
        r = c.post("/v1/devices", json=flagged, headers=auth(token))
        assert r.status_code == 422 and "allow_missing_reference: true" in r.json()["detail"]
        cli = nasedge_cli(*fit)
        assert cli.returncode == 2 and "3 of the 10 reference archs of space 'ofa_mbv3_w1.2' are not measured" in \
            cli.stderr and "--allow-missing-reference" in cli.stderr
        r = c.post("/v1/devices", json={**flagged, "allow_missing_reference": True}, headers=auth(token))
        assert r.status_code == 201, r.text
        cli = nasedge_cli(*fit, "--allow-missing-reference")
        assert cli.returncode == 0, cli.stderr
        # sent again (a retry after a timeout): the stored profile, with the same warnings
        again = c.post("/v1/devices", json={**flagged, "allow_missing_reference": True}, headers=auth(token))
        assert again.status_code == 200 and again.json() == r.json()
    info = r.json()
    assert info["noisy_measurements"] == 2 and len(info["warnings"]) == 3
    assert info["warnings"][2].startswith("1 of 17 measurements read far from what the others predict (in order, "
                                          "measured / predicted: #8 ")
    assert [f"nasedge: warning: {w}" for w in info["warnings"]] == [
        line for line in cli.stderr.strip().splitlines() if line.startswith("nasedge: warning:")]
    q = info["quality"]
    assert f"spearman {q['spearman']:.3f}, MAPE {q['mape']:.1f} %" in cli.stdout


def test_limits(serve, token, help_ofa):
    archs = [a.to_dict() for a in help_ofa.items[:30]]
    with serve(max_batch=20, max_body_bytes=20_000) as url, httpx.Client(base_url=url) as c:
        r = c.post("/v1/predict", json={"device": "gpu-a", "archs": archs[:21]})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "archs"
        assert "at most 20" in r.json()["detail"]
        r = c.post("/v1/predict", content=json.dumps({"device": "gpu-a", "archs": archs * 5}),
                   headers={"content-type": "application/json"})
        assert r.status_code == 413 and "20000 bytes" in r.json()["detail"]

        def chunks():  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b" " * 5000

        r = c.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        schema = c.get("/openapi.json").json()["components"]["schemas"]
        assert schema["PredictRequest"]["properties"]["archs"]["maxItems"] == 20


@BACKENDS_SLOW_PG
def test_delete_and_unknown_devices(serve, token, measurements, help_ofa):
    arch = help_ofa.items[0].to_dict()
    with serve() as url, httpx.Client(base_url=url, timeout=60) as c:
        assert c.post("/v1/predict", json={"device": "nope", "archs": [arch]}).status_code == 404
        assert c.get("/v1/devices/nope").status_code == 404
        assert c.delete("/v1/devices/nope", headers=auth(token)).status_code == 404
        v1 = c.post("/v1/devices", json=body("gpu-a", measurements), headers=auth(token)).json()["version"]
        assert c.post("/v1/predict", json={"device": "gpu-a", "archs": [arch]}).status_code == 200
        assert c.delete("/v1/devices/gpu-a", headers=auth(token)).status_code == 204
        r = c.post("/v1/predict", json={"device": "gpu-a", "archs": [arch]})
        assert r.status_code == 404, "a deleted device's cached predictor must not answer"
        # registered again with other measurements: a new version, new numbers
        other = [(a, 2 * ms) for a, ms in measurements]
        v2 = c.post("/v1/devices", json=body("gpu-a", other), headers=auth(token)).json()["version"]
        r = c.post("/v1/predict", json={"device": "gpu-a", "archs": [arch]}).json()
        assert v2 != v1 and r["version"] == v2


@BACKENDS_SLOW_PG
def test_two_servers_share_the_database(settings, token, measurements, help_ofa):
    """Another process (here: another app) deleting or re-registering a device invalidates our cache."""
    from nasedge.service import create_app

    from .conftest import running

    arch = [help_ofa.items[0].to_dict()]
    s = settings()
    with running(create_app(s)) as a, running(create_app(s)) as b:
        assert httpx.post(f"{a}/v1/devices", json=body("gpu-a", measurements), headers=auth(token),
                          timeout=60).status_code == 201
        first = httpx.post(f"{b}/v1/predict", json={"device": "gpu-a", "archs": arch}).json()
        assert httpx.delete(f"{a}/v1/devices/gpu-a", headers=auth(token)).status_code == 204
        assert httpx.post(f"{b}/v1/predict", json={"device": "gpu-a", "archs": arch}).status_code == 404
        other = [(x, 3 * ms) for x, ms in measurements]
        assert httpx.post(f"{a}/v1/devices", json=body("gpu-a", other), headers=auth(token),
                          timeout=60).status_code == 201
        again = httpx.post(f"{b}/v1/predict", json={"device": "gpu-a", "archs": arch}).json()
        assert again["version"] != first["version"]
        assert again["latency_ms"][0] == pytest.approx(3 * first["latency_ms"][0], rel=0.05)
        # registered again for another space: b's cached space must not judge the new space's archs
        assert httpx.delete(f"{a}/v1/devices/gpu-a", headers=auth(token)).status_code == 204
        w10 = [{**x.to_dict(), "space": "ofa_mbv3_w1.0"} for x, _ in measurements]
        r = httpx.post(f"{a}/v1/devices", headers=auth(token), timeout=60, json={
            "name": "gpu-a", "space": "ofa_mbv3_w1.0", "allow_missing_reference": True,
            "measurements": [{"arch": x, "latency_ms": ms} for x, (_, ms) in zip(w10, measurements)]})
        assert r.status_code == 201, r.text
        r = httpx.post(f"{b}/v1/predict", json={"device": "gpu-a", "archs": w10[:1]})
        assert r.status_code == 200 and r.json()["space"] == "ofa_mbv3_w1.0", r.text
        assert r.json()["version"] == httpx.post(f"{a}/v1/predict", json={"device": "gpu-a", "archs": w10[:1]}).json()[
            "version"]
        r = httpx.post(f"{b}/v1/predict", json={"device": "gpu-a", "archs": arch})  # the old space's arch: 422
        assert r.status_code == 422 and "expected 'ofa_mbv3_w1.0'" in r.json()["detail"]
        assert httpx.delete(f"{a}/v1/devices/gpu-a", headers=auth(token)).status_code == 204
        assert httpx.post(f"{b}/v1/predict", json={"device": "gpu-a", "archs": arch}).status_code == 404


@pytest.fixture
def slow_fits(monkeypatch):
    """The names the service fits profiles for, each fit taking a second more: still fitting when a retry comes."""
    from nasedge.service.routes import devices

    fitted = []

    def fit(name, *args, **kwargs):
        fitted.append(name)
        time.sleep(1.0)
        return fit_profile(name, *args, **kwargs)

    monkeypatch.setattr(devices, "fit_profile", fit)
    return fitted


@BACKENDS_SLOW_PG
def test_concurrent_registrations_of_one_name(serve, token, measurements, slow_fits):
    """The same registration sent while the first is fitting (a client's retry) waits for it, is not fitted again and
    is answered 200 with what the first stored; other measurements under the name are 409."""
    other = [(a, 2 * ms) for a, ms in measurements]
    with serve() as url:
        def register(pairs):
            r = httpx.post(f"{url}/v1/devices", json=body("gpu-a", pairs), headers=auth(token), timeout=120)
            return r.status_code, r.json()

        with concurrent.futures.ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(register, [measurements] * 4 + [other]))
        devices = httpx.get(f"{url}/v1/devices").json()["devices"]
    codes = sorted(code for code, _ in answers)
    assert codes in ([200, 200, 200, 201, 409], [201, 409, 409, 409, 409]), answers  # whichever came first
    assert slow_fits == ["gpu-a"] and len(devices) == 1
    stored = [{k: a[k] for k in devices[0]} for code, a in answers if code < 300]
    assert stored == [devices[0]] * (4 if codes[0] == 200 else 1)


@BACKENDS_SLOW_PG
def test_a_retry_reaching_another_process_is_answered_200(settings, token, measurements, slow_fits):
    """Another process's lock is out of reach: the retry fits again, but is answered with what the first stored."""
    from nasedge.service import create_app

    from .conftest import running

    s = settings()
    with running(create_app(s)) as a, running(create_app(s)) as b:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(httpx.post, f"{a}/v1/devices", json=body("gpu-a", measurements),
                                headers=auth(token), timeout=120)
            time.sleep(0.3)
            retry = pool.submit(httpx.post, f"{b}/v1/devices", json=body("gpu-a", measurements),
                                headers=auth(token), timeout=120)
            first, retry = first.result(), retry.result()
    assert (first.status_code, retry.status_code) == (201, 200), retry.text
    assert retry.json() == first.json()


@BACKENDS_SLOW_PG
def test_names_differing_only_in_case_are_refused(settings, serve, token, measurements):
    """As `nasedge devices add` refuses them: device names are file names, which a case-insensitive file system
    would take for one."""
    archs, latency = [a for a, _ in measurements], [ms for _, ms in measurements]
    save_profile(fit_profile("titan-shipped", SPACE, archs, latency, cv_folds=3), settings().shipped_profiles_dir)
    with serve() as url, httpx.Client(base_url=url, timeout=60) as c:
        assert c.post("/v1/devices", json=body("my-pixel", measurements), headers=auth(token)).status_code == 201
        for name, twin in (("MY-PIXEL", "my-pixel"), ("Titan-Shipped", "titan-shipped")):
            r = c.post("/v1/devices", json=body(name, measurements), headers=auth(token))
            assert r.status_code == 409 and r.json()["detail"] == (
                f"device name {name!r} differs from the existing device {twin!r} only in case; choose another name")
        assert [d["name"] for d in c.get("/v1/devices").json()["devices"]] == ["my-pixel", "titan-shipped"]


@BACKENDS_SLOW_PG
def test_case_twins_racing_through_two_processes(settings, token, measurements, monkeypatch):
    """Two workers on one database, each with its own lock: both read the stored names before either stores (held
    at a barrier), so both pass the in-process check. The database keeps one; the other is 409 with the message of
    that check."""
    from nasedge.service import create_app
    from nasedge.service.storage import Storage

    from .conftest import running

    names_like, barrier, calls, lock = Storage.names_like, threading.Barrier(2, timeout=60), [], threading.Lock()

    def read_then_wait(self, name: str) -> list[str]:
        names = names_like(self, name)
        with lock:
            calls.append(name)
            first_two = len(calls) <= 2  # the two checks; not the add's look after its refusal
        if first_two:
            barrier.wait()
        return names

    monkeypatch.setattr(Storage, "names_like", read_then_wait)
    s = settings()
    with running(create_app(s)) as a, running(create_app(s)) as b:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(
                lambda url_name: httpx.post(f"{url_name[0]}/v1/devices", json=body(url_name[1], measurements),
                                            headers=auth(token), timeout=120),
                [(a, "My-Pixel"), (b, "my-pixel")]))
        listed = [[d["name"] for d in httpx.get(f"{u}/v1/devices").json()["devices"]] for u in (a, b)]
    assert sorted(calls[:2]) == ["My-Pixel", "my-pixel"]  # both checked before either stored
    assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
    won, lost = sorted(answers, key=lambda r: r.status_code)
    stored, refused = won.json()["name"], ("my-pixel" if won.json()["name"] == "My-Pixel" else "My-Pixel")
    assert lost.json()["detail"] == (
        f"device name {refused!r} differs from the existing device {stored!r} only in case; choose another name")
    assert listed == [[stored], [stored]]


def test_shipped_profiles_are_served_read_only(settings, serve, token, measurements, help_ofa):
    shipped = settings().shipped_profiles_dir
    archs, latency = [a for a, _ in measurements], [ms for _, ms in measurements]
    save_profile(fit_profile("titan-shipped", SPACE, archs, latency, cv_folds=3), shipped)
    with serve() as url, httpx.Client(base_url=url, timeout=60) as c:
        info = c.get("/v1/devices/titan-shipped").json()
        assert info["source"] == "shipped" and info["version"] == 0
        r = c.post("/v1/predict", json={"device": "titan-shipped", "archs": [help_ofa.items[0].to_dict()]})
        assert r.status_code == 200 and r.json()["latency_ms"][0] > 0
        assert c.delete("/v1/devices/titan-shipped", headers=auth(token)).status_code == 403
        r = c.post("/v1/devices", json=body("titan-shipped", measurements), headers=auth(token))
        assert r.status_code == 409 and "shipped" in r.json()["detail"]


@BACKENDS_SLOW_PG
def test_internal_errors_carry_no_stack_trace(settings, serve, token, measurements, help_ofa):
    s = settings()
    with serve() as url:
        assert httpx.post(f"{url}/v1/devices", json=body("gpu-a", measurements), headers=auth(token),
                          timeout=60).status_code == 201
    from nasedge.service.storage import Storage

    with Storage(s.db).engine.begin() as conn:  # a profile damaged behind the service's back
        conn.exec_driver_sql("UPDATE devices SET state = '{\"predictor\": \"meta\"}'")
    with serve() as url:
        r = httpx.post(f"{url}/v1/predict", json={"device": "gpu-a", "archs": [help_ofa.items[0].to_dict()]})
        assert r.status_code == 500 and r.json() == {"detail": "internal server error"}


@BACKENDS_SLOW_PG
def test_health_readiness_metrics_openapi(serve, token, measurements, help_ofa):
    with serve() as url, httpx.Client(base_url=url, timeout=60) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json() == {"status": "ready"}
        c.post("/v1/devices", json=body("gpu-a", measurements), headers=auth(token))
        c.post("/v1/predict", json={"device": "gpu-a", "archs": [a.to_dict() for a in help_ofa.items[:7]]})
        text = c.get("/metrics").text
        assert 'nasedge_http_requests_total{method="POST",route="/v1/predict",status="200"} 1.0' in text
        assert "nasedge_predicted_archs_total 7.0" in text
        assert 'nasedge_registrations_total{outcome="created"} 1.0' in text
        spec = c.get("/openapi.json").json()
        assert {"/v1/predict", "/v1/devices", "/v1/devices/{name}", "/v1/spaces/{space}/reference-archs",
                "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
        assert spec["paths"]["/v1/devices"]["post"]["security"] == [{"HTTPBearer": []}]


@pytest.mark.parametrize("freeze", [True, False])
def test_startup_objects_are_exempt_from_garbage_collection(serve, freeze):
    import gc

    before = gc.get_freeze_count()
    with serve(gc_freeze=freeze) as url:
        assert httpx.get(f"{url}/readyz").status_code == 200
        frozen = gc.get_freeze_count()
    assert (frozen > before) if freeze else (frozen == before)
    assert gc.get_freeze_count() == (0 if freeze else before)  # given back when the app stops


@BACKENDS
def test_a_database_held_by_another_writer_is_503_with_retry(serve, settings, token, measurements, db_url,
                                                            monkeypatch):
    # a lock held past the busy timeout is the moment's fault, not the request's nor the server's: 503, retry
    import nasedge.service.storage as storage

    monkeypatch.setattr(storage, "BUSY_TIMEOUT_S", 0.3)
    with serve() as url:
        if db_url.startswith("sqlite"):
            holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            locked = "database is locked"
        else:  # another writer's lock on the table: reads go on, writes wait for it
            import psycopg

            holder = psycopg.connect(db_url.replace("postgresql+psycopg", "postgresql"))
            holder.execute("LOCK TABLE devices IN EXCLUSIVE MODE")
            locked = "canceling statement due to lock timeout"
        try:  # waiting for the lock for good (no timeout) would leave the client to give up after 30 s
            r = httpx.post(f"{url}/v1/devices", json=body("gpu-a", measurements), headers=auth(token),
                           timeout=30)
        finally:
            holder.rollback() if not db_url.startswith("sqlite") else holder.execute("ROLLBACK")
            holder.close()
        assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
        assert r.json()["detail"].startswith(f"the database is not available right now ({locked})")
        r = httpx.post(f"{url}/v1/devices", json=body("gpu-a", measurements), headers=auth(token), timeout=60)
        assert r.status_code == 201, r.text  # the lock gone, the same request goes through


def test_every_pooled_connection_taken_is_503_with_retry(tmp_path):
    # many writers waiting on a lock hold every pooled connection; the next request waits pool_timeout, then
    # SQLAlchemy raises its TimeoutError (no OperationalError): it was a 500 "internal server error"
    from fastapi import FastAPI
    from sqlalchemy import create_engine, text

    from nasedge.service.errors import add_error_handlers

    from .conftest import running

    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}", pool_size=1, max_overflow=0, pool_timeout=0.1)
    app = FastAPI()
    add_error_handlers(app)

    @app.get("/count")
    def count() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar_one()

    with running(app) as url:
        assert httpx.get(f"{url}/count").json() == 1
        with engine.connect():  # the pool's only connection, taken
            r = httpx.get(f"{url}/count")
        assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
        assert r.json()["detail"].startswith("the database is not available right now (QueuePool limit of size 1")
        assert httpx.get(f"{url}/count").status_code == 200
