"""Reading the project's editable YAML files (taxonomy, policy) into their pydantic schemas."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from nii.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path, schema: type[M], what: str) -> M:
    """Parse YAML at `path` into `schema`; any problem is a ConfigError naming the file and field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}; fix or restore the file") from exc
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{what} {path}: {where}: {first['msg']} ({exc.error_count()} problems)") from exc
