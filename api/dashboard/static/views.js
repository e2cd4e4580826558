// One render function per part of the page. Each shows what the operations API answered;
// nothing here decides anything about imports (rates, ETAs and ages come from the API).

import { formatClock, formatNumber, formatSeconds, formatTime, h, syncTable } from "./dom.js";

const byId = (id) => document.getElementById(id);

function importButton(item, actions) {
  return h("button", {
    type: "button", class: "link", "aria-label": `Show import ${item.id}`,
    onclick: () => actions.show(item.id),
  }, `#${item.id}`);
}

function importCell(actions) {
  return {
    key: (item) => `${item.id}:${item.retry_of_id}`,
    render: (item) => [
      importButton(item, actions),
      item.retry_of_id ? h("span", { class: "note" }, ` retry of #${item.retry_of_id}`) : null,
    ],
  };
}

const district = { render: (item) => item.root_account_name };
const context = { render: (item) => item.context_name ?? `${item.context_type} ${item.context_id}` };
const file = { class: "file", render: (item) => item.file_name ?? "–" };

function controlColumn(actions, key, render) {
  return actions.siteAdmin ? [{ class: "control", key, render }] : [];
}

export function showAdminColumns(siteAdmin) {
  for (const th of document.querySelectorAll("th.admin-only")) th.hidden = !siteAdmin;
}

export function renderTiles({ queues, workers, minutes }) {
  // Totals of what the API listed: the page adds up rows, it does not derive anything.
  const sum = (list, field) => list.reduce((total, entry) => total + entry[field], 0);
  byId("tile-waiting").textContent = formatNumber(sum(queues, "waiting"));
  byId("tile-running").textContent = formatNumber(sum(queues, "running"));
  byId("tile-workers").textContent = formatNumber(workers.filter((w) => w.alive).length);
  byId("tile-failed").textContent = formatNumber(sum(minutes, "failed"));
}

export function renderQueues(queues, actions) {
  syncTable(byId("queues"), queues, {
    key: (q) => q.root_account_id,
    columns: [
      { render: (q) => [q.name, h("span", { class: "note" }, ` #${q.root_account_id}`)] },
      { class: "num", render: (q) => formatNumber(q.waiting) },
      { class: "num", render: (q) => formatNumber(q.running) },
      { render: (q) => formatSeconds(q.oldest_wait_seconds) },
      {
        render: (q) => q.paused
          ? [h("span", { class: "badge paused" }, "Paused"), h("span", { class: "note" }, ` since ${formatClock(q.paused_at)}`)]
          : h("span", { class: "badge" }, "Running"),
      },
      ...controlColumn(actions, (q) => String(q.paused), (q) => q.paused
        ? h("button", { type: "button", onclick: () => actions.resume(q) }, `Resume ${q.name}`)
        : h("button", { type: "button", class: "warning", onclick: () => actions.pause(q) }, `Pause ${q.name}`)),
    ],
  });
}

function progressCell(item) {
  const rows = item.rows_total === null
    ? `${formatNumber(item.rows_processed)} rows`
    : `${formatNumber(item.rows_processed)} of ${formatNumber(item.rows_total)} rows`;
  return h("div", { class: "progress" },
    h("progress", { max: 100, value: item.progress, "aria-label": `Progress of import ${item.id}` }),
    h("span", {}, `${item.progress}% · ${rows}`));
}

export function renderRunning(imports, actions) {
  syncTable(byId("running"), imports, {
    key: (i) => i.id,
    columns: [
      importCell(actions), district, context, file,
      { render: progressCell },
      { class: "num", render: (i) => formatNumber(i.rows_per_second, 1) },
      { render: (i) => formatSeconds(i.eta_seconds) },
      { class: "worker", render: (i) => i.worker_id ?? "–" },
      { class: "num", render: (i) => formatNumber(i.attempts) },
      ...controlColumn(actions, (i) => String(i.cancel_requested), (i) => i.cancel_requested
        ? h("span", { class: "badge paused" }, "Cancelling…")
        : h("button", { type: "button", class: "danger", onclick: () => actions.cancel(i) }, `Cancel import ${i.id}`)),
    ],
  });
}

export function renderWaiting(imports, actions) {
  syncTable(byId("waiting"), imports, {
    key: (i) => i.id,
    columns: [
      importCell(actions), district, context, file,
      { render: (i) => i.user?.name ?? "–" },
      { render: (i) => formatSeconds(i.wait_seconds) },
      { render: (i) => (i.paused ? h("span", { class: "badge paused" }, "Paused") : "Queued") },
      ...controlColumn(actions, () => "cancel", (i) =>
        h("button", { type: "button", class: "danger", onclick: () => actions.cancel(i) }, `Cancel import ${i.id}`)),
    ],
  });
}

function errorList(item) {
  if (item.errors.length === 0) return "–";
  const more = item.error_count - item.errors.length;
  return h("ul", { class: "errors" },
    item.errors.map(([row, message]) => h("li", {}, h("span", { class: "note" }, `row ${row}: `), message)),
    more > 0 ? h("li", { class: "note" }, `and ${formatNumber(more)} more`) : null);
}

