// The agent's tasks, kept current from one SUBSCRIBE stream for as long as the page is open:
// the snapshot first, then every status update as it happens. Nothing is polled.

import { call, nextSignIn, subscribe } from "./api.js";

export const TERMINAL = new Set([
  "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_GONE",
  "TASK_DROPPED", "TASK_GONE_BY_OPERATOR", "TASK_UNREACHABLE",
]);

/** task id -> Mesos Task (with dockyard's container_id, sandbox_directory, containerizer). */
export const tasks = new Map();
export const connection = { state: "connecting", message: "" };

const listeners = new Set();
let scheduled = false;
let refreshing = null;
let refreshAgain = false;
const RETRY_SECONDS = [1, 2, 4, 8, 15];

/** Call `listener` (batched, once per frame) whenever tasks or the connection change. */
export function watch(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function changed() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    for (const listener of listeners) listener();
  });
}

function setConnection(state, message = "") {
  connection.state = state;
  connection.message = message;
  changed();
}

export function taskId(task) {
  return task.task_id.value;
}

export function isTerminal(task) {
  return TERMINAL.has(task.state);
}

function replaceAll(getTasks) {
  tasks.clear();
  for (const key of ["launched_tasks", "completed_tasks"]) {
    for (const task of (getTasks && getTasks[key]) || []) tasks.set(taskId(task), task);
  }
}

/** Fill in what the stream does not carry (name, sandbox, containerizer): one GET_TASKS. */
function refresh() {
  if (refreshing) {
    refreshAgain = true; // the answer in flight may predate this update
    return;
  }
  refreshAgain = false;
  refreshing = call("GET_TASKS")
    .then((answer) => {
      for (const key of ["launched_tasks", "completed_tasks"]) {
        for (const fresh of answer.get_tasks[key] || []) {
          const known = tasks.get(taskId(fresh));
          // The stream may be ahead of this answer: keep the statuses it brought.
          if (known && (known.statuses || []).length > (fresh.statuses || []).length) {
            fresh.statuses = known.statuses;
            fresh.state = known.state;
          }
          tasks.set(taskId(fresh), fresh);
        }
      }
      changed();
    })
    .catch(() => {})
    .finally(() => {
      refreshing = null;
      if (refreshAgain) refresh();
    });
}

function onEvent(event) {
  if (event.type === "SUBSCRIBED") {
    replaceAll(event.subscribed.get_state && event.subscribed.get_state.get_tasks);
    setConnection("live");
  } else if (event.type === "TASK_UPDATED") {
    const update = event.task_updated;
    const id = update.status.task_id.value;
    let task = tasks.get(id);
    if (!task) {
      task = { task_id: update.status.task_id, framework_id: update.framework_id, name: "", statuses: [] };
      tasks.set(id, task);
    }
    task.statuses = [...(task.statuses || []), update.status];
    task.state = update.state;
    if (!task.sandbox_directory || !task.containerizer) refresh();
    changed();
  } else if (event.type === "ERROR") {
    setConnection("ended", event.error.message);
  }
}

/** Follow the agent for the page's lifetime, subscribing again whenever a stream ends. */
export async function follow() {
  // Leaving the page ends its stream: a browser may keep a page it leaves in its
  // back/forward cache, stream and all, and it allows only six connections to an agent.
  // A page shown again from that cache subscribes anew below.
  let current = new AbortController();
  window.addEventListener("pagehide", () => current.abort());
  let attempt = 0;
  for (;;) {
    current = new AbortController();
    try {
      setConnection("connecting");
      await subscribe((event) => {
        attempt = 0;
        onEvent(event);
      }, current.signal);
      setConnection("ended", "the agent ended the event stream");
    } catch (error) {
      if (error.status === 401) {
        setConnection("signed out", error.message);
        await nextSignIn();
        continue;
      }
      setConnection("disconnected", error.message);
    }
    const seconds = RETRY_SECONDS[Math.min(attempt, RETRY_SECONDS.length - 1)];
    attempt += 1;
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  }
}
