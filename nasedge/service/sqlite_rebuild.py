"""Dropping a column of ``devices`` in a migration without losing a measurement, on SQLite too.

SQLite drops a column by copying the table (Alembic's batch mode), and dropping the old ``devices`` with foreign keys
on (as :mod:`nasedge.service.storage` connects) deletes it row by row first: ``measurements``' ON DELETE CASCADE
then empties ``measurements``. ``PRAGMA foreign_keys=OFF`` would stop it, but SQLite ignores it inside a transaction,
and :meth:`Storage.migrate` migrates inside one (all or nothing); ``defer_foreign_keys`` and ``legacy_alter_table``
defer checks and change renames, not cascades. So while ``devices`` is copied, nothing references it: the
measurements wait in a table without constraints, ``measurements`` is dropped (its own drop cascades nowhere) and
created again as it was, referencing the new ``devices``, once it holds every device.

What the copy alone would lose is kept too: AUTOINCREMENT and the highest version ever handed out (versions are
never reused, or a process would take a re-registered device's predictor for the one it cached), and the indexes
created by hand, which SQLite cannot always reflect (0004's unique index on ``lower(name)``). An index on the
dropped column is not guessed at: its migration drops it first.
"""

from __future__ import annotations

from alembic import op

KEPT = "_alembic_kept_measurements"


def drop_devices_column(column: str) -> None:
    """Drop ``devices.column`` (its values are lost: the older schema has no place for them), every device and
    measurement kept."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":  # dropped in place, rows untouched
        op.drop_column("devices", column)
        return
    sql = bind.exec_driver_sql
    measurements = sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'measurements'").scalar_one()
    # indexes of either table that are not a constraint's own (those have no sql and come back with their table)
    indexes = sql("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                  "AND tbl_name IN ('devices', 'measurements') ORDER BY name").all()
    highest = sql("SELECT seq FROM sqlite_sequence WHERE name = 'devices'").scalar()
    for name, _ in indexes:
        op.drop_index(name)  # not left to the copy: an index it cannot reflect is lost, one it can, made twice
    sql(f"CREATE TABLE {KEPT} AS SELECT * FROM measurements")
    sql("DROP TABLE measurements")
    # devices was created AUTOINCREMENT (0001), which SQLAlchemy does not reflect: said again
    with op.batch_alter_table("devices", recreate="always", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column(column)
    sql(measurements)  # as it was: its REFERENCES devices names the new table now
    sql(f"INSERT INTO measurements SELECT * FROM {KEPT}")
    sql(f"DROP TABLE {KEPT}")
    for _, index in indexes:
        sql(index)
    if highest is not None:  # the copy's sequence starts at the highest version stored, not the highest handed out
        sql("DELETE FROM sqlite_sequence WHERE name = 'devices'")
        sql("INSERT INTO sqlite_sequence (name, seq) VALUES ('devices', ?)", (highest,))
