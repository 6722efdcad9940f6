"""Device profiles in SQLite: round trip, uniqueness, cascade, migrations in step with the models, crashes."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import threading
import warnings
from dataclasses import replace

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
    assert s.revision() == ("0001", "0004")
    s.migrate()
    assert s.problems() == [] and s.summary("old").adaptation == "" and s.summary("old").quality == {"mape": 2.0}
    assert s.get("old")[1].far_measurements == []
    s.add(profile)
    assert s.summary("gpu-a").adaptation == profile.latency_predictor.adaptation()
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
    assert current == head == "0004"
    storage.migrate()  # idempotent
    assert storage.problems() == []


def test_migrations_match_the_models(storage):
    assert _schema_diff(storage) == []
    assert _case_index(storage) == "CREATE UNIQUE INDEX uq_devices_name_lower ON devices (lower(name))"


def _schema_diff(s: Storage) -> list:
    """How the database of ``s`` differs from the models (Alembic's autogenerate comparison)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with s.engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect the index on lower(name), which compare_metadata skips, saying so: checked apart
        warnings.filterwarnings("ignore", message=".*expression-based index")
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


def _case_index(s: Storage) -> str | None:
    """The SQL of the unique index on lower(name) in the SQLite database of ``s``, or None."""
    with s.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'uq_devices_name_lower'").scalar()


def _insert_device(conn, name: str) -> None:
    conn.exec_driver_sql("INSERT INTO devices (name, space, predictor, state, quality, num_measurements, created) "
                         f"VALUES ('{name}', 'ofa_mbv3_w1.2', 'meta', '{{}}', '{{}}', 0, 'then')")


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


CASE_TWIN = "device name {0!r} differs from the existing device {1!r} only in case; choose another name"


def test_the_database_refuses_case_twins_from_another_process(tmp_path, profile):
    """The in-process check reads the names then inserts: two processes could both pass it. The database's own index
    refuses the second, with the message of check_no_case_twin."""
    url = f"sqlite:///{tmp_path / 't.db'}"
    Storage(url).migrate()
    first, second = Storage(url), Storage(url)  # an engine each, as two workers have
    first.add(replace(profile, device="Gpu-A"))
    with pytest.raises(DeviceExists) as refused:
        second.add(profile)
    assert str(refused.value) == CASE_TWIN.format("gpu-a", "Gpu-A")
    with pytest.raises(DeviceExists, match="'Gpu-A' is already registered"):  # the name itself: as before
        second.add(replace(profile, device="Gpu-A"))
    assert [d.name for d in second.summaries()] == ["Gpu-A"] and second.problems() == []
    assert first.delete("Gpu-A")
    second.add(profile)  # once the twin is deleted, the name is free
    assert [d.name for d in first.summaries()] == ["gpu-a"]
    first.close()
    second.close()


def test_an_integrity_error_of_another_rule_is_not_said_to_be_a_name_taken(tmp_path, profile, monkeypatch):
    """Any IntegrityError was 'already registered', though no device of the name (or its twin) is stored."""
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import Session

    storage = Storage(f"sqlite:///{tmp_path / 't.db'}")
    storage.migrate()

    def refused(self, *args, **kwargs):
        raise IntegrityError("INSERT INTO measurements ...", {}, Exception("NOT NULL constraint failed"))

    monkeypatch.setattr(Session, "flush", refused)
    with pytest.raises(IntegrityError, match="NOT NULL"):
        storage.add(profile)
    storage.close()


def test_concurrent_adds_of_case_twins(tmp_path, profile):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Storage(url).migrate()
    names = ["gpu-a", "GPU-A", "Gpu-A", "gpu-A"]
    outcomes = {}

    def add(name: str) -> None:
        s = Storage(url)  # separate connections, as separate processes would have
        try:
            outcomes[name] = s.add(replace(profile, device=name))
        except DeviceExists as exc:
            outcomes[name] = str(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=add, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = Storage(url)
    (stored,) = [d.name for d in s.summaries()]
    assert isinstance(outcomes[stored], int)
    assert {n: outcomes[n] for n in names if n != stored} == {n: CASE_TWIN.format(n, stored) for n in names
                                                              if n != stored}
    assert s.problems() == []


@pytest.mark.parametrize("start", ["0001", "0003"])
def test_a_database_holding_case_twins_is_not_upgraded(tmp_path, start):
    """Which twin to keep is the owner's choice: the upgrade is refused in one line naming them and the way out, and
    leaves the database as it was (from 0001 too: 0002 and 0003 are not half applied), until one of each is left."""
    from alembic import command

    path = tmp_path / "twins.db"
    s = Storage(f"sqlite:///{path}")
    with s.engine.begin() as conn:
        command.upgrade(s._alembic_config(conn), start)
        for name in ("Foo", "ok", "foo", "bar", "BAR"):
            _insert_device(conn, name)
    with sqlite3.connect(path) as conn:
        before = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    with pytest.raises(NasedgeError) as refused:
        s.migrate()
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"service.db: cannot migrate sqlite:///{path}: devices ")
    assert ("'bar' (version 4) and 'BAR' (version 5); 'Foo' (version 1) and 'foo' (version 3) differ only in case"
            in message)
    assert "DELETE /v1/devices/NAME" in message and "then migrate again" in message
    assert s.revision() == (start, "0004")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before
    with sqlite3.connect(path) as conn:  # every device kept (summaries() needs the columns of 0003)
        assert conn.execute("SELECT name FROM devices ORDER BY id").fetchall() == [
            ("Foo",), ("ok",), ("foo",), ("bar",), ("BAR",)]
    assert s.delete("foo")
    with pytest.raises(NasedgeError, match=r"devices 'bar' \(version 4\) and 'BAR' \(version 5\) differ only"):
        s.migrate()
    assert s.delete("bar")
    s.migrate()
    assert s.revision() == ("0004", "0004") and _case_index(s) is not None
    assert [d.name for d in s.summaries()] == ["BAR", "Foo", "ok"] and s.problems() == []
    s.close()


def test_case_index_upgrade_downgrade_round_trip(tmp_path, profile):
    """Down to 0003 drops the index only (devices kept, case twins storable again); up again restores it; and the
    schema goes down to nothing and back."""
    from alembic import command

    s = Storage(f"sqlite:///{tmp_path / 'r.db'}")
    s.migrate()
    s.add(profile)
    with s.engine.begin() as conn:
        command.downgrade(s._alembic_config(conn), "0003")
    assert s.revision() == ("0003", "0004") and _case_index(s) is None
    assert s.get("gpu-a")[1] == profile and s.problems() == []
    s.add(replace(profile, device="GPU-A"))  # what 0004 refuses, 0003 stores
    assert s.delete("GPU-A")
    s.migrate()
    assert s.revision() == ("0004", "0004") and _case_index(s) is not None
    assert s.get("gpu-a")[1] == profile
    with pytest.raises(DeviceExists, match="differs from the existing device 'gpu-a' only in case"):
        s.add(replace(profile, device="GPU-A"))
    assert s.delete("gpu-a")
    with s.engine.begin() as conn:
        command.downgrade(s._alembic_config(conn), "base")
    assert s.revision() == (None, "0004")
    s.migrate()
    assert s.revision() == ("0004", "0004") and _case_index(s) is not None and s.summaries() == []
    s.close()


def _rows(s: Storage, table: str) -> list[tuple]:
    with s.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1, 2")]


def _columns(s: Storage, table: str) -> list[str]:
    with s.engine.connect() as conn:
        return [r[1] for r in conn.exec_driver_sql(f"PRAGMA table_info({table})")]


def _highest_version(s: Storage) -> int | None:
    """The highest version handed out (AUTOINCREMENT's), deleted devices' included."""
    with s.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'devices'").scalar()


@pytest.mark.parametrize("in_a_transaction", [False, True], ids=["autocommit", "begun"])
def test_downgrades_keep_every_device_and_measurement(tmp_path, profile, in_a_transaction):
    """0003 -> 0002 and 0002 -> 0001 copy devices (SQLite cannot drop a column in place); with foreign keys on, the
    copy's drop of the old table cascaded into measurements and deleted them all. Each step down loses only the
    dropped column; up again, every row is back, versions are still never reused and 0004's index is there.
    ``begun``: inside one transaction, as Storage.migrate runs, where PRAGMA foreign_keys=OFF does nothing."""
    from alembic import command

    s = Storage(f"sqlite:///{tmp_path / 'd.db'}")
    s.migrate()
    b = replace(profile, device="gpu-b", measurements=profile.measurements[:12], far_measurements=[(3, 2.5)])
    s.add(profile)
    s.add(b)
    s.add(replace(profile, device="gone"))
    assert s.delete("gone")  # the highest version handed out is no longer stored
    highest = _highest_version(s)
    devices, measurements = _rows(s, "devices"), _rows(s, "measurements")
    assert len(devices) == 2 and len(measurements) == 20 + 12
    columns = _columns(s, "devices")
    for revision, dropped in [("0003", None), ("0002", "far_measurements"), ("0001", "adaptation")]:
        with s.engine.begin() as conn:
            if in_a_transaction:
                conn.exec_driver_sql("BEGIN")
            command.downgrade(s._alembic_config(conn), revision)
        assert s.revision()[0] == revision
        if dropped:  # the older schema has no place for its values: those, and only those, are lost
            keep = [i for i, c in enumerate(columns) if c != dropped]
            columns = [columns[i] for i in keep]
            devices = [tuple(d[i] for i in keep) for d in devices]
        assert _columns(s, "devices") == columns and _rows(s, "devices") == devices, revision
        assert _rows(s, "measurements") == measurements, revision
        assert s.problems() == [], revision  # foreign_key_check included
        assert _highest_version(s) == highest, revision
    s.migrate()
    assert s.revision() == ("0004", "0004") and s.problems() == [] and _rows(s, "measurements") == measurements
    assert _case_index(s) == "CREATE UNIQUE INDEX uq_devices_name_lower ON devices (lower(name))"
    assert _schema_diff(s) == []
    assert s.get("gpu-a")[1] == profile and s.get("gpu-b")[1] == replace(b, far_measurements=[])
    assert s.summary("gpu-a").adaptation == ""
    assert s.add(replace(profile, device="gpu-c")) == highest + 1  # not the deleted device's version again
    with pytest.raises(DeviceExists, match="only in case"):
        s.add(replace(profile, device="GPU-A"))
    s.close()


def test_dropping_a_devices_column_keeps_the_case_index(storage, profile):
    """The index on lower(name) cannot be reflected by a batch copy of devices; a later migration that drops a
    column of devices (drop_devices_column) keeps it, as it keeps the measurements."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from nasedge.service.sqlite_rebuild import drop_devices_column

    storage.add(profile)
    measurements = _rows(storage, "measurements")
    with storage.engine.begin() as conn:
        conn.exec_driver_sql("BEGIN")
        conn.exec_driver_sql("ALTER TABLE devices ADD COLUMN later TEXT")
        with Operations.context(MigrationContext.configure(conn)):
            drop_devices_column("later")
    assert "later" not in _columns(storage, "devices") and _rows(storage, "measurements") == measurements
    assert _case_index(storage) == "CREATE UNIQUE INDEX uq_devices_name_lower ON devices (lower(name))"
    assert storage.get("gpu-a")[1] == profile and storage.problems() == []


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
