"""Service settings, read once from NII_* environment variables (or a .env file) and injected.

Outside development the service refuses to start with a default or empty secret key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nii.errors import ConfigError

DEV_SECRET = "dev-insecure-secret-change-me"  # accepted only with environment=development
MIN_SECRET_CHARS = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NII_", env_file=".env", extra="ignore", frozen=True)

    environment: Literal["development", "production", "test"] = "development"
    secret_key: str = DEV_SECRET  # derives webhook signing keys; >= 32 chars outside development
    data_dir: Path = Path("data")  # SQLite file and scan files live here unless set below
    database_url: str = ""  # default: sqlite:///<data_dir>/nii.db
    scan_root: Path | None = None  # default: <data_dir>/scans
    model_path: Path = Path("models/nii-nano.onnx")
    policy_path: Path | None = None  # default: the shipped policy
    taxonomy_path: Path | None = None  # default: the shipped taxonomy
    detector_threads: Annotated[int, Field(ge=1, le=64)] | None = None
    detector_fp16: bool = False  # fp16 on a GPU provider (CUDA / TensorRT); ignored on CPU
    workers: Annotated[int, Field(ge=1, le=64)] = 1  # analysis threads
    queue_size: Annotated[int, Field(ge=1, le=100_000)] = 64  # accepted, not yet analysed scans
    max_upload_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024 * 1024  # whole multipart body
    max_pixels: Annotated[int, Field(ge=1)] = 50_000_000  # per decoded image (bomb guard)
    max_wait_s: Annotated[float, Field(ge=0, le=120)] = 30.0  # cap of ?wait=
    rate_limit_per_minute: Annotated[int, Field(ge=0)] = 600  # uploads per station; 0 = unlimited
    sign_in_per_minute: Annotated[int, Field(ge=0)] = 10  # attempts per account name; 0 = unlimited
    session_idle_s: Annotated[float, Field(gt=0)] = 900.0  # a page session ends after this long unused
    session_max_s: Annotated[float, Field(gt=0)] = 43_200.0  # and this long after sign-in at the latest
    cors_origins: list[str] = []  # closed by default
    webhook_poll_s: Annotated[float, Field(gt=0)] = 1.0
    webhook_max_attempts: Annotated[int, Field(ge=1, le=50)] = 10
    webhook_backoff_s: Annotated[float, Field(gt=0)] = 2.0  # first retry delay; doubles each time
    webhook_timeout_s: Annotated[float, Field(gt=0)] = 10.0

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.environment != "development":
            if not self.secret_key.strip() or self.secret_key == DEV_SECRET:
                raise ValueError(
                    f"NII_SECRET_KEY is empty or the development default; outside development set it to a "
                    f"random value of at least {MIN_SECRET_CHARS} characters "
                    "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            if len(self.secret_key) < MIN_SECRET_CHARS:
                raise ValueError(
                    f"NII_SECRET_KEY has {len(self.secret_key)} characters; use at least {MIN_SECRET_CHARS}"
                )
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'nii.db'}"

    @property
    def resolved_scan_root(self) -> Path:
        return self.scan_root or self.data_dir / "scans"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (overrides win); a bad value is a ConfigError naming it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"NII_{'_'.join(map(str, e['loc'])).upper() or 'SETTINGS'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid service settings: {problems}") from exc
