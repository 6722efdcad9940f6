"""Joining the Ray cluster of a device: what a failure to join says."""

from __future__ import annotations

import pytest

from nasedge import ray_cluster
from nasedge.errors import NasedgeError
from nasedge.measure import ray_routing


def test_a_failure_to_join_keeps_the_token_hint(monkeypatch):
    # the message was rebuilt from the address and reason only, dropping how to authenticate
    def refuse(address, **kw):
        raise ray_cluster.RayUnavailable(address, "InvalidAuthToken", " (set RAY_AUTH_MODE=token)")

    monkeypatch.setattr(ray_cluster, "connect", refuse)
    with pytest.raises(NasedgeError, match=r"^device b is measured on a Ray node with resource device:b, but cannot "
                                           r"join the Ray cluster at 10.0.0.1:6379 \(InvalidAuthToken \(set "
                                           r"RAY_AUTH_MODE=token\)\); start the machine"):
        ray_routing.connect("b", "device:b", "10.0.0.1:6379")
