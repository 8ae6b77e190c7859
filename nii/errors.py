"""One error tree for nii.

    NiiError
    ├── UsageError          bad argument or option given by the user (CLI exit status 2)
    ├── ScanFormatError     a scan file that cannot be read or is not what it claims
    ├── DeclarationError    a declaration or manifest that does not validate
    ├── DatasetError        a dataset folder or annotation file that cannot be read
    ├── ModelError          a missing, corrupt or inconsistent model or model card
    ├── ConfigError         a training config, policy or taxonomy file that does not validate
    ├── NotFound            an identifier that does not exist
    ├── IllegalTransition   a case state change that the workflow does not allow
    ├── Conflict            a request that contradicts stored state (e.g. a reused idempotency key)
    ├── StoreError          the database or scan store cannot be reached or refused a write
    ├── AuditChainError     the audit chain does not verify (a record was edited or deleted)
    ├── AuthError           missing, malformed, unknown or revoked credentials
    ├── PermissionDenied    valid credentials whose role may not do this
    └── Overloaded          the service cannot take more work now (`retry_after_s` says when to retry)

Third-party errors are translated where they enter (``raise X(msg) from exc``); every message
says what was wrong and, where it can, what to do.
"""


class NiiError(Exception):
    """Root of every error nii raises on purpose."""


class UsageError(NiiError):
    """A bad argument or option given by the user."""


class ScanFormatError(NiiError):
    """A scan file that cannot be decoded or has the wrong shape, depth or size."""


class DeclarationError(NiiError):
    """A declaration or manifest that does not validate."""


class DatasetError(NiiError):
    """A dataset folder or annotation file that cannot be read."""


class ModelError(NiiError):
    """A missing, corrupt or inconsistent model or model card."""


class ConfigError(NiiError):
    """A config, policy or taxonomy file that does not validate."""


class NotFound(NiiError):
    """An identifier that does not exist."""


class IllegalTransition(NiiError):
    """A case state change that the workflow does not allow."""


class Conflict(NiiError):
    """A request that contradicts stored state, such as an idempotency key reused with other content."""


class StoreError(NiiError):
    """The database or the scan file store cannot be reached or refused a write."""


class AuditChainError(NiiError):
    """The audit chain does not verify: a record was edited, inserted or deleted."""


class AuthError(NiiError):
    """Missing, malformed, unknown or revoked credentials."""


class PermissionDenied(NiiError):
    """Valid credentials whose role may not perform the action."""


class Overloaded(NiiError):
    """The service cannot take more work now; retry after `retry_after_s` seconds."""

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
