"""Alembic environment: runs online on the connection given by `nii.store.db.migrate`, or on
`sqlalchemy.url` / NII_DATABASE_URL when run from the `alembic` command line."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from nii.store.models import Base

target_metadata = Base.metadata
config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "NII_DATABASE_URL", "sqlite:///data/nii.db"
    )
    with create_engine(url).begin() as conn:
        _run(conn)
