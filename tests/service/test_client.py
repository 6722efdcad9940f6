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
        info = client.register("gpu-a", SPACE, measurements)
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
    with pytest.raises(NasedgeError, match="cannot reach the predictor service at http://127.0.0.1"):
        PredictorClient(f"http://127.0.0.1:{free_port()}").devices()
