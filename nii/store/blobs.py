"""Content-addressed scan files: ROOT/ab/cd/<sha256>, written atomically and fsynced.

The same bytes are stored once; a file whose content does not match its name is refused on read.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from nii.errors import NotFound, StoreError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise NotFound(f"{sha256!r} is not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store `data` durably (fsync of file and folder); returns its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.is_file() and target.stat().st_size == len(data):
            return sha
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StoreError(f"cannot store scan file under {self.root}: {exc.strerror or exc}") from exc
        return sha

    def get(self, sha256: str) -> bytes:
        """The bytes stored under `sha256` (NotFound if absent, StoreError if corrupted)."""
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"scan file {sha256[:12]} is not in the store at {self.root}") from None
        except OSError as exc:
            raise StoreError(f"cannot read scan file {path}: {exc.strerror or exc}") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StoreError(f"scan file {path} is corrupted: its content no longer matches its sha256")
        return data

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()
