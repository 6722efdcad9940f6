"""Alembic environment of the service database; run programmatically by :meth:`Storage.migrate`."""

from alembic import context
from sqlalchemy import create_engine

from nasedge.service.storage import Base

config = context.config


def _run(connection) -> None:
    # batch mode: SQLite alters tables by copying them, which later migrations will need
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # the `alembic` command line, with sqlalchemy.url set
    with create_engine(config.get_main_option("sqlalchemy.url")).connect() as conn:
        _run(conn)
