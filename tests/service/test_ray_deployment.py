"""`nasedge serve --ray`: the same API on Ray Serve, replicas sharing the database, @serve.batch."""

from __future__ import annotations

import concurrent.futures
import re

import httpx
import numpy as np
import pytest

from nasedge.client import PredictorClient
from nasedge.predict.profile import fit_profile
from nasedge.service.auth import create_token

from .conftest import SPACE, free_port


@pytest.mark.slow
def test_ray_serve_deployment(tmp_path, server_process, measurements, help_ofa):
    token, stored = create_token()
    port = free_port()
    (tmp_path / "shipped").mkdir()
    server = server_process(["-m", "nasedge.cli", "serve", "--ray", "--port", str(port), "--db",
                             f"sqlite:///{tmp_path / 'p.db'}", f"service.write_token_hashes=[{stored}]",
                             f"service.shipped_profiles_dir={tmp_path / 'shipped'}", "predictor.cv_folds=5",
                             "service.ray.num_replicas=2", "service.ray.batch_wait_timeout_s=0.01"],
                            port, log=tmp_path / "ray.log")
    server.wait_ready(timeout=240)
    archs, latency = [a for a, _ in measurements], [ms for _, ms in measurements]
    local = fit_profile("gpu-a", SPACE, archs, latency, cv_folds=5)
    queries = help_ofa.items[:60]
    with PredictorClient(server.url, token=token) as client:
        info = client.register("gpu-a", SPACE, measurements)
        assert info["quality"] == local.quality
        np.testing.assert_array_equal(client.predict("gpu-a", queries), local.predict(queries))

        def one(i: int) -> float:
            r = httpx.post(f"{server.url}/v1/predict",
                           json={"device": "gpu-a", "archs": [queries[i].to_dict()]}, timeout=60)
            assert r.status_code == 200, r.text
            return r.json()["latency_ms"][0]

        with concurrent.futures.ThreadPoolExecutor(30) as pool:
            singles = np.array(list(pool.map(one, range(60))))
        # coalesced with other requests: equal up to the last bit of OpenBLAS's rounding
        np.testing.assert_allclose(singles, local.predict(queries), rtol=1e-14, atol=0)
        r = httpx.post(f"{server.url}/v1/predict", json={"device": "gpu-a", "archs": [{"space": SPACE}]})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "archs[0].kernel"
        assert httpx.post(f"{server.url}/v1/devices", json={}).status_code == 401
        text = httpx.get(f"{server.url}/metrics").text
        count = float(re.search(r"^nasedge_predict_batch_requests_count (\S+)", text, re.M).group(1))
        total = float(re.search(r"^nasedge_predict_batch_requests_sum (\S+)", text, re.M).group(1))
        assert total == 61 and count < total, "concurrent requests were not batched"
        client.delete("gpu-a")
        r = httpx.post(f"{server.url}/v1/predict", json={"device": "gpu-a", "archs": [queries[0].to_dict()]})
        assert r.status_code == 404
