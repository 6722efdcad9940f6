"""How each device's predictor adapted to its measurements (LatencyPredictor.adaptation()), for the listings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from nasedge.service.sqlite_rebuild import drop_devices_column

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # devices registered before: empty (their predictors are not refitted to say it)
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("adaptation", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    # not batch_alter_table("devices") alone: on SQLite its copy of devices, dropping the old one, cascaded into
    # measurements and deleted every one
    drop_devices_column("adaptation")
