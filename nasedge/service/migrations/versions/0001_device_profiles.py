"""Device profiles and their measurements.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("space", sa.String(128), nullable=False),
        sa.Column("predictor", sa.String(64), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("quality", sa.Text(), nullable=False),
        sa.Column("num_measurements", sa.Integer(), nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.UniqueConstraint("name", name="uq_devices_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "measurements",
        sa.Column("device_id", sa.Integer(), sa.ForeignKey("devices.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("arch", sa.Text(), nullable=False),
        sa.Column("latency_ms", sa.Double(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("measurements")
    op.drop_table("devices")
