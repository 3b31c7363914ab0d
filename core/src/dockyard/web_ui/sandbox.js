// The Sandbox page: a task's sandbox through /files/browse, a file's end through
// /files/read (followed live, see tail.js), and downloads through /files/download.

import { download, getJSON } from "./api.js";
import { showError } from "./app.js";
import { errorText, formatBytes, formatTime, h, replace, route } from "./dom.js";
import { taskId, tasks } from "./store.js";
import { Tail, TailView } from "./tail.js";

const OUTPUTS = ["stdout", "stderr"];

function nameOf(path) {
  return path.split("/").pop();
}

function parentOf(path) {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

function taskPicker() {
  const withSandbox = [...tasks.values()].filter((task) => task.sandbox_directory);
  if (!withSandbox.length) return h("p", {}, "No task has a sandbox yet.");
  return h("ul", { class: "task-list" }, withSandbox.map((task) => h("li", {},
    h("a", { href: route("sandbox", { path: task.sandbox_directory, task: taskId(task) }) }, taskId(task)),
    ` ${(task.state || "").replace("TASK_", "").toLowerCase()}`)));
}

function breadcrumbs(path, root, task) {
  const parts = [];
  let current = path;
  while (current.length >= root.length && current !== "/") {
    parts.unshift(current);
    if (current === root) break;
    current = parentOf(current);
  }
  return h("nav", { "aria-label": "Folders", class: "breadcrumbs" }, h("ol", {}, parts.map((part, index) => h("li", {},
    index === parts.length - 1
      ? h("span", { "aria-current": "location" }, index === 0 ? "sandbox" : nameOf(part))
      : h("a", { href: route("sandbox", { path: part, root, task }) }, index === 0 ? "sandbox" : nameOf(part))))));
}

function listingTable(entries, root, task, directory) {
  const rows = entries.map((entry) => {
    const name = nameOf(entry.path);
    const isDirectory = entry.mode.startsWith("d");
    const isFile = entry.mode.startsWith("-");
    let link = name;
    if (isDirectory) link = h("a", { href: route("sandbox", { path: entry.path, root, task }) }, `${name}/`);
    else if (isFile) link = h("a", { href: route("sandbox", { path: directory, root, task, file: name }) }, name);
    return h("tr", {},
      h("th", { scope: "row", "data-label": "Name" }, link),
      h("td", { "data-label": "Size" }, isDirectory ? "" : formatBytes(entry.size)),
      h("td", { "data-label": "Mode" }, h("code", {}, entry.mode)),
      h("td", { "data-label": "Modified" }, formatTime(entry.mtime)),
      h("td", { "data-label": "Download" }, isFile
        ? h("button", { type: "button", "aria-label": `Download ${name}`, onclick: () => download(entry.path).catch((error) => showError(errorText(error))) }, "Download")
        : ""));
  });
  return h("div", { class: "table-wrap" }, h("table", { id: "files-table" },
    h("caption", { class: "visually-hidden" }, "Files in this folder"),
    h("thead", {}, h("tr", {}, ["Name", "Size", "Mode", "Modified", "Download"].map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 5 }, "This folder is empty")))));
}

function viewer(path, stops) {
  const pre = h("pre", { id: "file-view", tabindex: "0", "aria-label": `End of ${nameOf(path)}` });
  const status = h("p", { class: "tail-status", role: "status" });
  const view = new TailView(pre);
  const tail = new Tail(path, {
    output: (text) => view.add(text),
    notice: (text) => view.add(text, "notice"),
    error: (error) => { status.textContent = `Following stopped: ${errorText(error)}`; },
  });
  const follow = h("input", { type: "checkbox", id: "follow", checked: true,
    onchange: (event) => tail.setFollow(event.target.checked) });
  stops.push(() => tail.stop());
  tail.start(true).then(() => { status.textContent = ""; }, (error) => { status.textContent = errorText(error); });
  return h("section", { class: "viewer", "aria-labelledby": "viewer-title" },
    h("h2", { id: "viewer-title" }, nameOf(path)),
    h("div", { class: "viewer-tools" },
      h("label", { for: "follow" }, follow, " Follow as it grows"),
      h("button", { type: "button", onclick: () => download(path).catch((error) => showError(errorText(error))) }, "Download")),
    status, pre);
}

export function render(main, parameters) {
  const path = parameters.get("path");
  const task = parameters.get("task") || "";
  const stops = [];
  if (!path) {
    replace(main, h("h1", {}, "Sandbox"), h("p", {}, "Choose a task:"), taskPicker());
    return () => {};
  }
  const root = parameters.get("root") || path;
  const file = parameters.get("file");
  const listing = h("div", { "aria-busy": "true" }, "Loading…");
  replace(main,
    h("h1", {}, task ? `Sandbox of ${task}` : "Sandbox"),
    breadcrumbs(path, root, task),
    h("p", { class: "path" }, h("code", {}, path)),
    listing,
    file ? viewer(`${path}/${file}`, stops) : null);
  getJSON("/files/browse", { path }).then((entries) => {
    const names = new Set(entries.map((entry) => nameOf(entry.path)));
    const quick = OUTPUTS.filter((name) => names.has(name) && name !== file);
    replace(listing,
      quick.length ? h("p", { class: "quick" }, "Follow: ", quick.map((name) => h("a", { class: "button", href: route("sandbox", { path, root, task, file: name }) }, name))) : null,
      listingTable(entries, root, task, path));
    listing.removeAttribute("aria-busy");
  }, (error) => {
    replace(listing, h("p", { class: "error-inline", role: "alert" }, errorText(error)));
    listing.removeAttribute("aria-busy");
  });
  return () => stops.forEach((stop) => stop());
}