export function renderFailed(imports, actions) {
  syncTable(byId("failed"), imports, {
    key: (i) => i.id,
    columns: [
      importCell(actions), district, file,
      { render: (i) => formatTime(i.ended_at) },
      { class: "num", render: (i) => formatNumber(i.attempts) },
      { class: "error-text", render: errorList },
      ...controlColumn(actions, () => "retry", (i) =>
        h("button", { type: "button", onclick: () => actions.retry(i) }, `Retry import ${i.id}`)),
    ],
  });
}

function stateBadge(state) {
  return h("span", { class: `badge state-${state}` }, state);
}

export function renderFinished(imports, actions) {
  syncTable(byId("finished"), imports, {
    key: (i) => i.id,
    columns: [
      importCell(actions), district, file,
      { render: (i) => stateBadge(i.workflow_state) },
      { render: (i) => formatTime(i.ended_at) },
      { render: (i) => formatSeconds(i.run_seconds) },
      { class: "num", render: (i) => formatNumber(i.rows_processed) },
      { class: "num", render: (i) => formatNumber(i.error_count) },
    ],
  });
}

function workerState(worker) {
  if (worker.alive) return h("span", { class: "badge state-succeeded" }, "alive");
  if (worker.stopped_at) return h("span", { class: "badge" }, "stopped");
  return h("span", { class: "badge state-failed" }, "not responding");
}

export function renderWorkers(workers, actions) {
  syncTable(byId("workers"), workers, {
    key: (w) => w.id,
    columns: [
      { class: "worker", render: (w) => w.id },
      { render: workerState },
      { render: (w) => formatClock(w.heartbeat_at) },
      { class: "num", render: (w) => formatNumber(w.max_jobs) },
      {
        key: (w) => w.running_import_ids.join(","),
        render: (w) => (w.running_import_ids.length === 0
          ? "–"
          : w.running_import_ids.map((id) => importButton({ id }, actions))),
      },
      { class: "num", render: (w) => formatNumber(w.rows_processed) },
    ],
  });
}

export function renderAudit(entries) {
  syncTable(byId("audit"), entries, {
    key: (e) => e.id,
    columns: [
      { render: (e) => formatTime(e.created_at) },
      { render: (e) => e.user?.name ?? "–" },
      { render: (e) => e.action },
      { render: (e) => (e.root_account_id === null ? "–" : `#${e.root_account_id}`) },
      { render: (e) => (e.outcome_import_id === null ? "–" : `#${e.outcome_import_id}`) },
      { class: "error-text", render: (e) => e.detail ?? "" },
    ],
  });
}

function field(label, value) {
  return [h("dt", {}, label), h("dd", {}, value ?? "–")];
}

export function renderDetail(item) {
  const detail = byId("detail");
  const rows = item.rows_total === null
    ? formatNumber(item.rows_processed)
    : `${formatNumber(item.rows_processed)} of ${formatNumber(item.rows_total)}`;
  detail.replaceChildren(...[
    h("h3", {}, `Import #${item.id} `, stateBadge(item.workflow_state)),
    h("dl", {},
      field("District", `${item.root_account_name} (#${item.root_account_id})`),
      field("Context", `${item.context_type} ${item.context_name ?? ""} (#${item.context_id})`),
      field("File", `${item.file_name ?? "–"} (${formatNumber(item.file_size)} bytes)`),
      field("Uploaded by", item.user?.name),
      field("Created", formatTime(item.created_at)),
      field("Started", formatTime(item.started_at)),
      field("Ended", formatTime(item.ended_at)),
      field("Waited", formatSeconds(item.wait_seconds)),
      field("Ran for", formatSeconds(item.run_seconds)),
      field("Progress", `${item.progress}%`),
      field("Rows", rows),
      field("Rows/s", formatNumber(item.rows_per_second, 1)),
      field("ETA", formatSeconds(item.eta_seconds)),
      field("Worker", item.worker_id),
      field("Attempts", formatNumber(item.attempts)),
      field("Retry of", item.retry_of_id === null ? null : `#${item.retry_of_id}`),
      field("Cancel requested", item.cancel_requested ? "yes" : "no"),
      field("Queue", item.paused ? "paused" : "running"),
      field("Errors", formatNumber(item.error_count))),
    item.errors.length === 0 ? null : h("table", { class: "detail-errors" },
      h("caption", {}, `First ${item.errors.length} errors by row`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Row"), h("th", { scope: "col" }, "Message"))),
      h("tbody", {}, item.errors.map(([row, message]) => h("tr", {}, h("td", { class: "num" }, row), h("td", {}, message))))),
  ].filter((node) => node !== null));
  detail.hidden = false;
}

export function renderNotFound(id, message) {
  const detail = byId("detail");
  detail.replaceChildren(h("p", { class: "error", role: "alert" }, `Import ${id}: ${message}`));
  detail.hidden = false;
}
