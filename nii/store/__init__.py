"""The workflow store: SQLAlchemy 2 tables, repositories, Alembic migrations, audit chain, outbox.

`db`: engines, sessions, migrations (SQLAlchemy errors become `StoreError` here); `models`: tables;
`states`: case states and the allowed transitions; `cases`, `accounts`, `logins` (sign-in sessions),
`outbox`: repositories that take a session (one transaction); `audit`: the hash chain; `blobs`:
content-addressed scan files. Never imports fastapi.
"""

from nii.store.blobs import BlobStore
from nii.store.db import Database
from nii.store.states import TRANSITIONS, CaseState, FinalOutcome, check_transition

__all__ = ["TRANSITIONS", "BlobStore", "CaseState", "Database", "FinalOutcome", "check_transition"]
