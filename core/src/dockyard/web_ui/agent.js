// The Agent page: health, version, installed and broken plugins (GET_PLUGINS), metrics
// with charts over the page's lifetime, and flags (secret ones come back "(hidden)").

import { call } from "./api.js";
import { sparkline } from "./chart.js";
import { errorText, formatTime, h, replace } from "./dom.js";
import { sampler, series, watchMetrics } from "./metrics.js";

const GROUPS = {
  "dockyard.containerizers": "containerizer",
  "dockyard.fetchers": "fetcher",
  "dockyard.container_loggers": "container logger",
};

function section(id, title, ...content) {
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), content);
}

function table(id, caption, columns, rows, empty) {
  return h("div", { class: "table-wrap" }, h("table", { id },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, columns.map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: columns.length }, empty)))));
}

/** Fill `target` with `build(answer)` once the call answers, or with the API's error. */
function load(target, type, build) {
  call(type).then((answer) => replace(target, build(answer)),
    (error) => replace(target, h("p", { class: "error-inline", role: "alert" }, errorText(error))));
}

function summary(health, version) {
  load(health, "GET_HEALTH", (answer) => answer.get_health.healthy
    ? h("span", { class: "state good" }, "healthy")
    : h("span", { class: "state bad" }, "unhealthy: the ledger cannot write"));
  load(version, "GET_VERSION", (answer) => answer.get_version.version_info.version);
}

function plugins(answer) {
  const { plugins: installed = [], broken = [] } = answer.get_plugins;
  return [
    table("plugins-table", "Installed plugins", ["Name", "Kind", "Distribution", "Enabled", "Hooks"],
      installed.map((plugin) => h("tr", {},
        h("th", { scope: "row" }, plugin.name),
        h("td", {}, GROUPS[plugin.group] || plugin.group),
        h("td", {}, `${plugin.distribution} ${plugin.version}`),
        h("td", {}, plugin.enabled ? "yes" : "no"),
        h("td", { class: "hooks" }, (plugin.hooks || []).join(", ")))), "No plugin is installed"),
    h("h3", {}, "Broken plugins"),
    table("broken-plugins-table", "Plugins that failed to load", ["Name", "Kind", "Distribution", "Reason"],
      broken.map((plugin) => h("tr", { class: "broken" },
        h("th", { scope: "row" }, plugin.name),
        h("td", {}, GROUPS[plugin.group] || plugin.group),
        h("td", {}, `${plugin.distribution} ${plugin.version}`),
        h("td", { class: "message" }, plugin.error))), "None"),
  ];
}

function filtered(rowsOf, id, label) {
  const input = h("input", { type: "search", id, placeholder: "filter" });
  const body = h("div");
  const update = () => replace(body, rowsOf(input.value.toLowerCase()));
  input.addEventListener("input", update);
  return { controls: h("p", { class: "filters" }, h("label", { for: id }, label), input), body, update };
}

function flags(answer) {
  const all = answer.get_flags.flags || [];
  const view = filtered((text) => table("flags-table", "Flags of this agent", ["Flag", "Value"],
    all.filter((flag) => flag.name.includes(text) || (flag.value || "").toLowerCase().includes(text))
      .map((flag) => h("tr", {}, h("th", { scope: "row" }, `--${flag.name}`), h("td", {}, h("code", {}, flag.value ?? "")))),
    "No flag matches"), "flag-filter", "Filter flags");
  view.update();
  return [view.controls, view.body];
}

function metricRows(text) {
  const keys = [...series.keys()].filter((key) => key.toLowerCase().includes(text)).sort();
  return table("metrics-table", "Metrics sampled since this page opened", ["Metric", "Value", "Since this page opened"],
    keys.map((key) => {
      const points = series.get(key);
      const value = points[points.length - 1].value;
      return h("tr", {},
        h("th", { scope: "row" }, h("code", {}, key)),
        h("td", { class: "number" }, Number.isInteger(value) ? String(value) : value.toFixed(2)),
        h("td", {}, sparkline(points, key)));
    }), sampler.error ? errorText(sampler.error) : "Waiting for the first sample…");
}

export function render(main) {
  const health = h("dd", { id: "health" }, "…");
  const version = h("dd", { id: "version" }, "…");
  const pluginBox = h("div", {}, "Loading…");
  const flagBox = h("div", {}, "Loading…");
  const metrics = filtered(metricRows, "metric-filter", "Filter metrics");
  const sampled = h("p", { class: "note" });
  replace(main,
    h("h1", {}, "Agent"),
    h("dl", { class: "summary" }, h("dt", {}, "Health"), health, h("dt", {}, "Version"), version),
    section("plugins-title", "Plugins", pluginBox),
    section("metrics-title", "Metrics", metrics.controls, sampled, metrics.body),
    section("flags-title", "Flags", h("p", { class: "note" }, "Secret flags are shown as (hidden) by the agent."), flagBox));
  summary(health, version);
  load(pluginBox, "GET_PLUGINS", plugins);
  load(flagBox, "GET_FLAGS", flags);
  const refresh = () => {
    sampled.textContent = sampler.last ? `Last sample ${formatTime(sampler.last)}; a point every few seconds.` : "";
    // Do not rebuild while someone works inside the table (keeps focus and selection).
    if (!metrics.body.contains(document.activeElement)) metrics.update();
  };
  refresh();
  return watchMetrics(refresh);
}
