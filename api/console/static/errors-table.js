// Every error of an import in one table: loaded page by page, sorted by any column, filtered by
// text and by code, shown a few hundred rows at a time (a report may hold 10,000).

import { h } from "/dashboard/static/dom.js";
import { getPage } from "./api.js";

const SHOWN_AT_ONCE = 200;
const COLUMNS = ["row", "column", "code", "message", "value"];

export class ErrorsTable {
  constructor(root) {
    this.root = root;
    this.table = root.querySelector("#errors-table");
    this.status = root.querySelector("#errors-status");
    this.shown = root.querySelector("#errors-shown");
    this.filter = root.querySelector("#error-filter");
    this.code = root.querySelector("#error-code");
    this.more = root.querySelector("#errors-more");
    this.csv = root.querySelector("#errors-csv");
    this.errors = [];
    this.sort = { key: "row", ascending: true };
    this.limit = SHOWN_AT_ONCE;
    this.generation = 0;
    for (const th of this.table.tHead.rows[0].cells) {
      th.querySelector("button").addEventListener("click", () => this.sortBy(th.dataset.sort));
    }
    this.filter.addEventListener("input", () => this.refilter());
    this.code.addEventListener("change", () => this.refilter());
    this.more.addEventListener("click", () => {
      this.limit += SHOWN_AT_ONCE;
      this.render();
    });
  }

  hide() {
    this.generation += 1;
    this.root.hidden = true;
  }

  // Load every stored error of the import whose report is at `errorsPath`.
  async load(errorsPath, expected) {
    const generation = ++this.generation;
    this.errors = [];
    this.filter.value = "";
    this.code.replaceChildren(h("option", { value: "" }, "All codes"));
    this.limit = SHOWN_AT_ONCE;
    this.csv.href = `${errorsPath}.csv`;
    this.root.hidden = false;
    this.status.textContent = "Loading the errors…";
    this.render();
    let next = `${errorsPath}?per_page=100`;
    let found = expected;
    let notStored = 0;
    while (next) {
      const page = await getPage(next);
      if (generation !== this.generation) return; // another import was chosen meanwhile
      this.errors.push(...page.body);
      found = Number(page.headers.get("X-Error-Count") ?? found ?? this.errors.length);
      notStored = Number(page.headers.get("X-Errors-Not-Stored") ?? 0);
      next = page.next;
      if (next) this.status.textContent = `Loading the errors… ${this.errors.length.toLocaleString()} so far`;
    }
    const codes = [...new Set(this.errors.map((e) => e.code))].sort();
    this.code.append(...codes.map((code) => h("option", { value: code }, code)));
    this.status.textContent =
      `${found.toLocaleString()} ${found === 1 ? "row error" : "row errors"}` +
      (notStored > 0 ? `; the first ${this.errors.length.toLocaleString()} are stored and listed here.` : ".");
    this.render();
  }

  sortBy(key) {
    this.sort = { key, ascending: this.sort.key === key ? !this.sort.ascending : true };
    for (const th of this.table.tHead.rows[0].cells) {
      if (th.dataset.sort === key) th.setAttribute("aria-sort", this.sort.ascending ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
    this.render();
  }

  refilter() {
    this.limit = SHOWN_AT_ONCE;
    this.render();
  }

  visible() {
    const text = this.filter.value.trim().toLowerCase();
    const code = this.code.value;
    const rows = this.errors.filter(
      (e) =>
        (!code || e.code === code) &&
        (!text || COLUMNS.some((c) => e[c] !== null && String(e[c]).toLowerCase().includes(text))),
    );
    const { key, ascending } = this.sort;
    const direction = ascending ? 1 : -1;
    rows.sort((a, b) => {
      const x = a[key] ?? "";
      const y = b[key] ?? "";
      const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return order * direction || a.row - b.row;
    });
    return rows;
  }

  render() {
    const rows = this.visible();
    const shown = rows.slice(0, this.limit);
    this.table.tBodies[0].replaceChildren(
      ...shown.map((e) =>
        h(
          "tr",
          {},
          h("td", { class: "num" }, String(e.row)),
          h("td", {}, e.column ?? "–"),
          h("td", { class: "code" }, e.code),
          h("td", { class: "message" }, e.message),
          h("td", { class: "value" }, e.value ?? ""),
        ),
      ),
    );
    this.table.hidden = rows.length === 0;
    const filtered = rows.length !== this.errors.length;
    this.shown.textContent =
      this.errors.length === 0
        ? ""
        : rows.length === 0
          ? "No error matches the filter."
          : `Showing ${shown.length.toLocaleString()} of ${rows.length.toLocaleString()}` +
            (filtered ? ` matching (of ${this.errors.length.toLocaleString()}).` : ".");
    this.more.hidden = shown.length >= rows.length;
  }
}
