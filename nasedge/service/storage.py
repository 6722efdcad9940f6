"""Device profiles in a database: SQLite (WAL) by default, any SQLAlchemy URL by configuration.

Two tables (schema owned by the Alembic migrations in ``nasedge/service/migrations``):

* ``devices``: one row per registered device: the fitted predictor's state and quality (JSON), the
  measurement count, how the predictor adapted (its ``adaptation()`` line), the measurements far from what the
  others predict (``DeviceProfile.far_measurements``, JSON). Its ``id`` is the profile's
  *version*: ids are never reused (AUTOINCREMENT), so a re-registered device has a new version and every
  process notices that its cached predictor is stale.
* ``measurements``: the measurements the profile was fitted on, one row each, in order.

A registration is one transaction (the device row and all its measurement rows), so a crash leaves
the device fully registered or absent; the unique name, and the unique index on ``lower(name)``, make
concurrent registrations of one name, or of case twins (``Foo``, ``foo``), fail cleanly (:class:`DeviceExists`),
whichever process they come from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from typing import Any

from sqlalchemy import (Double, ForeignKey, Index, Integer, String, Text, UniqueConstraint, create_engine,
                        event, func, select)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.pool import StaticPool

from nasedge.errors import NasedgeError
from nasedge.predict.profile import DeviceProfile, check_no_case_twin

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# the PostgreSQL advisory lock a migration holds ("nasedge" in a bigint): servers started together migrate in
# turn
MIGRATION_LOCK = int.from_bytes(b"nasedge", "big")
NAME_LENGTH = 128


class Base(DeclarativeBase):
    pass


class DeviceRow(Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("name", name="uq_devices_name"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the profile's version
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    space: Mapped[str] = mapped_column(String(NAME_LENGTH))
    predictor: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(Text)  # LatencyPredictor.to_dict(), JSON
    quality: Mapped[str] = mapped_column(Text)  # cross-validated quality, JSON
    num_measurements: Mapped[int] = mapped_column(Integer)
    created: Mapped[str] = mapped_column(String(40))
    adaptation: Mapped[str] = mapped_column(Text, server_default="")  # LatencyPredictor.adaptation()
    far_measurements: Mapped[str] = mapped_column(Text, server_default="[]")  # DeviceProfile.far_measurements
    measurements: Mapped[list[MeasurementRow]] = relationship(
        back_populates="device", order_by="MeasurementRow.position", cascade="all, delete-orphan",
        passive_deletes=True)


class MeasurementRow(Base):
    __tablename__ = "measurements"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    arch: Mapped[str] = mapped_column(Text)  # the arch's JSON record
    latency_ms: Mapped[float] = mapped_column(Double)
    device: Mapped[DeviceRow] = relationship(back_populates="measurements")


# case twins refused by the database itself, not only by the check of one process (migration 0004)
Index("uq_devices_name_lower", func.lower(DeviceRow.name), unique=True)


class DeviceExists(NasedgeError):
    """A device of that name, or of a name that differs from it only in case, is already registered."""


@dataclass(frozen=True)
class DeviceSummary:
    """What the service tells about a device without loading its predictor."""

    name: str
    space: str
    predictor: str
    version: int
    measurements: int
    quality: dict = field(default_factory=dict)
    created: str = ""
    adaptation: str = ""  # how the predictor adapted to the measurements, and why ("" before migration 0002)


def _summary(row: DeviceRow) -> DeviceSummary:
    return DeviceSummary(row.name, row.space, row.predictor, row.id, row.num_measurements,
                         json.loads(row.quality), row.created, row.adaptation)


# how long connecting to a database server may take (PostgreSQL's connect_timeout, unless the URL gives
# one): a server that never answers is an error at start, and a 503 later, not a wait for good
CONNECT_TIMEOUT_S = 10

# how long a writer waits for another's lock (SQLite's busy_timeout, PostgreSQL's lock_timeout); past it the
# request is answered 503 (retry)
BUSY_TIMEOUT_S = 10.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor the writer them
    cur.execute("PRAGMA synchronous=FULL")  # a committed registration survives power loss too
    cur.execute("PRAGMA foreign_keys=ON")  # deleting a device deletes its measurements
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")  # concurrent writers wait for each other
    cur.close()


def one_line(exc: DBAPIError) -> str:
    """The driver's message of ``exc`` on one line (psycopg's spans several: DETAIL, HINT, 'Is the server
    running ...?')."""
    return "; ".join(line.strip() for line in str(exc.orig).splitlines() if line.strip())


