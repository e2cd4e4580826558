// The import console: choose where to import, upload a file to check or import, follow it to its
// end, and browse the recent imports and the outcomes of that account or course. Every figure is
// the API's; the page only reads and calls the routes any client uses.

import { h } from "/dashboard/static/dom.js";
import { getAll, offersDryRun, signOut, startSession } from "./api.js";
import { fileKind } from "./format.js";
import { RecentImports } from "./recent.js";
import { ImportResult } from "./result.js";
import { OutcomeTree } from "./tree.js";

const STORED_CONTEXT = "outcome-imports:console:context";
const $ = (id) => document.getElementById(id);

const state = {
  contextPath: null, // "/api/v1/accounts/1"
  account: null, // the chosen context when it is an account
  targetGroup: null, // {id, title} or null: the top level
  file: null,
};

function showFatal(error) {
  const fatal = $("fatal");
  fatal.textContent = `Something went wrong: ${error.message}`;
  fatal.hidden = false;
}

function contextOption(kind, item) {
  const label = kind === "accounts" ? item.name : `${item.name}${item.course_code ? ` (${item.course_code})` : ""}`;
  return h("option", { value: `${kind}/${item.id}`, dataset: { name: item.name } }, label);
}

async function loadContexts() {
  const [accounts, courses] = await Promise.all([
    getAll("/api/v1/accounts?per_page=100", 1000),
    getAll("/api/v1/courses?enrollment_type=teacher&per_page=100", 1000),
  ]);
  const select = $("context");
  if (accounts.length === 0 && courses.length === 0) {
    $("no-contexts").hidden = false;
    $("where-row").hidden = true;
    return;
  }
  const groups = [h("option", { value: "" }, "Choose an account or course…")];
  if (accounts.length) {
    groups.push(h("optgroup", { label: "Accounts you administer" }, accounts.map((a) => contextOption("accounts", a))));
  }
  if (courses.length) {
    groups.push(h("optgroup", { label: "Courses you teach" }, courses.map((c) => contextOption("courses", c))));
  }
  select.replaceChildren(...groups);
  select.disabled = false;
  const stored = localStorage.getItem(STORED_CONTEXT);
  const only = accounts.length + courses.length === 1 ? select.querySelector("option[value]:not([value=''])") : null;
  const wanted = [...select.options].find((o) => o.value && o.value === stored) || only;
  if (wanted) {
    select.value = wanted.value;
    await chooseContext();
  }
}

async function chooseContext() {
  const select = $("context");
  const value = select.value;
  if (!value) {
    $("workspace").hidden = true;
    $("find").hidden = true;
    return;
  }
  localStorage.setItem(STORED_CONTEXT, value);
  const option = select.selectedOptions[0];
  const name = option.dataset.name || option.textContent;
  state.contextPath = `/api/v1/${value}`;
  state.account = value.startsWith("accounts/") ? { id: value.split("/")[1], name } : null;
  setTargetGroup(null);
  $("find").hidden = !state.account;
  $("found").hidden = true;
  if (state.account) $("find-account").textContent = name;
  $("workspace").hidden = false;
  $("recent-heading").textContent = `Recent imports into ${name}`;
  $("outcomes-heading").textContent = `Outcomes of ${name}`;
  $("export").href = `${state.contextPath}/outcome_export`;
  result.hide();
  await Promise.all([
    recent.show(state.contextPath).catch(showFatal),
    tree.show(state.contextPath).catch((error) => {
      $("tree").replaceChildren(h("p", { class: "error" }, `Could not load the outcomes: ${error.message}`));
    }),
  ]);
}

