"""The Tasks page: a live table from the SUBSCRIBE stream, filters, history, kill."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from .conftest import Page, UiAgent

WAIT_FOR_GO = "until [ -e go ]; do sleep 0.05; done"


def test_a_launched_task_appears_and_changes_state_live(page: Page, agent: UiAgent) -> None:
    page.open("tasks")
    page.live()
    page.driver.execute_script("window.sameDocument = true")
    task_id = agent.launch(f"echo started; {WAIT_FOR_GO}; echo finishing", name="web server")
    row = page.state_of(task_id, "RUNNING")
    assert "web server" in row.text
    containerizer = row.find_element(By.CSS_SELECTOR, "td[data-label=Containerizer]")
    page.until(lambda d: containerizer.text == "mesos", "the containerizer that runs it")
    sandbox = Path(agent.task(task_id)["sandbox_directory"])
    (sandbox / "go").touch()
    row = page.state_of(task_id, "FINISHED")
    assert page.driver.execute_script("return window.sameDocument") is True, "no reload"

    toggle = row.find_element(By.XPATH, ".//button[text()='History']")
    toggle.click()
    history = page.element(f"#{toggle.get_attribute('aria-controls')}")
    page.until(lambda d: history.is_displayed(), "the status history")
    states = [cell.text for cell in history.find_elements(By.CSS_SELECTOR, "tbody td:nth-child(2)")]
    assert (states[0], states[-1]) == ("STAGING", "FINISHED")
    assert "RUNNING" in states
    assert "Command exited with status 0" in history.text
    page.screenshot("tasks")
    assert page.severe_console_messages() == []


def test_filters_by_state_and_by_text(page: Page, agent: UiAgent) -> None:
    ended = agent.launch("true", labels={"labels": [{"key": "team", "value": "blue-whale"}]})
    running = agent.launch(WAIT_FOR_GO)
    page.open("tasks")
    page.state_of(ended, "FINISHED")
    page.state_of(running, "RUNNING")

    Select(page.element("#state-filter")).select_by_visible_text("Ended")
    page.until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, f'tr[data-task-id="{running}"]'),
        "only ended tasks",
    )
    page.row(ended)
    Select(page.element("#state-filter")).select_by_visible_text("Active")
    page.until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, f'tr[data-task-id="{ended}"]'),
        "only active tasks",
    )
    page.row(running)

    Select(page.element("#state-filter")).select_by_visible_text("All")
    page.element("#text-filter").send_keys("blue-whale")
    page.until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, f'tr[data-task-id="{running}"]'),
        "only the labelled task",
    )
    page.row(ended)
    (Path(agent.task(running)["sandbox_directory"]) / "go").touch()


def test_a_task_is_killed_from_the_page_after_a_confirmation(page: Page, agent: UiAgent) -> None:
    task_id = agent.launch("sleep 600")
    page.open("tasks")
    row = page.state_of(task_id, "RUNNING")
    kill = row.find_element(By.XPATH, ".//button[text()='Kill']")

    kill.send_keys(Keys.ENTER)  # the keyboard works: focus and Enter
    dialog = page.element("dialog#confirm[open]")
    assert task_id in dialog.text
    dialog.find_element(By.XPATH, ".//button[text()='Cancel']").click()
    page.until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog#confirm[open]"), "the dialog closed"
    )
    assert page.row(task_id).find_element(By.CSS_SELECTOR, ".state").text == "RUNNING"

    kill.click()
    page.element("dialog#confirm[open]").find_element(
        By.XPATH, ".//button[text()='Kill task']"
    ).click()
    row = page.state_of(task_id, "KILLED")
    assert not row.find_element(By.XPATH, ".//button[text()='Kill']").is_enabled()
    assert f"Kill of {task_id} requested" in page.element("#error").text


def test_the_page_shows_the_apis_error_message_as_it_is(page: Page) -> None:
    page.open("sandbox?path=/etc")
    error = page.element("main .error-inline")
    assert error.text == "403: '/etc' is outside the sandboxes"


def test_a_narrow_window_shows_each_task_as_a_card(page: Page, agent: UiAgent) -> None:
    task_id = agent.launch("sleep 600")
    page.driver.set_window_size(420, 800)
    page.open("tasks")
    row = page.state_of(task_id, "RUNNING")
    assert page.driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    ), "nothing wider than the window"
    assert "State:" in page.driver.execute_script(
        "return getComputedStyle(arguments[0], '::before').content",
        row.find_element(By.CSS_SELECTOR, "td[data-label=State]"),
    )
    page.screenshot("tasks-narrow")
    agent.call({"type": "KILL_TASK", "kill_task": {"task_id": {"value": task_id}}})
    page.state_of(task_id, "KILLED")


def test_every_control_has_a_label(page: Page, agent: UiAgent) -> None:
    for route, loaded in (("tasks", "#tasks-table"), ("agent", "#flags-table")):
        page.open(route)
        page.element(loaded)
        unlabelled = page.driver.execute_script(
            """return [...document.querySelectorAll('input, select, button')]
              .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')
                              && !c.textContent.trim())
              .map((c) => c.outerHTML);"""
        )
        assert unlabelled == []
