"""The officer review page: static HTML, CSS and ES modules served by the service at `/`.

Nothing is fetched from outside the service (no CDN). Officers sign in with account name and
password (`POST /v1/session`); the page talks to the same `/v1` API with that session token, kept in
the tab's sessionStorage only. A strict Content-Security-Policy allows scripts, styles and
connections to this origin alone, so declaration text can never run as code.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


class _SecureStatic(StaticFiles):
    """StaticFiles that adds the security headers (and revalidation) to every asset."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, with_headers)


def mount_web(app: FastAPI) -> None:
    """Serve the page at `/` and its assets under `/static/`."""

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=SECURITY_HEADERS)

    app.mount("/static", _SecureStatic(directory=STATIC_DIR), name="web-static")
