"""The UI behind --authenticate_http_readonly/readwrite, and hostile text from tasks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from .conftest import Page, UiAgent, run_agent

PRINCIPAL, SECRET = "ops", "s3cret-ü:x"
CREDENTIALS = f'{{"credentials": [{{"principal": "{PRINCIPAL}", "secret": "{SECRET}"}}]}}'
HOSTILE_ID = '<img src=x onerror="window.xss=1">'
HOSTILE_NAME = "<script>window.xss=2</script>"
HOSTILE_FILE = "<img src=x onerror=window.xss=3>.txt"


@pytest.fixture(scope="module")
def secured_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiAgent]:
    yield from run_agent(
        tmp_path_factory,
        "--authenticate_http_readonly",
        "--authenticate_http_readwrite",
        f"--http_credentials={CREDENTIALS}",
        auth=(PRINCIPAL, SECRET),
    )


def sign_in(page: Page, principal: str, secret: str) -> None:
    form = page.element("form#sign-in")
    form.find_element(By.ID, "principal").send_keys(principal)
    form.find_element(By.ID, "secret").send_keys(secret)
    form.find_element(By.XPATH, ".//button[text()='Sign in']").click()


def test_with_authentication_on_the_page_asks_and_then_works(
    browser, secured_agent: UiAgent
) -> None:
    page = Page(browser, secured_agent)
    page.open("tasks")
    reason = page.element("#sign-in-reason")
    assert reason.text.startswith("Unauthorized"), "the API's own 401 message"
    page.screenshot("sign-in")

    sign_in(page, PRINCIPAL, "wrong")
    page.until(lambda d: d.find_elements(By.CSS_SELECTOR, "form#sign-in"), "the form again")
    assert page.element("#sign-in-reason").text.startswith("Unauthorized")

    sign_in(page, PRINCIPAL, SECRET)
    page.live()
    task_id = secured_agent.launch("sleep 600")
    row = page.state_of(task_id, "RUNNING")
    row.find_element(By.XPATH, ".//button[text()='Kill']").click()
    page.element("dialog#confirm[open]").find_element(
        By.XPATH, ".//button[text()='Kill task']"
    ).click()
    page.state_of(task_id, "KILLED")

    page.driver.find_element(By.LINK_TEXT, "Agent").click()
    flag = page.element("#flags-table").find_element(By.XPATH, ".//tr[th='--http_credentials']")
    assert flag.text.endswith("(hidden)")
    page.element("#broken-plugins-table")
    assert SECRET not in page.driver.page_source

    page.driver.find_element(By.ID, "sign-out").click()
    page.element("form#sign-in")


@pytest.fixture
def hostile_task(page: Page, agent: UiAgent) -> Iterator[str]:
    task_id = agent.launch(
        f"touch '{HOSTILE_FILE}'; echo '{HOSTILE_NAME}'; sleep 600",
        task_id=HOSTILE_ID,
        name=HOSTILE_NAME,
        labels={"labels": [{"key": "x", "value": HOSTILE_NAME}]},
    )
    yield task_id
    agent.call({"type": "KILL_TASK", "kill_task": {"task_id": {"value": task_id}}})


def test_hostile_task_ids_names_and_file_names_are_shown_as_text(
    page: Page, agent: UiAgent, hostile_task: str
) -> None:
    page.open("tasks")
    row = page.state_of(hostile_task, "RUNNING")
    assert row.find_element(By.CSS_SELECTOR, ".task-id").text == HOSTILE_ID
    assert row.find_element(By.CSS_SELECTOR, ".task-name").text == HOSTILE_NAME
    assert row.find_elements(By.CSS_SELECTOR, "img, script") == []

    sandbox = Path(agent.task(hostile_task)["sandbox_directory"])
    page.until(lambda d: (sandbox / HOSTILE_FILE).exists(), "the task's file")
    row.find_element(By.LINK_TEXT, "Sandbox").click()
    table = page.element("#files-table")
    table.find_element(By.LINK_TEXT, HOSTILE_FILE).click()
    page.element("#viewer-title")
    page.element(".quick").find_element(By.LINK_TEXT, "stdout").click()
    page.until(lambda d: HOSTILE_NAME in d.find_element(By.ID, "file-view").text, "the output")
    assert page.driver.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    assert page.driver.execute_script("return window.xss") is None


def test_the_ui_adds_no_unauthenticated_way_in(secured_agent: UiAgent) -> None:
    anonymous = UiAgent(secured_agent.url, secured_agent.work_dir)
    assert anonymous.request("/")[0] == 200, "the page itself holds nothing"
    assert anonymous.request("/api/v1", {"type": "GET_PLUGINS"})[0] == 401
    sandboxes = secured_agent.work_dir / "slaves"
    assert anonymous.request(f"/files/download?path={sandboxes}/x")[0] == 401
    assert secured_agent.request(f"/files/download?path={sandboxes}/x")[0] == 404
    assert secured_agent.call({"type": "GET_PLUGINS"})["get_plugins"]["broken"]
