"""The Agent page: health, version, plugins (a broken one with its reason), metrics charts,
flags; and the routes the UI adds to the agent."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from dockyard import __version__
from selenium.webdriver.common.by import By

from .conftest import Page, UiAgent, run_agent


def test_the_agent_page_shows_health_version_plugins_metrics_and_flags(
    page: Page, agent: UiAgent
) -> None:
    page.open("agent")
    page.until(lambda d: d.find_element(By.ID, "health").text == "healthy", "healthy")
    assert page.element("#version").text == __version__

    plugins = page.element("#plugins-table")
    mesos = plugins.find_element(By.XPATH, ".//tr[th='mesos']")
    assert "yes" in mesos.text, "enabled"
    assert "launch" in mesos.text, "with its hooks"
    broken = page.element("#broken-plugins-table").find_element(By.XPATH, ".//tr[th='broken']")
    assert "dockyard-broken 0.1" in broken.text
    assert "dockyard_broken_module_that_does_not_exist" in broken.text, "the reason"

    page.element("#flags-table").find_element(By.XPATH, ".//tr[th='--container_logger']")
    # Two samples make a line: the chart of each counter over the page's lifetime.
    page.element("#metrics-table svg.sparkline polyline")
    page.element("#metric-filter").send_keys("tasks_running")
    page.until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#metrics-table tbody tr")) == 1,
        "only the filtered metric",
    )
    page.driver.find_element(By.ID, "metric-filter").clear()
    page.element("#metrics-table svg.sparkline polyline")
    page.screenshot("agent")


def test_get_plugins_lists_plugins_and_broken_ones(agent: UiAgent) -> None:
    answer = agent.call({"type": "GET_PLUGINS"})
    assert answer["type"] == "GET_PLUGINS"
    plugins = {plugin["name"]: plugin for plugin in answer["get_plugins"]["plugins"]}
    assert plugins["mesos"]["enabled"] is True
    assert plugins["mesos"]["group"] == "dockyard.containerizers"
    assert "launch" in plugins["mesos"]["hooks"]
    assert plugins["logrotate"]["enabled"] is True
    assert plugins["sandbox"]["enabled"] is False
    broken = {plugin["name"]: plugin for plugin in answer["get_plugins"]["broken"]}["broken"]
    assert broken["distribution"] == "dockyard-broken"
    assert "dockyard_broken_module_that_does_not_exist" in broken["error"]


def test_the_ui_files_carry_a_content_security_policy(agent: UiAgent) -> None:
    for path in ("/", "/ui/app.js", "/ui/style.css"):
        status, _, headers = agent.request(path)
        assert status == 200
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
    assert agent.request("/ui/app.js")[2]["Content-Type"].startswith("text/javascript")
    assert agent.request("/ui/missing.js")[0] == 404
    assert agent.request("/ui/..%2Fapi%2Fui.py")[0] == 404
    assert agent.request("/ui/")[0] == 404


@pytest.fixture(scope="module")
def agent_without_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiAgent]:
    yield from run_agent(tmp_path_factory, "--no-web_ui")


def test_no_web_ui_serves_the_api_only(agent_without_ui: UiAgent) -> None:
    assert agent_without_ui.request("/")[0] == 404
    assert agent_without_ui.request("/ui/app.js")[0] == 404
    flags = agent_without_ui.call({"type": "GET_FLAGS"})["get_flags"]["flags"]
    assert {"name": "web_ui", "value": "false"} in flags
    assert json.loads(agent_without_ui.request("/api/v1", {"type": "GET_HEALTH"})[1])
