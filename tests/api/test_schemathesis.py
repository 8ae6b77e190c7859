"""Property-based tests of the whole OpenAPI surface with schemathesis, in process (ASGI).

Every operation gets generated requests, valid and invalid, sent with the key of a role allowed to
call it: no response may be a 5xx, and every response must match its documented status code, content
type and schema. A seeded held case and a webhook subscription give the id parameters something real
to hit. NII_SCHEMATHESIS_EXAMPLES sets the examples per operation and strategy (default 40).

(`schemathesis.pytest.from_fixture` needs `Function._nodeid`, which pytest 9 no longer has, so each
operation is a plain parametrized test over `APIOperation.as_strategy`.)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from apihelpers import SAMPLES, FakeDetector, RecordingTransport, add_keys, make_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from nii.api.main import create_app

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("NII_SCHEMATHESIS_EXAMPLES", "40"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# The role whose key calls each operation: one that may, so generated requests reach the handler
# instead of stopping at 403. Patterns match the whole "METHOD path"; the rest are officers'.
ROLES = (
    (r"POST /v1/scans", "station"),
    (r"POST /v1/scans/\{case_id\}/retry", "supervisor"),
    (r"GET /v1/scans/\{case_id\}/audit", "supervisor"),
    (r"GET /v1/audit", "supervisor"),
    (r"(GET|POST|DELETE) /v1/webhooks.*", "admin"),
)


def role_for(method: str, path: str) -> str:
    label = f"{method.upper()} {path}"
    return next((role for pattern, role in ROLES if re.fullmatch(pattern, label)), "officer")


def _operations() -> list[tuple[str, str]]:
    # Building the app reads no database; only the lifespan does.
    app = create_app(make_settings("sqlite://", Path("unused")), load_model=False)
    return [(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item]


OPERATIONS = _operations()


@dataclass(frozen=True)
class Served:
    schema: schemathesis.schemas.BaseSchema
    keys: dict[str, str]
    path_ids: dict[str, str]  # path parameter -> an id that exists


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{folder / 'nii.db'}"
    keys = add_keys(url)
    app = create_app(
        make_settings(url, folder, rate_limit_per_minute=0, max_wait_s=2.0, queue_size=64),
        detector=FakeDetector(("gun", 0.95)),
        webhook_client=httpx.Client(transport=RecordingTransport()),
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app's lifespan
    try:
        with asgi.get_client(app) as client:
            held = client.post(
                "/v1/scans?wait=20",
                files={"scan": ("s.png", (SAMPLES / "scan_00.png").read_bytes(), "image/png")},
                data={
                    "station_scan_id": "seed-1",
                    "declaration": (SAMPLES / "scan_00.json").read_text(encoding="utf-8"),
                },
                headers={"Authorization": f"Bearer {keys['station']}"},
            )
            assert held.status_code == 200 and held.json()["state"] == "held", held.text
            sub = client.post(
                "/v1/webhooks",
                json={"name": "seed", "url": "https://clearance.example/hook"},
                headers={"Authorization": f"Bearer {keys['admin']}"},
            )
            assert sub.status_code == 201, sub.text
        yield Served(schema, keys, {"case_id": held.json()["id"], "subscription_id": sub.json()["id"]})
    finally:
        asgi.shutdown_lifespans()  # stops the worker pool and webhook deliverer


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms_to_the_openapi(served: Served, method: str, path: str) -> None:
    operation = served.schema[path][method]
    headers = {"Authorization": f"Bearer {served.keys[role_for(method, path)]}"}
    known = {name: value for name, value in served.path_ids.items() if f"{{{name}}}" in path}
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    if known:  # also aim valid requests at a case or subscription that exists
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known))

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=EXAMPLES * len(strategies),
        derandomize=True,  # the same examples every run; explore with benchmarks/schemathesis_live.py --seed
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()
