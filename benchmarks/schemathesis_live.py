"""The schemathesis CLI against a live `nii serve`, each operation called with a key of a role allowed to.

    python benchmarks/schemathesis_live.py [--model models/nii-nano.onnx] [--max-examples 100]
        [--seed 1] [--out benchmarks/results/schemathesis.txt]

A fresh SQLite store in a temporary folder gets one key per role, `nii serve` starts on it on a free port
with the shipped model, one sample scan is uploaded (so the store is not empty), and `schemathesis run`
tests every operation of /openapi.json, all phases, with the checks below. The command and the CLI's
warnings and summary go to --out; the exit status is schemathesis's (0: no failure).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from nii.api.samples import wait_ready
from nii.store import Database, accounts
from nii.store.accounts import Role

ROOT = Path(__file__).resolve().parents[1]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# Operations (schemathesis labels, as regexes) and the role that calls them; the rest use the officer key.
ROLES = (
    (r"^POST /v1/scans$", "station"),
    (r"^POST /v1/scans/\{case_id\}/retry$", "supervisor"),
    (r"^GET /v1/scans/\{case_id\}/audit$", "supervisor"),
    (r"^GET /v1/audit$", "supervisor"),
    (r"^(GET|POST|DELETE) /v1/webhooks", "admin"),
)


def _config(keys: dict[str, str]) -> str:
    """schemathesis.toml: the officer key by default, another role's key where ROLES says."""
    lines = [f'headers = {{ Authorization = "Bearer {keys["officer"]}" }}']
    for pattern, role in ROLES:
        lines += [
            "",
            "[[operations]]",
            f"include-name-regex = '{pattern}'",
            f'headers = {{ Authorization = "Bearer {keys[role]}" }}',
        ]
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "nii-nano.onnx")
    parser.add_argument("--max-examples", type=int, default=100, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "schemathesis.txt")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="nii-schemathesis-"))
    url = f"sqlite:///{folder / 'nii.db'}"
    db = Database(url)
    db.migrate()
    keys = {}
    with db.session() as s:
        for role in ("station", "officer", "supervisor", "admin"):
            accounts.add_principal(s, name=role, role=Role(role))
            keys[role] = accounts.issue_key(s, role)[1]
    db.dispose()
    config = folder / "schemathesis.toml"
    config.write_text(_config(keys), encoding="utf-8")

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "NII_ENVIRONMENT": "test",
        "NII_SECRET_KEY": "schemathesis-" + "x" * 40,
        "NII_DATA_DIR": str(folder),
        "NII_RATE_LIMIT_PER_MINUTE": "0",
        "NII_MAX_WAIT_S": "2",
        "NII_DETECTOR_THREADS": "1",
    }
    serve = [sys.executable, "-m", "nii.cli", "serve", "--port", str(port), "--model", str(args.model)]
    with (folder / "server.log").open("wb") as log:
        server = subprocess.Popen(serve, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_ready(base, alive=lambda: server.poll() is None)
        seeded = httpx.post(
            f"{base}/v1/scans?wait=60",
            files={
                "scan": ("scan_00.png", (ROOT / "sample_scans" / "scan_00.png").read_bytes(), "image/png")
            },
            data={
                "station_scan_id": "seed-1",
                "declaration": (ROOT / "sample_scans" / "scan_00.json").read_text(encoding="utf-8"),
            },
            headers={"Authorization": f"Bearer {keys['station']}"},
            timeout=90,
        )
        seeded.raise_for_status()
        command = [
            "schemathesis",
            "--config-file",
            "schemathesis.toml",
            "run",
            f"{base}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            str(args.max_examples),
            "--seed",
            str(args.seed),
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--no-color",
        ]
        executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
        start = time.monotonic()
        run = subprocess.run(
            [executable, *command[1:2], str(config), *command[3:]],
            capture_output=True,
            text=True,
            cwd=folder,
        )
        wall_s = time.monotonic() - start
    finally:
        server.terminate()
        server.wait(30)
    output = run.stdout + run.stderr
    print(output)
    server_errors = len(re.findall(r'" 5\d\d ', (folder / "server.log").read_text(errors="replace")))
    report = [
        f"# schemathesis {_version(executable)} against a live `nii serve` "
        f"(model {args.model.name}, SQLite), {time.strftime('%Y-%m-%d')}",
        "# reproduce: python benchmarks/schemathesis_live.py "
        f"--max-examples {args.max_examples} --seed {args.seed}",
        "# command (keys per role in schemathesis.toml, written by the script):",
        "#   " + " ".join(command).replace(base, "http://127.0.0.1:PORT"),
        f"# exit status {run.returncode}; {wall_s:.0f} s; 5xx lines in the server log: {server_errors}",
        "# warnings are expected: generated bytes are rarely a decodable scan (422) and generated ids",
        "# rarely exist (404); tests/api/test_schemathesis.py also aims at a case and a subscription that do",
        "",
        _summary(output).replace(base, "http://127.0.0.1:PORT"),
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(report) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    shutil.rmtree(folder, ignore_errors=True)
    return run.returncode


def _version(executable: str) -> str:
    out = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout
    return out.split()[-1] if out.strip() else "?"


def _summary(output: str) -> str:
    """The CLI's closing part: its warnings and summary."""
    lines = output.splitlines()
    for marker in ("WARNINGS ===", "SUMMARY ==="):
        at = next((i for i, line in enumerate(lines) if marker in line), None)
        if at is not None:
            return "\n".join(lines[at:])
    return "\n".join(lines[-40:])


if __name__ == "__main__":
    sys.exit(main())
