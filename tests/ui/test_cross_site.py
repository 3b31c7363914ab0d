"""Another site's page in the operator's browser cannot use the agent: a cross-site
``text/plain`` LAUNCH_TASK (no CORS preflight) launches nothing, and a hostile name that
resolves to 127.0.0.1 (DNS rebinding) gets no page and no API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from yarl import URL

from .conftest import REBINDING_HOST, Page, UiAgent

ATTACK = """<!doctype html><title>waiting</title><script>
fetch(%(url)s, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
                body: %(body)s})
  .then(() => { document.title = "sent"; }, (error) => { document.title = "error " + error; });
</script>"""


@pytest.fixture
def hostile_site() -> Iterator[tuple[list[str], str]]:
    """A web server on another origin (``localhost``, the agent is on 127.0.0.1) whose page
    is the first item of the list; yields the list and the page's URL."""
    pages = [""]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages[0].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield pages, f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_cross_site_text_plain_launch_runs_nothing(
    page: Page, agent: UiAgent, hostile_site: tuple[list[str], str], tmp_path: Path
) -> None:
    pages, address = hostile_site
    tmp_path.chmod(0o777)
    marker = tmp_path / "pwned"
    task = {"name": "csrf", "task_id": {"value": "csrf"}, "command": {"value": f"touch {marker}"}}
    call = {"type": "LAUNCH_TASK", "launch_task": {"task": task}}
    pages[0] = ATTACK % {
        "url": json.dumps(f"{agent.url}/api/v1"),
        "body": json.dumps(json.dumps(call)),
    }
    page.driver.get(address)
    page.until(lambda d: d.title != "waiting", "the attack's request answered")
    assert page.driver.title == "sent", "the request reached the agent and was answered"
    tasks = agent.call({"type": "GET_TASKS"})["get_tasks"]
    ids = [t["task_id"]["value"] for key in tasks for t in tasks[key]]
    assert "csrf" not in ids
    assert not marker.exists()


def test_a_rebinding_name_gets_no_page_and_no_api(page: Page, agent: UiAgent) -> None:
    """The browser resolves the hostile name to the agent's address; the Host names it."""
    port = URL(agent.url).port
    page.driver.get(f"http://{REBINDING_HOST}:{port}/")
    text = page.element("body").text
    assert "--http_allowed_hosts" in text, text
    assert not page.driver.find_elements(By.ID, "tasks-table")
    page.driver.get(f"http://{REBINDING_HOST}:{port}/metrics/snapshot")
    assert "--http_allowed_hosts" in page.element("body").text
