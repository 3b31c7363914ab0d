"""How the client shows tasks and files: rich tables for people, Mesos JSON for scripts."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dockyard.messages import Task, TaskState, TaskStatus, dump, dumps
from dockyard.statuses import describe_status

STATE_STYLES = {
    TaskState.TASK_RUNNING: "green",
    TaskState.TASK_FINISHED: "green",
    TaskState.TASK_FAILED: "red",
    TaskState.TASK_ERROR: "red",
    TaskState.TASK_LOST: "red",
    TaskState.TASK_KILLED: "yellow",
    TaskState.TASK_KILLING: "yellow",
}


def console(out: TextIO) -> Console:
    """A console on ``out``; colour only on a terminal, no wrapping of long lines."""
    return Console(file=out, highlight=False, soft_wrap=True)


def print_json(data: Any, out: TextIO) -> None:
    print(json.dumps(data), file=out, flush=True)


def state_text(state: TaskState) -> Text:
    return Text(state.name, style=STATE_STYLES.get(state, ""))


def ago(timestamp: float | None) -> str:
    """``12s ago``, ``5m ago``, ``3h ago``, ``2d ago``."""
    if timestamp is None:
        return "-"
    seconds = max(0, int(time.time() - timestamp))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def task_table(tasks: Sequence[Task], out: TextIO) -> None:
    if not tasks:
        print("No tasks.", file=out)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("ID", "NAME", "STATE", "UPDATED", "MESSAGE"):
        table.add_column(column, overflow="fold" if column == "ID" else "ellipsis")
    for task in tasks:
        latest = task.statuses[-1] if task.statuses else None
        table.add_row(
            Text(task.task_id.value),
            Text(task.name),
            state_text(task.state),
            ago(latest.timestamp if latest else None),
            Text((latest.message or "") if latest else ""),
        )
    console(out).print(table)


def print_status(status: TaskStatus, out: TextIO, as_json: bool) -> None:
    """As ``dockyard launch`` prints it: one line of text, or of TaskStatus JSON."""
    print(dumps(status) if as_json else describe_status(status), file=out, flush=True)


def print_task(task: Task, out: TextIO, as_json: bool) -> None:
    if as_json:
        print_json(dump(task), out)
        return
    print(f"{task.task_id.value}  {task.state.name}  sandbox {task.sandbox_directory}", file=out)


def file_table(entries: Sequence[dict[str, Any]], out: TextIO) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column, justify in (("MODE", "left"), ("SIZE", "right"), ("MODIFIED", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("NAME", overflow="fold")
    for entry in entries:
        modified = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(entry["mtime"])))
        name = PurePosixPath(str(entry["path"])).name
        if str(entry["mode"]).startswith("d"):
            name += "/"
        table.add_row(str(entry["mode"]), str(entry["size"]), modified, Text(name))
    console(out).print(table)
