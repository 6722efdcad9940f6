"""Device profiles in the database: round trip, uniqueness, cascade, migrations in step with the models,
crashes.

The tests marked with ``BACKENDS`` run on SQLite and on a real PostgreSQL server (skipped where none can be
started); the others are about SQLite itself (WAL, its copies of tables in batch migrations)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import replace

import numpy as np
import pytest

from nasedge.errors import NasedgeError
from nasedge.predict.profile import fit_profile
from nasedge.service.storage import Base, DeviceExists, Storage

from .conftest import BACKENDS, REPO, SPACE


@pytest.fixture
def profile(measurements):
    archs, latency = [a for a, _ in measurements], [ms for _, ms in measurements]
    return fit_profile("gpu-a", SPACE, archs, latency, cv_folds=3)


@pytest.fixture
def storage(db_url):
    s = Storage(db_url)
    s.migrate()
    yield s
    s.close()


def _postgres(s: Storage) -> bool:
    return s.engine.dialect.name == "postgresql"


@BACKENDS
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


@BACKENDS
def test_a_database_of_the_first_schema_is_upgraded_in_place(db_url, profile):
    """Devices registered before migrations 0002 and 0003 keep everything, with an empty adaptation line and no
    measurements known to be far from the others' prediction."""
    from alembic import command

    s = Storage(db_url)
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


@BACKENDS
def test_a_database_of_a_newer_schema_is_refused_in_one_line(db_url):
    s = Storage(db_url)
    s.migrate()
    with s.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(NasedgeError) as refused:
        s.migrate()
    shown = s.engine.url.render_as_string(hide_password=True)
    assert str(refused.value).startswith(f"service.db: {shown} has a schema this nasedge does not know (")
    assert "9999_future" in str(refused.value)
    assert "serve it with the nasedge that wrote it" in str(refused.value)
    s.close()


