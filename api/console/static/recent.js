// The context's recent imports (GET .../outcome_imports, newest first), a page at a time,
// refreshed every few seconds while one of them is waiting or running and the tab is visible.

import { h } from "/dashboard/static/dom.js";
import { getPage } from "./api.js";
import { errorCount, formatTime, isPending, kindText, stateText } from "./format.js";

const PER_PAGE = 10;
const REFRESH_MS = 3000;

export class RecentImports {
  constructor(section, { onShow }) {
    this.section = section;
    this.table = section.querySelector("#recent-table");
    this.empty = section.querySelector(".empty");
    this.newer = section.querySelector("#recent-newer");
    this.older = section.querySelector("#recent-older");
    this.pageText = section.querySelector("#recent-page");
    this.onShow = onShow;
    this.pages = []; // the paths of the pages before this one, to go back to
    this.path = null;
    this.items = [];
    section.querySelector("#recent-refresh").addEventListener("click", () => this.refresh());
    this.newer.addEventListener("click", () => this.go(this.pages.pop(), false));
    this.older.addEventListener("click", () => this.go(this.nextPath, true));
    setInterval(() => {
      if (!document.hidden && this.path && this.items.some(isPending)) this.refresh();
    }, REFRESH_MS);
  }

  show(contextPath) {
    this.pages = [];
    return this.go(`${contextPath}/outcome_imports?per_page=${PER_PAGE}`, false);
  }

  async go(path, forward) {
    if (forward) this.pages.push(this.path);
    this.path = path;
    await this.refresh();
  }

  async refresh() {
    const path = this.path;
    const page = await getPage(path);
    if (path !== this.path) return;
    this.items = page.body;
    this.nextPath = page.next;
    this.render();
  }

  render() {
    const rows = this.items.map((item) =>
      h(
        "tr",
        { class: `state-${item.workflow_state}` },
        h(
          "td",
          {},
          h(
            "button",
            { type: "button", class: "link", "aria-label": `Show import ${item.id}`, onclick: () => this.onShow(item) },
            `#${item.id}`,
          ),
        ),
        h("td", {}, kindText(item)),
        h("td", {}, h("span", { class: `badge ${item.workflow_state}` }, stateText(item))),
        h("td", {}, formatTime(item.created_at)),
        h("td", {}, item.user?.name ?? "–"),
        h("td", { class: "num" }, errorCount(item).toLocaleString()),
      ),
    );
    this.table.tBodies[0].replaceChildren(...rows);
    this.table.hidden = rows.length === 0;
    this.empty.hidden = rows.length > 0;
    this.newer.hidden = this.pages.length === 0;
    this.older.hidden = !this.nextPath;
    this.pageText.textContent = this.pages.length || this.nextPath ? `Page ${this.pages.length + 1}` : "";
  }
}
