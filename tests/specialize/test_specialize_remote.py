"""``nasedge specialize --predictor-url``: latency predictions from a live predictor service."""

import json

import numpy as np

from nasedge.arch import Arch
from nasedge.cli import main
from nasedge.client import PredictorClient
from nasedge.cost import arch_cost
from nasedge.spaces import get_space
from tests.service.conftest import server_process  # noqa: F401  (fixture)
from tests.service.test_serve_command import _serve, _token_file
from tests.specialize.test_specialize_cli import TINY, _error


def _measurements(client: PredictorClient, space_name: str) -> list[tuple[Arch, float]]:
    """The space's 10 reference archs and 10 random ones, with latencies made from MACs (1 ms + 1 ms per 40 M)."""
    space = get_space(space_name)
    archs = [*client.reference_archs(space_name), *space.sample_many(10, 3)]
    return [(a, 1.0 + arch_cost(a, space).macs / 4e7) for a in archs]


def test_specialize_with_a_remote_predictor(tmp_path, capsys, server_process):  # noqa: F811  (the fixture)
    # the server runs in its own process, as for users (an in-thread server shared this process's
    # stdio with everything the tests before it had loaded)
    token, tokens = _token_file(tmp_path, capsys)
    server = _serve(server_process, tmp_path, tokens)
    server.wait_ready()
    url = server.url
    with PredictorClient(url, token=token) as client:
        # titan_rtx_64 is predict-only here: no local measuring, so the service's numbers are the only ones
        client.register("titan_rtx_64", "ofa_mbv3_cifar", _measurements(client, "ofa_mbv3_cifar"))
        out = tmp_path / "remote"
        assert main(["specialize", "--device", "titan_rtx_64", "--latency", "4ms", "--predictor-url", url,
                     "--out", str(out), *TINY]) == 0
        m = json.loads((out / "manifest.json").read_text())
        assert m["latency_predictor"]["kind"] == "remote" and url in m["latency_predictor"]["description"]
        pick = Arch.from_dict(m["arch"])
        served = client.latency_predictor("titan_rtx_64").predict([pick])[0]
        assert np.isclose(m["latency_ms"]["predicted"], served) and served <= 4.0
        assert m["verified"] is False

        client.delete("titan_rtx_64")
        client.register("titan_rtx_64", "ofa_mbv3_w1.2", _measurements(client, "ofa_mbv3_w1.2"))
        capsys.readouterr()
        assert main(["specialize", "--device", "titan_rtx_64", "--latency", "4ms", "--predictor-url", url,
                     "--out", str(tmp_path / "mismatch"), *TINY]) == 2
        assert "registered for space 'ofa_mbv3_w1.2', but the supernet's space is 'ofa_mbv3_cifar'" in _error(capsys)
