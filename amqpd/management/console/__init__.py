"""The web console: static files (static/) served without auth, as RabbitMQ serves its UI's files;
the page itself logs in and calls the API with Basic auth. Plain HTML, CSS and JavaScript, no
library: see docs/management.md, "Web console"."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


async def _index(_request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html")


def routes() -> list[BaseRoute]:
    """`/` (the page) and `/console/...` (its script and style sheet)."""
    return [Route("/", _index), Mount("/console", StaticFiles(directory=STATIC))]
