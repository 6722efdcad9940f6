"""Device profiles in SQLite: round trip, uniqueness, cascade, migrations in step with the models, crashes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import threading

import numpy as np
import pytest

from nasedge.errors import NasedgeError
from nasedge.predict.profile import fit_profile
from nasedge.service.storage import Base, DeviceExists, Storage

from .conftest import SPACE


@pytest.fixture
def profile(measurements):
    archs, latency = [a for a, _ in measurements], [ms for _, ms in measurements]
    return fit_profile("gpu-a", SPACE, archs, latency, cv_folds=3)


@pytest.fixture
def storage(tmp_path):
    s = Storage(f"sqlite:///{tmp_path / 'sub' / 'p.db'}")  # the directory is created
    s.migrate()
    yield s
    s.close()


def test_round_trip_is_exact(storage, profile, help_ofa):
    version = storage.add(profile)
    got_version, got = storage.get("gpu-a")
    assert got_version == version and got == profile  # every field, floats included
    assert np.array_equal(got.predict(help_ofa.items[:40]), profile.predict(help_ofa.items[:40]))
    assert storage.version("gpu-a") == version
    assert storage.get("nope") is None and storage.version("nope") is None
    s = storage.summary("gpu-a")
    assert (s.name, s.space, s.measurements, s.quality) == ("gpu-a", SPACE, 20, profile.quality)
    assert s.adaptation == profile.latency_predictor.adaptation() != ""
    assert [x.name for x in storage.summaries()] == ["gpu-a"]


def test_a_database_of_the_first_schema_is_upgraded_in_place(tmp_path, profile):
    """Devices registered before migrations 0002 and 0003 keep everything, with an empty adaptation line and no
    measurements known to be far from the others' prediction."""
    from alembic import command

    s = Storage(f"sqlite:///{tmp_path / 'old.db'}")
    with s.engine.begin() as conn:
        command.upgrade(s._alembic_config(conn), "0001")
        conn.exec_driver_sql("INSERT INTO devices (name, space, predictor, state, quality, num_measurements, created) "
                             "VALUES ('old', 'ofa_mbv3_w1.2', 'meta', '{}', '{\"mape\": 2.0}', 0, 'then')")
    assert s.revision() == ("0001", "0003")
    s.migrate()
    assert s.problems() == [] and s.summary("old").adaptation == "" and s.summary("old").quality == {"mape": 2.0}
    assert s.get("old")[1].far_measurements == []
    s.add(profile)
    assert s.summary("gpu-a").adaptation == profile.latency_predictor.adaptation()
    from dataclasses import replace

    s.add(replace(profile, device="gpu-b", far_measurements=[(3, 2.5)]))
    assert s.get("gpu-b")[1].far_measurements == [(3, 2.5)]
    s.close()


def test_a_database_of_a_newer_schema_is_refused_in_one_line(tmp_path):
    s = Storage(f"sqlite:///{tmp_path / 'new.db'}")
    s.migrate()
    with s.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(NasedgeError, match=r"new.db has a schema this nasedge does not know \(.*9999_future.*\); "
                                           r"serve it with the nasedge that wrote it"):
        s.migrate()
    s.close()


def test_wal_mode_and_schema(storage, tmp_path):
    with sqlite3.connect(tmp_path / "sub" / "p.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    current, head = storage.revision()
    assert current == head == "0003"
    storage.migrate()  # idempotent
    assert storage.problems() == []


def test_migrations_match_the_models(storage):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with storage.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_names_are_unique_and_versions_never_reused(storage, profile):
    v1 = storage.add(profile)
    with pytest.raises(DeviceExists, match="already registered"):
        storage.add(profile)
    assert storage.delete("gpu-a") and not storage.delete("gpu-a")
    with sqlite3.connect(storage.engine.url.database) as conn:  # measurements went with the device
        assert conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 0
    v2 = storage.add(profile)
    assert v2 > v1


def test_concurrent_adds_of_one_name(tmp_path, profile):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Storage(url).migrate()
    outcomes = []

    def add():
        s = Storage(url)  # an engine each: separate connections, as separate processes would have
        try:
            outcomes.append(s.add(profile))
        except DeviceExists:
            outcomes.append("exists")
        finally:
            s.close()

    threads = [threading.Thread(target=add) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, outcomes)).count("exists") == 5
    assert Storage(url).problems() == []


def _crash_inside_transaction(url: str, profile_json: str, ready) -> None:
    """Insert the device row and half its measurements, then die by SIGKILL before committing."""
    from sqlalchemy import insert

    from nasedge.predict.profile import DeviceProfile
    from nasedge.service.storage import DeviceRow, MeasurementRow

    p = DeviceProfile.from_json(profile_json)
    s = Storage(url)
    conn = s.engine.connect()
    conn.begin()
    device_id = conn.execute(insert(DeviceRow).values(
        name=p.device, space=p.space, predictor=p.predictor, state=json.dumps(p.state), quality="{}",
        num_measurements=len(p.measurements), created=p.created)).inserted_primary_key[0]
    for i, (rec, lat) in enumerate(p.measurements[:10]):
        conn.execute(insert(MeasurementRow).values(device_id=device_id, position=i, arch=json.dumps(rec),
                                                   latency_ms=lat))
    ready.set()
    os.kill(os.getpid(), signal.SIGKILL)


def test_kill_9_inside_the_transaction_leaves_nothing(tmp_path, profile):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    Storage(url).migrate()
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_crash_inside_transaction, args=(url, profile.to_json(), ready))
    child.start()
    child.join(60)
    assert ready.is_set() and child.exitcode == -signal.SIGKILL
    s = Storage(url)
    assert s.problems() == [] and s.get("gpu-a") is None
    s.add(profile)  # the name is free, the database writable
    assert s.get("gpu-a")[1] == profile
