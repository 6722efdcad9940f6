"""The one way to Ray: a connection shuts down only a Ray it started; a scope only what started inside it."""

from __future__ import annotations

import pytest

from nasedge.ray_cluster import RayUnavailable, connect, is_connected, scope

ray = pytest.importorskip("ray")
SMALL = {"num_cpus": 1, "object_store_memory": 80 * 2**20}


def test_connect_starts_a_local_ray_and_close_stops_only_what_it_started():
    assert not is_connected()
    mine = connect(**SMALL)
    try:
        assert mine.started and ray.is_initialized()
        theirs = connect()  # Ray is up already: used as it is
        assert not theirs.started
        theirs.close()
        assert ray.is_initialized()
    finally:
        mine.close()
    assert not ray.is_initialized()


def test_scope_shuts_down_a_ray_started_inside_and_leaves_the_callers():
    with scope():
        connect(**SMALL)
    assert not ray.is_initialized()
    ray.init(include_dashboard=False, **SMALL)
    try:
        with scope():
            assert not connect().started
        assert ray.is_initialized()
    finally:
        ray.shutdown()


def test_nothing_to_join_is_one_error(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(RayUnavailable) as info:
        connect(start_local=False)
    assert info.value.address == "auto" and not is_connected()
