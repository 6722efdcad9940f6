"""The measurements of each device's profile that read far from what the others predict (DeviceProfile.far_measurements), so that
a registration sent again is answered with the same warnings as the first.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from nasedge.service.sqlite_rebuild import drop_devices_column

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # devices registered before: none known (their cross-validation is not rerun to find them)
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("far_measurements", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    # not batch_alter_table("devices") alone: on SQLite its copy of devices, dropping the old one, cascaded into
    # measurements and deleted every one
    drop_devices_column("far_measurements")
