"""The web UI in a real headless browser (Debian's chromium and chromedriver, through
Selenium) against a real agent subprocess.

One browser serves every test of a pytest process (xdist worker); one agent serves each
test module. Every wait is an explicit wait on the page (WebDriverWait), never a sleep.
``DOCKYARD_UI_SCREENSHOTS=docs/ui`` makes the tests that show a page save its screenshot
there (``docs/ui.md`` shows them).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from ..agent.conftest import kill_leftovers, start_agent, stop_agent
from ..conftest import BROKEN_PLUGINS

pytest.importorskip("dockyard_mesos")

WAIT_SECONDS = 30
WINDOW = (1280, 800)
SCREENSHOTS = os.environ.get("DOCKYARD_UI_SCREENSHOTS")
REBINDING_HOST = "rebinding.test"
"""A name the browser resolves to 127.0.0.1, as a DNS-rebinding attacker's would."""


def chromium_paths() -> tuple[str, str]:
    """Debian's chromium and its chromedriver: Selenium is given both, so that its
    selenium-manager never looks for (or downloads) a browser or a driver."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        message = "needs Debian's chromium and chromium-driver (scripts/test installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return browser, driver


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    binary, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--host-resolver-rules=MAP {REBINDING_HOST} 127.0.0.1",  # a hostile DNS name
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=driver_path)
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()  # ends chromium and chromedriver
        service.stop()


@dataclass
class UiAgent:
    """A real agent, and the API calls a test makes besides the page."""

    url: str
    work_dir: Path
    auth: tuple[str, str] | None = None
    launched: list[str] = field(default_factory=list)

    def request(self, path: str, body: Any = None) -> tuple[int, bytes, dict[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data)
        if self.auth is not None:
            token = base64.b64encode(":".join(self.auth).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)

    def call(self, body: dict[str, Any]) -> Any:
        status, answer, _ = self.request("/api/v1", body)
        assert status in (200, 202), answer
        return json.loads(answer) if answer else None

    def launch(
        self,
        command: str,
        *,
        task_id: str | None = None,
        environment: dict[str, str] | None = None,
        **extra: Any,
    ) -> str:
        """Launch a command task (a fresh id unless given); returns its id."""
        task_id = task_id or f"ui-{uuid.uuid4().hex[:8]}"
        variables = [{"name": k, "value": v} for k, v in (environment or {}).items()]
        task = {
            "name": extra.pop("name", task_id),
            "task_id": {"value": task_id},
            "command": {"value": command, "environment": {"variables": variables}},
            **extra,
        }
        self.call({"type": "LAUNCH_TASK", "launch_task": {"task": task}})
        self.launched.append(task_id)
        return task_id

    def task(self, task_id: str) -> dict[str, Any]:
        tasks = self.call({"type": "GET_TASKS"})["get_tasks"]
        found = [
            task
            for key in ("launched_tasks", "completed_tasks")
            for task in tasks.get(key, [])
            if task["task_id"]["value"] == task_id
        ]
        assert found, f"no task {task_id}"
        task: dict[str, Any] = found[0]
        return task


def run_agent(
    tmp_path_factory: pytest.TempPathFactory, *flags: str, auth: tuple[str, str] | None = None
) -> Iterator[UiAgent]:
    """An agent with the mesos containerizer, the logrotate logger and a broken plugin."""
    folder = tmp_path_factory.mktemp("ui-agent")
    work_dir = folder / "work"
    with pytest.MonkeyPatch.context() as patch:  # the broken plugin, for the agent only
        current = os.environ.get("PYTHONPATH")
        patch.setenv("PYTHONPATH", f"{BROKEN_PLUGINS}{os.pathsep}{current or ''}")
        process, url = start_agent(
            work_dir,
            folder / "agent.log",
            "--containerizers=mesos",
            "--container_logger=logrotate",
            *flags,
        )
    try:
        yield UiAgent(url, work_dir, auth)
    finally:
        stop_agent(process)
        kill_leftovers(work_dir)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiAgent]:
    yield from run_agent(tmp_path_factory)


class Page:
    """The browser on one agent's UI, with explicit waits on what the page shows."""

    def __init__(self, driver: webdriver.Chrome, agent: UiAgent) -> None:
        self.driver = driver
        self.agent = agent

    def open(self, route: str = "tasks") -> None:
        """Load the page afresh (a new document, not just a new hash)."""
        self.driver.get("about:blank")
        self.driver.get(f"{self.agent.url}/#/{route}")

    def until(self, condition: Callable[[webdriver.Chrome], Any], what: str) -> Any:
        return WebDriverWait(
            self.driver,
            WAIT_SECONDS,
            poll_frequency=0.05,
            ignored_exceptions=(StaleElementReferenceException,),
        ).until(condition, f"the page never showed {what}")

    def element(self, css: str) -> WebElement:
        found: WebElement = self.until(
            lambda driver: next(iter(driver.find_elements(By.CSS_SELECTOR, css)), None), css
        )
        return found

    def live(self) -> None:
        self.until(lambda d: "live" in d.find_element(By.ID, "connection").text, "a live stream")

    def row(self, task_id: str) -> WebElement:
        return self.element(f'#tasks-table tr[data-task-id="{css_string(task_id)}"]')

    def state_of(self, task_id: str, state: str) -> WebElement:
        """The task's row once it shows ``state`` (e.g. RUNNING)."""
        selector = f'#tasks-table tr[data-task-id="{css_string(task_id)}"]'
        row: WebElement = self.until(
            lambda d: next(
                (
                    row
                    for row in d.find_elements(By.CSS_SELECTOR, selector)
                    if row.find_element(By.CSS_SELECTOR, ".state").text == state
                ),
                None,
            ),
            f"task {task_id} in state {state}",
        )
        return row

    def screenshot(self, name: str) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(Path(SCREENSHOTS) / f"{name}.png"))

    def severe_console_messages(self) -> list[str]:
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")  # type: ignore[no-untyped-call]
            if entry["level"] == "SEVERE" and "401" not in entry["message"]
        ]


def css_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


@pytest.fixture
def page(browser: webdriver.Chrome, agent: UiAgent) -> Page:
    browser.set_window_size(*WINDOW)
    browser.get_log("browser")  # type: ignore[no-untyped-call]  # forget earlier tests' log
    return Page(browser, agent)
