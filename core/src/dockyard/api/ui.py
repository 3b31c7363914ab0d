"""The web UI: a few static files (``dockyard/web_ui/``) served at ``/`` and ``/ui/<name>``.

The page is plain JavaScript modules that call the API like any other client, with the
same authentication: the files themselves hold no state, so they are served without
credentials, and every call they make needs what the API asks for. The files are read
once at start-up into memory: only those names exist, so no path reaches the file system.
Every answer carries a Content-Security-Policy that allows only these files (no inline
script, no other origin), so text from tasks that a bug let into the page still could not
run.
"""

from __future__ import annotations

import mimetypes
from importlib import resources

from aiohttp import web

STATIC_PACKAGE = "dockyard"
STATIC_FOLDER = "web_ui"
INDEX = "index.html"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
UI_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Always the running agent's own files: an upgraded agent never meets a cached module.
    "Cache-Control": "no-store",
}
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}

UI_FILES = web.AppKey("ui_files", dict[str, tuple[bytes, str]])


def load_files() -> dict[str, tuple[bytes, str]]:
    """Each shipped file's bytes and content type, by name."""
    folder = resources.files(STATIC_PACKAGE) / STATIC_FOLDER
    files: dict[str, tuple[bytes, str]] = {}
    for item in folder.iterdir():
        if item.is_file():
            suffix = "." + item.name.rpartition(".")[2]
            kind = CONTENT_TYPES.get(suffix) or mimetypes.guess_type(item.name)[0]
            files[item.name] = (item.read_bytes(), kind or "application/octet-stream")
    return files


def setup(app: web.Application) -> None:
    """Add ``/`` and ``/ui/{name}`` to ``app``."""
    app[UI_FILES] = load_files()
    app.router.add_get("/", index)
    app.router.add_get("/ui/{name}", static_file)


def serve(request: web.Request, name: str) -> web.Response:
    found = request.app[UI_FILES].get(name)
    if found is None:
        raise web.HTTPNotFound(text=f"No UI file named '{name}'")
    body, content_type = found
    charset = "utf-8" if content_type.startswith("text/") else None
    return web.Response(body=body, content_type=content_type, charset=charset, headers=UI_HEADERS)


async def index(request: web.Request) -> web.Response:
    return serve(request, INDEX)


async def static_file(request: web.Request) -> web.Response:
    return serve(request, request.match_info["name"])
