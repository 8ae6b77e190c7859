"""One error tree for nii.

    NiiError
    ├── UsageError          bad argument or option given by the user (CLI exit status 2)
    ├── ScanFormatError     a scan file that cannot be read or is not what it claims
    ├── DeclarationError    a declaration or manifest that does not validate
    ├── DatasetError        a dataset folder or annotation file that cannot be read
    ├── ModelError          a missing, corrupt or inconsistent model or model card
    ├── ConfigError         a training config, policy or taxonomy file that does not validate
    ├── NotFound            an identifier that does not exist
    └── IllegalTransition   a case state change that the workflow does not allow

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