def _postgresql_lock_timeout(dbapi_connection: Any, _record: Any) -> None:
    # PostgreSQL waits for a lock for good by default: a registration held up by another writer (a migration,
    # a transaction left open) would hang, not be answered 503. A lock_timeout the URL sets
    # (options=-c lock_timeout=...), or the role, is kept.
    with dbapi_connection.cursor() as cur:
        cur.execute("SHOW lock_timeout")
        if cur.fetchone()[0] == "0":
            cur.execute(f"SET lock_timeout = {max(1, int(BUSY_TIMEOUT_S * 1000))}")
    dbapi_connection.commit()


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their directory created and the pragmas above."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise NasedgeError(f"service.db: value {url!r} is not a database URL; expected e.g. "
                           f"sqlite:///profiles.db or postgresql+psycopg://user@host/nasedge") from None
    backend = parsed.get_backend_name()
    if backend != "sqlite":
        postgresql = backend == "postgresql"
        libpq = postgresql and parsed.get_driver_name() in ("psycopg", "psycopg2")  # pg8000 calls it timeout
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if libpq and (
            "connect_timeout" not in parsed.query) else {}
        try:
            engine = create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
        except (ModuleNotFoundError, NoSuchModuleError) as exc:
            hint = ("; pip install 'nasedge[postgres]' and give a postgresql+psycopg:// URL"
                    if postgresql else "")
            raise NasedgeError(f"service.db: no driver for {parsed.drivername!r} is installed "
                               f"({getattr(exc, 'name', None) or exc}){hint}") from None
        if postgresql:
            event.listen(engine, "connect", _postgresql_lock_timeout)
        return engine
    memory = parsed.database in (None, "", ":memory:")
    if not memory:
        path = parsed.database
        if str(parsed.query.get("uri", "")).lower() in ("true", "1") and path.startswith("file:"):
            path = urlparse(path).path  # an SQLite URI (?uri=true) names its file after the scheme
        folder = Path(path).expanduser().resolve().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NasedgeError(f"service.db: cannot create the folder {folder} ({exc.strerror})") from None
    engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
                           **({"poolclass": StaticPool} if memory else {}))
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Storage:
    """Registered device profiles in the database at ``url``."""

    def __init__(self, url: str):
        self.url = url
        self.engine = create_db_engine(url)

    # --- schema ----------------------------------------------------------------------------
    def _alembic_config(self, connection: Any):
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = connection
        return cfg

    def migrate(self) -> None:
        """``alembic upgrade head`` on this database."""
        from alembic import command
        from alembic.util.exc import CommandError

        url = self.engine.url.render_as_string(hide_password=True)
        connected = False
        try:
            with self.engine.begin() as conn:
                connected = True
                if self.engine.dialect.name == "sqlite":
                    # Python's sqlite3 opens a transaction only before DML: DDL ahead of it (ADD COLUMN) would
                    # commit alone, and a migration that fails after it (0004 refusing case twins) leave the
                    # schema changed under the old revision. Begun here, the upgrade applies all or nothing.
                    conn.exec_driver_sql("BEGIN")
                elif self.engine.dialect.name == "postgresql":
                    # servers started together on one database (hosts, a restart of all) would each create the
                    # tables, all but one failing; in turn, the later ones find the schema current
                    # for as long as the other's migration takes (lock_timeout, a writer's wait, would fail it),
                    # then the migration's own statements wait as a writer's do
                    waits = conn.exec_driver_sql("SHOW lock_timeout").scalar_one()
                    conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{waits}'")
                command.upgrade(self._alembic_config(conn), "head")
        except DBAPIError as exc:
            hint = ""
            if self.engine.url.get_backend_name() == "sqlite" and "unable to open" in str(exc.orig):
                hint = ("; SQLite writes its journal beside the file even to read it: the folder must be "
                        "writable, or serve a database that does not change as sqlite:///file:PATH?immutable=1&uri=true")
            if not connected:  # the server refused (password, database) or is not there: said on one line
                raise NasedgeError(f"service.db: cannot connect to {url}: "
                                   f"{one_line(exc).removeprefix('connection failed: ')}{hint}") from None
            raise NasedgeError(f"service.db: cannot migrate {url}: {one_line(exc)}{hint}") from None
        except NasedgeError as exc:  # a migration's refusal (0004: case twins stored)
            raise NasedgeError(f"service.db: cannot migrate {url}: {exc}") from None
        except CommandError as exc:  # a revision none of our migrations knows: a newer nasedge's database
            raise NasedgeError(f"service.db: {url} has a schema this nasedge does not know ({exc}); serve it "
                               f"with the nasedge that wrote it, or a newer one") from None

    def revision(self) -> tuple[str | None, str]:
        """(the database's schema revision, the migrations' head)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic_config(None)).get_current_head()
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision(), head

    # --- profiles --------------------------------------------------------------------------
    def add(self, profile: DeviceProfile) -> int:
        """Store ``profile`` in one transaction; its version. :class:`DeviceExists` if the name, or a case twin of
        it, is taken (saying which, as ``check_no_case_twin`` does)."""
        row = DeviceRow(name=profile.device, space=profile.space, predictor=profile.predictor,
                        state=json.dumps(profile.state), quality=json.dumps(profile.quality),
                        num_measurements=len(profile.measurements), created=profile.created,
                        adaptation=profile.latency_predictor.adaptation(),
                        far_measurements=json.dumps(profile.far_measurements))
        row.measurements = [MeasurementRow(position=i, arch=json.dumps(rec, separators=(",", ":")),
                                           latency_ms=float(lat))
                            for i, (rec, lat) in enumerate(profile.measurements)]
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:
            # which unique rule refused it is read from what is stored, not from the driver's message (each
            # database words it its own way)
            names = self.names_like(profile.device)
            if profile.device not in names:
                try:
                    check_no_case_twin(profile.device, names)
                except NasedgeError as exc:
                    raise DeviceExists(str(exc)) from None
                raise  # no name of it stored: another rule (or a twin deleted since), not "already registered"
            raise DeviceExists(f"device {profile.device!r} is already registered; delete it first to "
                               f"register it again") from None

    def get(self, name: str) -> tuple[int, DeviceProfile] | None:
        """(version, profile) of a registered device, or None."""
        with Session(self.engine) as session:
            row = session.scalars(select(DeviceRow).where(DeviceRow.name == name)).one_or_none()
            if row is None:
                return None
            profile = DeviceProfile(
                device=row.name, space=row.space, predictor=row.predictor, state=json.loads(row.state),
                measurements=[(json.loads(m.arch), m.latency_ms) for m in row.measurements],
                quality=json.loads(row.quality), created=row.created,
                far_measurements=[(int(i), float(r)) for i, r in json.loads(row.far_measurements)])
            return row.id, profile

    def names_like(self, name: str) -> list[str]:
        """Registered names equal to ``name`` but for case (``name`` itself among them if registered)."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(DeviceRow.name).where(func.lower(DeviceRow.name) == name.lower()))
                        .scalars())

    def version(self, name: str) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(DeviceRow.id).where(DeviceRow.name == name)).scalar_one_or_none()

    def summary(self, name: str) -> DeviceSummary | None:
        with Session(self.engine) as session:
            row = session.scalars(select(DeviceRow).where(DeviceRow.name == name)).one_or_none()
            return None if row is None else _summary(row)

    def summaries(self) -> list[DeviceSummary]:
        with Session(self.engine) as session:
            return [_summary(r) for r in session.scalars(select(DeviceRow).order_by(DeviceRow.name))]

    def delete(self, name: str) -> bool:
        """Delete a registered device and its measurements; whether it existed."""
        with self.engine.begin() as conn:
            return conn.execute(DeviceRow.__table__.delete().where(DeviceRow.name == name)).rowcount > 0

    def check_writable(self) -> None:
        """A write that changes nothing, rolled back: a read-only database (file, folder or URL) is said at start."""
        try:
            with self.engine.connect() as conn, conn.begin() as transaction:
                conn.execute(DeviceRow.__table__.delete().where(DeviceRow.id < 0))
                transaction.rollback()
        except DBAPIError as exc:
            url = self.engine.url.render_as_string(hide_password=True)
            raise NasedgeError(f"service.db: {url} cannot be written ({one_line(exc)}); registrations would "
                               f"fail; give a writable database, or serve read-only without write "
                               f"tokens") from None

    # --- health ----------------------------------------------------------------------------
    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def problems(self) -> list[str]:
        """Integrity problems: SQLite's own check, and devices whose measurement rows are incomplete."""
        found = []
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                result = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
                if result != ["ok"]:
                    found.extend(f"integrity_check: {r}" for r in result)
                orphans = conn.exec_driver_sql("PRAGMA foreign_key_check")
                found.extend(f"foreign_key_check: {tuple(r)}" for r in orphans)
            counts = select(MeasurementRow.device_id, func.count().label("n")).group_by(
                MeasurementRow.device_id).subquery()
            rows = conn.execute(select(DeviceRow.name, DeviceRow.num_measurements, counts.c.n).outerjoin(
                counts, counts.c.device_id == DeviceRow.id))
            for name, expected, n in rows:
                if (n or 0) != expected:
                    found.append(f"device {name!r}: {n or 0} measurement rows, expected {expected}")
        return found

    def close(self) -> None:
        self.engine.dispose()