// A course or sub-account of the chosen account, found by name: added to the list and chosen.
async function find(event) {
  event.preventDefault();
  const term = $("find-term").value.trim();
  const account = state.account;
  if (!account) return;
  const status = $("found-status");
  const list = $("found-list");
  $("found").hidden = false;
  status.textContent = "Searching…";
  list.replaceChildren();
  const query = encodeURIComponent(term);
  const [courses, subAccounts] = await Promise.all([
    getAll(`/api/v1/accounts/${account.id}/courses?per_page=50${term ? `&search_term=${query}` : ""}`, 50),
    getAll(`/api/v1/accounts/${account.id}/sub_accounts?recursive=true&per_page=100`, 500),
  ]);
  const lower = term.toLowerCase();
  const matches = [
    ...subAccounts.filter((a) => !term || a.name.toLowerCase().includes(lower)).map((a) => ["accounts", a, "Sub-account"]),
    ...courses.map((c) => ["courses", c, "Course"]),
  ];
  status.textContent = matches.length
    ? `${matches.length} found in ${account.name}${matches.length >= 50 ? " (the first ones: narrow the search)" : ""}.`
    : `Nothing in ${account.name} matches “${term}”.`;
  list.replaceChildren(
    ...matches.map(([kind, item, what]) =>
      h(
        "li",
        {},
        h(
          "button",
          { type: "button", class: "link", onclick: () => pickFound(kind, item) },
          `${what}: ${item.name}${item.course_code ? ` (${item.course_code})` : ""}`,
        ),
      ),
    ),
  );
}

function pickFound(kind, item) {
  const select = $("context");
  const value = `${kind}/${item.id}`;
  if (![...select.options].some((o) => o.value === value)) {
    let found = select.querySelector("optgroup[data-found]");
    if (!found) {
      found = h("optgroup", { label: "Found", dataset: { found: "yes" } });
      select.append(found);
    }
    found.append(contextOption(kind, item));
  }
  select.value = value;
  chooseContext().catch(showFatal);
  select.focus();
}

function setTargetGroup(group) {
  state.targetGroup = group;
  $("target-group").textContent = group
    ? `“${group.title}”: rows without a parent go into this group`
    : "None: rows without a parent go to the top level";
  $("clear-target").hidden = !group;
}

function setFile(file) {
  state.file = file;
  $("file-chosen").textContent = file
    ? `${fileKind(file).label}: ${file.name} (${file.size.toLocaleString()} bytes)`
    : "No file chosen.";
  $("form-error").textContent = "";
}

function mode() {
  return document.querySelector("input[name=mode]:checked").value;
}

function wireFileForm() {
  const input = $("file");
  const zone = $("drop-zone");
  input.addEventListener("change", () => setFile(input.files[0] || null));
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) zone.addEventListener(name, () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) setFile(file);
  });
  for (const radio of document.querySelectorAll("input[name=mode]")) {
    radio.addEventListener("change", () => {
      $("start").textContent = mode() === "check" ? "Check file" : "Import file";
    });
  }
  $("upload-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!state.file) {
      $("form-error").textContent = "Choose an Outcomes CSV file or a CASE package first.";
      input.focus();
      return;
    }
    const start = $("start");
    start.disabled = true;
    result
      .start(state.contextPath, state.targetGroup?.id, state.file, mode() === "check", fileKind(state.file))
      .catch(showFatal)
      .finally(() => {
        start.disabled = false;
      });
  });
}

const result = new ImportResult($("result"), {
  onStarted: () => recent.refresh().catch(showFatal),
  onEnded: (item) => {
    recent.refresh().catch(showFatal);
    if (item.workflow_state === "succeeded" && !item.dry_run) tree.show(state.contextPath).catch(showFatal);
  },
});
const recent = new RecentImports($("recent"), {
  onShow: (item) => result.show(state.contextPath, item).catch(showFatal),
});
const tree = new OutcomeTree($("tree"), {
  onChooseGroup: (group) => {
    setTargetGroup(group);
    $("file").focus();
  },
});

async function main() {
  const session = await startSession();
  $("who").textContent = `Signed in as ${session.user.name}`;
  $("sign-out").addEventListener("click", () => signOut().catch(showFatal));
  $("context").addEventListener("change", () => chooseContext().catch(showFatal));
  $("find").addEventListener("submit", (event) => find(event).catch(showFatal));
  $("clear-target").addEventListener("click", () => setTargetGroup(null));
  $("tree-reload").addEventListener("click", () => tree.show(state.contextPath).catch(showFatal));
  wireFileForm();
  if (!(await offersDryRun())) {
    const check = document.querySelector("input[name=mode][value=check]");
    check.disabled = true;
    document.querySelector("input[name=mode][value=import]").checked = true;
    $("start").textContent = "Import file";
    $("check-unavailable").hidden = false;
  }
  await loadContexts();
}

main().catch(showFatal);
