"""Officer sign-in: a scrypt password hash on principals, and login sessions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-20
"""

import sqlalchemy as sa
from alembic import op

from nii.store.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a table in place beyond ADD COLUMN; PostgreSQL runs plain DDL
    with op.batch_alter_table("principals") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(200), nullable=True))
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("principal_id", sa.String(40), sa.ForeignKey("principals.id"), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_login_sessions_principal_id", "login_sessions", ["principal_id"])
    op.create_index("ix_login_sessions_expires_at", "login_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("login_sessions")
    with op.batch_alter_table("principals") as batch:
        batch.drop_column("password_hash")
