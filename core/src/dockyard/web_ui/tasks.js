// The Tasks page: a live table of the agent's tasks, filtered by state and text, with each
// task's status history and a kill button that asks first.

import { call } from "./api.js";
import { confirmAction, showError, showNotice } from "./app.js";
import { errorText, formatDuration, formatTime, h, replace, route } from "./dom.js";
import { connection, isTerminal, taskId, tasks, TERMINAL, watch } from "./store.js";

const STATES = [
  "TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_FINISHED",
  "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_GONE", "TASK_DROPPED",
];
const COLUMNS = ["Task", "State", "Containerizer", "Framework", "Started", "Duration", "Exit / reason", "Actions"];

const filter = { state: "all", text: "" };

function started(task) {
  const statuses = task.statuses || [];
  const running = statuses.find((status) => status.state === "TASK_RUNNING");
  return (running || statuses[0] || {}).timestamp;
}

function ended(task) {
  if (!isTerminal(task)) return null;
  const statuses = task.statuses || [];
  return statuses.length ? statuses[statuses.length - 1].timestamp : null;
}

function duration(task) {
  const from = started(task);
  if (!from) return "";
  return formatDuration((ended(task) || Date.now() / 1000) - from);
}

function latest(task) {
  const statuses = task.statuses || [];
  return statuses.length ? statuses[statuses.length - 1] : {};
}

function outcome(task) {
  const status = latest(task);
  return [status.reason, status.message].filter(Boolean).join(": ");
}

function labelsText(task) {
  return ((task.labels && task.labels.labels) || [])
    .map((label) => `${label.key}=${label.value ?? ""}`)
    .join(" ");
}

function matches(task) {
  if (filter.state === "active" && isTerminal(task)) return false;
  if (filter.state === "terminal" && !isTerminal(task)) return false;
  if (filter.state.startsWith("TASK_") && task.state !== filter.state) return false;
  if (!filter.text) return true;
  const haystack = [
    taskId(task), task.name, task.state, task.containerizer,
    task.framework_id && task.framework_id.value, labelsText(task), outcome(task),
  ].join("\n").toLowerCase();
  return haystack.includes(filter.text.toLowerCase());
}

function newestFirst(a, b) {
  return (started(b) || Infinity) - (started(a) || Infinity) || taskId(a).localeCompare(taskId(b));
}

/** A row and its history row, made once per task and updated in place (keeps focus). */
class TaskRow {
  constructor(task, body) {
    const id = taskId(task);
    this.historyId = `history-${crypto.randomUUID()}`;
    this.cells = COLUMNS.slice(0, 7).map((column) => h("td", { "data-label": column }));
    this.cells[0] = h("th", { scope: "row", "data-label": "Task" });
    this.historyButton = h("button", {
      type: "button", "aria-expanded": "false", "aria-controls": this.historyId,
      onclick: () => this.toggle(),
    }, "History");
    this.sandbox = h("a", { class: "button" }, "Sandbox");
    this.kill = h("button", { type: "button", class: "danger", onclick: () => kill(id) }, "Kill");
    this.row = h("tr", { "data-task-id": id }, this.cells,
      h("td", { class: "actions", "data-label": "Actions" }, this.historyButton, this.sandbox, this.kill));
    this.historyCell = h("td", { colspan: COLUMNS.length });
    this.history = h("tr", { class: "history", id: this.historyId, hidden: true }, this.historyCell);
    this.body = body;
  }

  toggle() {
    const open = this.history.hidden;
    this.history.hidden = !open;
    this.historyButton.setAttribute("aria-expanded", String(open));
  }

  update(task) {
    const id = taskId(task);
    replace(this.cells[0], h("span", { class: "task-id" }, id),
      task.name && task.name !== id ? h("span", { class: "task-name" }, task.name) : null);
    replace(this.cells[1], h("span", { class: `state ${stateClass(task.state)}` }, (task.state || "").replace("TASK_", "")));
    replace(this.cells[2], task.containerizer || "");
    replace(this.cells[3], (task.framework_id && task.framework_id.value) || "");
    replace(this.cells[4], formatTime(started(task)));
    this.updateDuration(task);
    replace(this.cells[6], outcome(task));
    if (task.sandbox_directory) {
      this.sandbox.setAttribute("href", route("sandbox", { path: task.sandbox_directory, task: id }));
      this.sandbox.removeAttribute("aria-disabled");
    } else {
      this.sandbox.removeAttribute("href");
      this.sandbox.setAttribute("aria-disabled", "true");
    }
    this.sandbox.setAttribute("aria-label", `Sandbox of ${id}`);
    this.kill.setAttribute("aria-label", `Kill ${id}`);
    this.historyButton.setAttribute("aria-label", `Status history of ${id}`);
    this.kill.disabled = isTerminal(task);
    replace(this.historyCell, historyTable(task));
  }

