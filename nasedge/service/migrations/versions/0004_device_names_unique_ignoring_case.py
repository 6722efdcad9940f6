"""Device names unique regardless of case: a unique index on lower(name), whichever process stores the case twin.

The service's check for case twins reads the stored names then inserts, under a lock of one process: workers or
replicas sharing the database could each store one of ``Foo`` and ``foo``. The database now refuses the second.

A database that already holds case twins is not upgraded: which one to keep is its owner's choice, so the upgrade
stops, changing nothing, and names them and the way out (:class:`CaseTwinsStored`); no device is deleted or
renamed behind its owner's back.

SQLite cannot reflect an index on an expression: a later migration that recreates ``devices`` in batch mode
(drop_column, alter_column) loses it, and must create it again (``tests/service/test_storage.py`` checks it is there);
``nasedge.service.sqlite_rebuild.drop_devices_column`` keeps it, and the measurements a bare batch copy deletes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from nasedge.errors import NasedgeError

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEX = "uq_devices_name_lower"  # as DeviceRow's index in nasedge/service/storage.py


class CaseTwinsStored(NasedgeError):
    """The database holds devices whose names differ only in case; the unique index cannot be created."""


def stored_case_twins(connection: sa.Connection) -> list[list[tuple[str, int]]]:
    """The registered devices whose names differ only in case, as groups of (name, version), oldest first."""
    rows = connection.execute(sa.text(
        "SELECT name, id FROM devices WHERE lower(name) IN "
        "(SELECT lower(name) FROM devices GROUP BY lower(name) HAVING COUNT(*) > 1) ORDER BY lower(name), id"))
    groups: dict[str, list[tuple[str, int]]] = {}
    for name, version in rows:
        groups.setdefault(name.lower(), []).append((name, version))
    return list(groups.values())


def upgrade() -> None:
    # checked before the index is tried: the database's own error would name neither twin nor the way out.
    # Storage.migrate upgrades in one transaction, so a refusal leaves the database at the revision it had.
    twins = stored_case_twins(op.get_bind())
    if twins:
        listed = "; ".join(" and ".join(f"{name!r} (version {version})" for name, version in group)
                           for group in twins)
        raise CaseTwinsStored(
            f"devices {listed} differ only in case, which nasedge refuses (device names are file names); keep "
            f"one of each: delete the others (DELETE /v1/devices/NAME on a server of the nasedge that registered "
            f"them, or SQL with foreign keys on: DELETE FROM devices WHERE id = VERSION), then migrate again "
            f"(nasedge serve migrates at start)")
    op.create_index(INDEX, "devices", [sa.func.lower(sa.column("name"))], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="devices")
