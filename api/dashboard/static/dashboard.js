// The dashboard page: polls the operations API every 2 s while the tab is visible, renders what
// it answers, and sends the controls (site admins only), each confirmed in a dialog first.

import { get, post, signOut, startSession } from "./api.js";
import { throughputChart } from "./chart.js";
import * as views from "./views.js";

const POLL_MILLISECONDS = 2000;
const OPS = "/api/v1/operations";
const LIST_SIZE = 20;
const $ = (id) => document.getElementById(id);

const updateChart = throughputChart($("throughput-chart"), $("throughput-summary"));
let timer = null;
let refreshing = false;
let refreshAgain = false;
let detailId = null;

function say(text, isError = false) {
  const messages = $("messages");
  messages.textContent = text;
  messages.classList.toggle("error", isError);
}

function confirmed(question) {
  const dialog = $("confirm");
  $("confirm-text").textContent = question;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.showModal();
  });
}

async function control(question, path, done) {
  if (!(await confirmed(question))) return;
  try {
    say(done(await post(path)));
  } catch (error) {
    say(`Not done: ${error.message}`, true);
  }
  refreshNow();
}

const actions = {
  siteAdmin: false,
  show: (id) => showDetail(id, true),
  cancel: (item) => control(
    `Cancel import #${item.id} (${item.file_name ?? "no file name"}) of ${item.root_account_name}? `
      + "A running import is rolled back: nothing of it is kept.",
    `${OPS}/imports/${item.id}/cancel`,
    (answer) => (answer.workflow_state === "failed"
      ? `Import #${item.id} was cancelled.`
      : `Import #${item.id} will stop at its next batch.`),
  ),
  retry: (item) => control(
    `Retry import #${item.id} (${item.file_name ?? "no file name"}) of ${item.root_account_name}? `
      + "A new import of the same file is queued.",
    `${OPS}/imports/${item.id}/retry`,
    (answer) => `Import #${answer.id} was queued as a retry of #${item.id}.`,
  ),
  pause: (queue) => control(
    `Pause the queue of ${queue.name}? Its uploads are still accepted but wait until it is resumed; `
      + "a running import finishes.",
    `${OPS}/queues/${queue.root_account_id}/pause`,
    () => `The queue of ${queue.name} is paused.`,
  ),
  resume: (queue) => control(
    `Resume the queue of ${queue.name}? Its waiting imports start in upload order.`,
    `${OPS}/queues/${queue.root_account_id}/resume`,
    () => `The queue of ${queue.name} is running again.`,
  ),
};

async function showDetail(id, moveFocus) {
  try {
    views.renderDetail(await get(`${OPS}/imports/${id}`));
    detailId = id;
  } catch (error) {
    views.renderNotFound(id, error.message);
    detailId = null;
  }
  if (moveFocus) {
    $("find-id").value = String(id);
    const heading = $("detail").querySelector("h3, p");
    heading.tabIndex = -1;
    heading.focus();
  }
}

async function refresh() {
  const list = (state) => get(`${OPS}/imports?state=${state}&per_page=${LIST_SIZE}`);
  const [queues, running, waiting, failed, finished, workers, throughput, audit] = await Promise.all([
    get(`${OPS}/queues`), list("running"), list("waiting"), list("failed"), list("finished"),
    get(`${OPS}/workers`), get(`${OPS}/throughput`), get(`${OPS}/audit_log`),
  ]);
  views.renderTiles({ queues: queues.queues, workers: workers.workers, minutes: throughput.minutes });
  views.renderQueues(queues.queues, actions);
  views.renderRunning(running.imports, actions);
  views.renderWaiting(waiting.imports, actions);
  views.renderFailed(failed.imports, actions);
  views.renderFinished(finished.imports, actions);
  views.renderWorkers(workers.workers, actions);
  views.renderAudit(audit.entries);
  updateChart(throughput.minutes);
  if (detailId !== null) await showDetail(detailId, false);
}

async function tick() {
  clearTimeout(timer);
  timer = null;
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    await refresh();
    $("live-status").textContent = `Live: updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    $("live-status").textContent = `Not updated: ${error.message}`;
  } finally {
    refreshing = false;
  }
  if (document.hidden) {
    $("live-status").textContent = "Paused while this tab is hidden";
  } else if (refreshAgain) {
    refreshAgain = false;
    tick();
  } else {
    timer = setTimeout(tick, POLL_MILLISECONDS);
  }
}

function refreshNow() {
  if (!document.hidden) tick();
}

function fatal(text) {
  const element = $("fatal");
  element.textContent = text;
  element.hidden = false;
  $("main").hidden = true;
  $("live-status").textContent = "";
}

async function start() {
  $("sign-out").addEventListener("click", () => signOut().catch((error) => say(error.message, true)));
  let me;
  try {
    await startSession();
    me = await get(`${OPS}/me`);
  } catch (error) {
    if (error.status === 403) fatal("Your user is neither a site admin nor an admin of a district: nothing to show.");
    else if (error.status !== 401) fatal(`The dashboard could not start: ${error.message}`);
    return;
  }
  actions.siteAdmin = me.site_admin;
  views.showAdminColumns(me.site_admin);
  $("who").textContent = `Signed in as ${me.user.name}`
    + (me.site_admin ? " (site admin)" : " (district admin, read-only)");
  $("find").addEventListener("submit", (event) => {
    event.preventDefault();
    showDetail($("find-id").value.trim(), true);
  });
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
      $("live-status").textContent = "Paused while this tab is hidden";
    } else {
      tick();
    }
  });
  tick();
}

start();