  updateDuration(task) {
    replace(this.cells[5], duration(task));
  }
}

function stateClass(state) {
  if (state === "TASK_FINISHED") return "good";
  if (TERMINAL.has(state)) return state === "TASK_KILLED" ? "neutral" : "bad";
  return "active";
}

function historyTable(task) {
  const rows = (task.statuses || []).map((status) => h("tr", {},
    h("td", {}, formatTime(status.timestamp)),
    h("td", {}, (status.state || "").replace("TASK_", "")),
    h("td", {}, status.reason || ""),
    h("td", {}, status.source || ""),
    h("td", { class: "message" }, status.message || ""),
  ));
  return h("table", { class: "inner" },
    h("caption", {}, `Status updates of ${taskId(task)}`),
    h("thead", {}, h("tr", {}, ["Time", "State", "Reason", "Source", "Message"].map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 5 }, "No status update yet"))));
}

async function kill(id) {
  const confirmed = await confirmAction(`Kill task ${id}? Its processes get the kill policy's grace period, then SIGKILL.`, "Kill task");
  if (!confirmed) return;
  try {
    await call("KILL_TASK", { task_id: { value: id } });
    showNotice(`Kill of ${id} requested`);
  } catch (error) {
    showError(errorText(error));
  }
}

export function render(main) {
  const rows = new Map();
  const body = h("tbody");
  const count = h("p", { class: "count", "aria-live": "polite" });
  const stateSelect = h("select", { id: "state-filter", onchange: (event) => { filter.state = event.target.value; update(); } },
    h("option", { value: "all" }, "All"),
    h("option", { value: "active" }, "Active"),
    h("option", { value: "terminal" }, "Ended"),
    STATES.map((state) => h("option", { value: state }, state.replace("TASK_", "").toLowerCase())));
  stateSelect.value = filter.state;
  const search = h("input", { id: "text-filter", type: "search", value: filter.text, placeholder: "id, name, label, framework…",
    oninput: (event) => { filter.text = event.target.value; update(); } });
  const note = h("p", { class: "stream-note" });

  replace(main,
    h("h1", {}, "Tasks"),
    h("form", { class: "filters", role: "search", onsubmit: (event) => event.preventDefault() },
      h("label", { for: "state-filter" }, "State"), stateSelect,
      h("label", { for: "text-filter" }, "Search"), search),
    note, count,
    h("div", { class: "table-wrap" },
      h("table", { id: "tasks-table" },
        h("caption", { class: "visually-hidden" }, "Tasks of this agent, newest first"),
        h("thead", {}, h("tr", {}, COLUMNS.map((name) => h("th", { scope: "col" }, name)))),
        body)));

  function update() {
    note.textContent = connection.state === "live" ? "" : `Event stream ${connection.state}${connection.message ? `: ${connection.message}` : ""}`;
    const shown = [...tasks.values()].filter(matches).sort(newestFirst);
    let cursor = body.firstChild;
    for (const task of shown) {
      let entry = rows.get(taskId(task));
      if (!entry) {
        entry = new TaskRow(task, body);
        rows.set(taskId(task), entry);
      }
      entry.update(task);
      if (cursor === entry.row) {
        cursor = entry.history.nextSibling;
      } else {
        body.insertBefore(entry.row, cursor);
        body.insertBefore(entry.history, cursor);
      }
    }
    while (cursor) {
      const next = cursor.nextSibling;
      cursor.remove();
      cursor = next;
    }
    count.textContent = `${shown.length} of ${tasks.size} tasks`;
  }

  update();
  const unwatch = watch(update);
  const ticker = setInterval(() => {
    for (const task of tasks.values()) {
      if (!isTerminal(task) && rows.has(taskId(task))) rows.get(taskId(task)).updateDuration(task);
    }
  }, 1000);
  return () => {
    unwatch();
    clearInterval(ticker);
  };
}