def test_wal_mode_and_schema(tmp_path):
    storage = Storage(f"sqlite:///{tmp_path / 'sub' / 'p.db'}")  # the directory is created
    storage.migrate()
    with sqlite3.connect(tmp_path / "sub" / "p.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    current, head = storage.revision()
    assert current == head == "0004"
    storage.migrate()  # idempotent
    assert storage.problems() == []
    storage.close()


CASE_INDEX = {"sqlite": "CREATE UNIQUE INDEX uq_devices_name_lower ON devices (lower(name))",
              "postgresql": "CREATE UNIQUE INDEX uq_devices_name_lower ON public.devices USING btree "
                            "(lower((name)::text))"}


@BACKENDS
def test_migrations_match_the_models(storage):
    assert _schema_diff(storage) == []
    assert _case_index(storage) == CASE_INDEX[storage.engine.dialect.name]


def _schema_diff(s: Storage) -> list:
    """How the database of ``s`` differs from the models (Alembic's autogenerate comparison)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with s.engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect the index on lower(name), which compare_metadata skips, saying so: checked apart
        warnings.filterwarnings("ignore", message=".*expression-based index")
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


def _case_index(s: Storage) -> str | None:
    """The SQL of the unique index on lower(name) in the database of ``s``, or None."""
    query = ("SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_devices_name_lower'" if _postgres(s) else
             "SELECT sql FROM sqlite_master WHERE name = 'uq_devices_name_lower'")
    with s.engine.connect() as conn:
        return conn.exec_driver_sql(query).scalar()


def _schema(s: Storage) -> list[tuple]:
    """Tables, their columns, indexes and constraints as the database of ``s`` reflects them."""
    from sqlalchemy import inspect

    with s.engine.connect() as conn, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expression-based index")
        i = inspect(conn)
        return [(t, [(c["name"], str(c["type"]), c["nullable"]) for c in i.get_columns(t)],
                 sorted((x["name"], x["unique"]) for x in i.get_indexes(t)), i.get_pk_constraint(t)["name"],
                 sorted(str(u["name"]) for u in i.get_unique_constraints(t)),
                 sorted(str(f["name"]) for f in i.get_foreign_keys(t)))
                for t in sorted(i.get_table_names())] + [("case index", _case_index(s))]


def _insert_device(conn, name: str) -> None:
    conn.exec_driver_sql("INSERT INTO devices (name, space, predictor, state, quality, num_measurements, created) "
                         f"VALUES ('{name}', 'ofa_mbv3_w1.2', 'meta', '{{}}', '{{}}', 0, 'then')")


@BACKENDS
def test_names_are_unique_and_versions_never_reused(storage, profile):
    v1 = storage.add(profile)
    with pytest.raises(DeviceExists, match="already registered"):
        storage.add(profile)
    assert storage.delete("gpu-a") and not storage.delete("gpu-a")
    assert _rows(storage, "measurements") == []  # measurements went with the device
    v2 = storage.add(profile)
    assert v2 > v1


@BACKENDS
def test_concurrent_adds_of_one_name(db_url, profile):
    url = db_url
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


@BACKENDS
def test_the_database_refuses_case_twins_from_another_process(db_url, profile):
    """The in-process check reads the names then inserts: two processes could both pass it. The database's own index
    refuses the second, with the message of check_no_case_twin."""
    url = db_url
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


@BACKENDS
def test_concurrent_adds_of_case_twins(db_url, profile):
    url = db_url
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


@BACKENDS
@pytest.mark.parametrize("start", ["0001", "0003"])
def test_a_database_holding_case_twins_is_not_upgraded(db_url, start):
    """Which twin to keep is the owner's choice: the upgrade is refused in one line naming them and the way out, and
    leaves the database as it was (from 0001 too: 0002 and 0003 are not half applied), until one of each is left."""
    from alembic import command

    s = Storage(db_url)
    with s.engine.begin() as conn:
        command.upgrade(s._alembic_config(conn), start)
        for name in ("Foo", "ok", "foo", "bar", "BAR"):
            _insert_device(conn, name)
    before = _schema(s)
    with pytest.raises(NasedgeError) as refused:
        s.migrate()
    message = str(refused.value)
    shown = s.engine.url.render_as_string(hide_password=True)
    assert "\n" not in message and message.startswith(f"service.db: cannot migrate {shown}: devices ")
    assert ("'bar' (version 4) and 'BAR' (version 5); 'Foo' (version 1) and 'foo' (version 3) differ only in case"
            in message)
    assert "DELETE /v1/devices/NAME" in message and "then migrate again" in message
    assert s.revision() == (start, "0004")
    assert _schema(s) == before
    with s.engine.connect() as conn:  # every device kept (summaries() needs the columns of 0003)
        assert conn.exec_driver_sql("SELECT name FROM devices ORDER BY id").all() == [
            ("Foo",), ("ok",), ("foo",), ("bar",), ("BAR",)]
    assert s.delete("foo")
    with pytest.raises(NasedgeError, match=r"devices 'bar' \(version 4\) and 'BAR' \(version 5\) differ only"):
        s.migrate()
    assert s.delete("bar")
    s.migrate()
    assert s.revision() == ("0004", "0004") and _case_index(s) is not None
    assert [d.name for d in s.summaries()] == ["BAR", "Foo", "ok"] and s.problems() == []
    s.close()


# a server's start as far as the database goes: migrate each database given, all processes at once (files in a
# folder are the barrier: each says it is ready, then waits for the word to go)
_MIGRATE_TOGETHER = """
import os, pathlib, sys, time
import alembic.command  # noqa: F401  (imported before the barrier: the migrations start together)
from nasedge.errors import NasedgeError
from nasedge.service.storage import Storage
folder, urls = pathlib.Path(sys.argv[1]), sys.argv[2:]
for i, url in enumerate(urls):
    s = Storage(url)
    (folder / f"ready-{i}-{os.getpid()}").touch()
    while not (folder / f"go-{i}").exists():
        time.sleep(0.001)
    try:
        s.migrate()
        print("ok", flush=True)
    except NasedgeError as exc:
        print(exc, flush=True)
    s.close()
"""


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_servers_starting_together_migrate_one_after_the_other(db_url, postgres_cluster, tmp_path):
    """`nasedge serve` migrates at start: servers on one fresh PostgreSQL database started at once (hosts, a
    service manager's restart) each created the tables, all but one failing ('duplicate key value violates
    unique constraint "pg_type_typname_nsp_index"', 'relation "devices" already exists'). Two databases, three
    processes each."""
    urls, n = [db_url, postgres_cluster.database()], 3
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [subprocess.Popen([sys.executable, "-c", _MIGRATE_TOGETHER, str(tmp_path), *urls], cwd=REPO,
                                  stdout=subprocess.PIPE, text=True, env=env) for _ in range(n)]
    for i in range(len(urls)):
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob(f"ready-{i}-*"))) < n and time.monotonic() < deadline:
            time.sleep(0.001)
        (tmp_path / f"go-{i}").touch()
    outcomes = [line for p in processes for line in p.communicate(timeout=60)[0].splitlines()]
    assert outcomes == ["ok"] * len(urls) * n
    for url in urls:
        s = Storage(url)
        assert s.revision() == ("0004", "0004") and _schema_diff(s) == []
        s.close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_server_waits_for_another_servers_migration_however_long_it_takes(db_url, monkeypatch):
    """The migration lock is waited for past lock_timeout (the writers' wait): a migration of more than
    BUSY_TIMEOUT_S elsewhere failed the start with 'canceling statement due to lock timeout'."""
    import psycopg

    import nasedge.service.storage as storage

    monkeypatch.setattr(storage, "BUSY_TIMEOUT_S", 0.2)
    other = psycopg.connect(db_url.replace("postgresql+psycopg", "postgresql"))
    other.execute(f"SELECT pg_advisory_xact_lock({storage.MIGRATION_LOCK})")  # another server, migrating
    threading.Timer(1.0, other.rollback).start()
    s = Storage(db_url)
    try:
        s.migrate()
        assert s.revision() == ("0004", "0004")
        with s.engine.connect() as conn:  # the connection's wait as a writer is what it was
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar_one() == "200ms"
    finally:
        s.close()
        other.close()


@BACKENDS
def test_case_index_upgrade_downgrade_round_trip(db_url, profile):
    """Down to 0003 drops the index only (devices kept, case twins storable again); up again restores it; and the
    schema goes down to nothing and back."""
    from alembic import command

    s = Storage(db_url)
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
    from sqlalchemy import inspect

    with s.engine.connect() as conn:
        return [c["name"] for c in inspect(conn).get_columns(table)]


def _highest_version(s: Storage) -> int | None:
    """The highest version handed out (AUTOINCREMENT's, or the sequence's), deleted devices' included."""
    query = ("SELECT last_value FROM devices_id_seq" if _postgres(s) else
             "SELECT seq FROM sqlite_sequence WHERE name = 'devices'")
    with s.engine.connect() as conn:
        return conn.exec_driver_sql(query).scalar()


@BACKENDS
@pytest.mark.parametrize("in_a_transaction", [False, True], ids=["autocommit", "begun"])
def test_downgrades_keep_every_device_and_measurement(db_url, profile, in_a_transaction):
    """0003 -> 0002 and 0002 -> 0001 copy devices (SQLite cannot drop a column in place); with foreign keys on, the
    copy's drop of the old table cascaded into measurements and deleted them all. Each step down loses only the
    dropped column; up again, every row is back, versions are still never reused and 0004's index is there.
    ``begun``: inside one transaction, as Storage.migrate runs, where PRAGMA foreign_keys=OFF does nothing."""
    from alembic import command

    s = Storage(db_url)
    if in_a_transaction and _postgres(s):
        pytest.skip("SQLite's case: PostgreSQL runs every statement of a connection in its transaction")
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
    assert _case_index(s) == CASE_INDEX[s.engine.dialect.name]
    assert _schema_diff(s) == []
    assert s.get("gpu-a")[1] == profile and s.get("gpu-b")[1] == replace(b, far_measurements=[])
    assert s.summary("gpu-a").adaptation == ""
    assert s.add(replace(profile, device="gpu-c")) == highest + 1  # not the deleted device's version again
    with pytest.raises(DeviceExists, match="only in case"):
        s.add(replace(profile, device="GPU-A"))
    s.close()


@BACKENDS
def test_dropping_a_devices_column_keeps_the_case_index(storage, profile):
    """The index on lower(name) cannot be reflected by a batch copy of devices; a later migration that drops a
    column of devices (drop_devices_column) keeps it, as it keeps the measurements."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from nasedge.service.sqlite_rebuild import drop_devices_column

    storage.add(profile)
    measurements = _rows(storage, "measurements")
    with storage.engine.begin() as conn:
        if not _postgres(storage):  # Python's sqlite3 begins only before DML: DDL would commit alone
            conn.exec_driver_sql("BEGIN")
        conn.exec_driver_sql("ALTER TABLE devices ADD COLUMN later TEXT")
        with Operations.context(MigrationContext.configure(conn)):
            drop_devices_column("later")
    assert "later" not in _columns(storage, "devices") and _rows(storage, "measurements") == measurements
    assert _case_index(storage) == CASE_INDEX[storage.engine.dialect.name]
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


@BACKENDS
def test_kill_9_inside_the_transaction_leaves_nothing(db_url, profile):
    url = db_url
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
