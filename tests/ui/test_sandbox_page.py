"""The Sandbox page: browse a task's sandbox, read a file, follow stdout as it is written
(across the logrotate logger's rotations), only the end of a huge file, downloads."""

from __future__ import annotations

import os
from pathlib import Path

from selenium.webdriver.common.by import By

from ..rotated import lines, lines_command
from .conftest import Page, UiAgent

ROTATE_AT_4KB = {
    "CONTAINER_LOGGER_MAX_STDOUT_SIZE": "4KB",
    "CONTAINER_LOGGER_LOGROTATE_STDOUT_OPTIONS": "rotate 50",
}


def sandbox_of(agent: UiAgent, task_id: str) -> Path:
    return Path(agent.task(task_id)["sandbox_directory"])


def shown_output(page: Page) -> str:
    """The file's text in the viewer, without the viewer's own remarks."""
    text: str = page.driver.execute_script(
        """return [...document.getElementById('file-view').childNodes]
          .filter((node) => node.nodeType === Node.TEXT_NODE).map((node) => node.data).join('');"""
    )
    return text


def until_shown(page: Page, text: str) -> None:
    wanted = text.strip()
    page.until(lambda d: wanted in d.find_element(By.ID, "file-view").text, repr(wanted))


def test_a_tasks_sandbox_is_browsed_read_and_its_stdout_followed(
    page: Page, agent: UiAgent
) -> None:
    task_id = agent.launch(
        "echo hello from a file > greeting.txt; echo first line; "
        "until [ -e go ]; do sleep 0.05; done; echo second line; sleep 600"
    )
    page.open("tasks")
    page.state_of(task_id, "RUNNING").find_element(By.LINK_TEXT, "Sandbox").click()
    page.element("#files-table").find_element(By.LINK_TEXT, "greeting.txt").click()
    until_shown(page, "hello from a file")

    page.element(".quick").find_element(By.LINK_TEXT, "stdout").click()
    until_shown(page, "first line")
    assert "second line" not in page.element("#file-view").text
    (sandbox_of(agent, task_id) / "go").touch()
    until_shown(page, "second line")
    assert shown_output(page) == "first line\nsecond line\n"
    page.screenshot("sandbox")


def test_following_stdout_continues_across_rotations(page: Page, agent: UiAgent) -> None:
    """One rotation, then two between the page's reads: every line once, in order."""
    command = (
        f"{lines_command(1, 30)}; until [ -e go ]; do sleep 0.05; done; "
        f"{lines_command(31, 50)}; until [ -e go2 ]; do sleep 0.05; done; "
        f"{lines_command(51, 130)}; sleep 600"
    )
    task_id = agent.launch(command, environment=ROTATE_AT_4KB)
    page.open("tasks")
    page.state_of(task_id, "RUNNING")
    sandbox = sandbox_of(agent, task_id)
    page.open(f"sandbox?path={sandbox}&file=stdout")
    until_shown(page, lines(30, 30).decode())
    (sandbox / "go").touch()
    until_shown(page, lines(50, 50).decode())
    assert (sandbox / "stdout.1").exists(), "rotated once"
    (sandbox / "go2").touch()
    until_shown(page, lines(130, 130).decode())
    assert (sandbox / "stdout.3").exists(), "rotated twice more"
    assert shown_output(page) == lines(1, 130).decode(), "every line once, in order"
    assert "stdout was rotated" in page.element("#file-view").text


def test_a_100MB_file_is_tailed_by_reading_only_its_end(page: Page, agent: UiAgent) -> None:
    task_id = agent.launch("sleep 600")
    page.open("tasks")
    page.state_of(task_id, "RUNNING")
    big = sandbox_of(agent, task_id) / "big.log"
    with big.open("wb") as output:
        output.truncate(100 << 20)  # sparse: 100 MiB of NULs, then a last line
        output.seek(0, os.SEEK_END)
        output.write(b"the last line\n")
    page.open(f"sandbox?path={big.parent}&file=big.log")
    until_shown(page, "the last line")
    assert "showing the last 64 KiB of 104857614 bytes" in page.element("#file-view").text
    with big.open("ab") as output:
        output.write(b"appended later\n")
    until_shown(page, "appended later")
    read_bytes = page.driver.execute_script(
        """return performance.getEntriesByType('resource')
          .filter((entry) => entry.name.includes('/files/read'))
          .reduce((sum, entry) => sum + entry.transferSize, 0);"""
    )
    assert 0 < read_bytes < 1 << 20, "the tail read only the file's end"
    assert len(page.element("#file-view").text) < 100_000


def test_a_file_is_downloaded_from_the_page_as_its_raw_bytes(
    page: Page, agent: UiAgent, tmp_path: Path
) -> None:
    task_id = agent.launch("sleep 600")
    page.open("tasks")
    page.state_of(task_id, "RUNNING")
    sandbox = sandbox_of(agent, task_id)
    (sandbox / "data.bin").write_bytes(b"A\0\xff<b>bold</b>")
    page.driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    page.open(f"sandbox?path={sandbox}")
    page.element('#files-table button[aria-label="Download data.bin"]').click()
    saved = tmp_path / "data.bin"
    page.until(
        lambda d: saved.exists() and saved.read_bytes() == b"A\0\xff<b>bold</b>", "the download"
    )


def test_files_download_is_confined_and_never_rendered(page: Page, agent: UiAgent) -> None:
    task_id = agent.launch("sleep 600")
    page.open("tasks")
    page.state_of(task_id, "RUNNING")
    sandbox = sandbox_of(agent, task_id)
    (sandbox / "page.html").write_text("<script>alert(1)</script>")
    status, body, headers = agent.request(f"/files/download?path={sandbox}/page.html")
    assert (status, body) == (200, b"<script>alert(1)</script>")
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"] == "attachment; filename*=UTF-8''page.html"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"].startswith("sandbox")
    assert agent.request("/files/download?path=/etc/passwd")[0] == 403
    assert agent.request(f"/files/download?path={sandbox}/../x")[0] == 403
    assert agent.request(f"/files/download?path={sandbox}/missing")[0] == 404
    assert agent.request(f"/files/download?path={sandbox}")[0] == 400
    assert agent.request("/files/download")[0] == 400
