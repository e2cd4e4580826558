// The context's outcomes as a tree whose groups load when they are expanded (the Outcome Groups
// API: root_outcome_group, then each group's subgroups and outcomes, a page at a time), so a tree
// of 100,000 outcomes costs only what is opened.

import { h } from "/dashboard/static/dom.js";
import { getPage, get } from "./api.js";

const PER_PAGE = 50;

export class OutcomeTree {
  constructor(container, { onChooseGroup }) {
    this.container = container;
    this.onChooseGroup = onChooseGroup;
    this.generation = 0;
  }

  async show(contextPath) {
    const generation = ++this.generation;
    this.container.replaceChildren(h("p", { class: "note" }, "Loading the outcomes…"));
    const root = await get(`${contextPath}/root_outcome_group`);
    if (generation !== this.generation) return;
    const list = h("ul", { class: "tree-list", role: "list" });
    this.container.replaceChildren(list);
    const node = this.groupNode(root, { isRoot: true });
    list.append(node.item);
    await node.expand();
  }

  groupNode(group, { isRoot = false } = {}) {
    const childrenId = `group-${group.id}-children`;
    const children = h("ul", { id: childrenId, class: "tree-list", role: "list", hidden: true });
    const toggle = h(
      "button",
      { type: "button", class: "toggle", "aria-expanded": "false", "aria-controls": childrenId },
      h("span", { class: "twisty", "aria-hidden": "true" }),
      h("span", { class: "group-title" }, isRoot ? `${group.title} (top level)` : group.title),
    );
    const choose = h(
      "button",
      {
        type: "button",
        class: "secondary small choose",
        // The visible words first, so that a voice command naming them finds the button.
        "aria-label": `Import here: ${isRoot ? "the top level" : `group "${group.title}"`}`,
        onclick: () => this.onChooseGroup(isRoot ? null : group),
      },
      "Import here",
    );
    const item = h(
      "li",
      { class: "group" },
      h(
        "div",
        { class: "node" },
        toggle,
        group.vendor_guid ? h("span", { class: "guid", title: group.vendor_guid }, group.vendor_guid) : null,
        choose,
      ),
      children,
    );
    let loaded = false;
    const expand = async () => {
      toggle.setAttribute("aria-expanded", "true");
      children.hidden = false;
      if (loaded) return;
      loaded = true;
      await this.loadChildren(group, children);
    };
    toggle.addEventListener("click", () => {
      if (toggle.getAttribute("aria-expanded") === "true") {
        toggle.setAttribute("aria-expanded", "false");
        children.hidden = true;
      } else {
        expand().catch((error) => children.replaceChildren(h("li", { class: "error" }, error.message)));
      }
    });
    return { item, expand };
  }

  async loadChildren(group, children) {
    children.replaceChildren();
    await this.appendPages(children, `${group.subgroups_url}?per_page=${PER_PAGE}`, (g) => this.groupNode(g).item, "more groups");
    await this.appendPages(children, `${group.outcomes_url}?per_page=${PER_PAGE}`, (link) => this.outcomeNode(link.outcome), "more outcomes");
    if (children.children.length === 0) children.append(h("li", { class: "note" }, "This group is empty."));
  }

  // A list's first page into `children`, and a "Show more" button in its place while there are more.
  async appendPages(children, path, render, label) {
    const anchor = h("li", { class: "more" });
    children.append(anchor);
    const load = async (pagePath) => {
      anchor.replaceChildren(h("span", { class: "note" }, "Loading…"));
      const page = await getPage(pagePath);
      const nodes = page.body.map(render);
      for (const node of nodes) children.insertBefore(node, anchor);
      if (!page.next) {
        anchor.remove();
        return nodes;
      }
      const button = h("button", { type: "button", class: "secondary small" }, `Show ${label}`);
      button.addEventListener("click", async () => {
        try {
          const added = await load(page.next);
          // Keep the keyboard where the reader is: on the first item just loaded.
          const first = added[0];
          if (first) {
            const target = first.querySelector("button") || first;
            if (target === first) first.tabIndex = -1;
            target.focus();
          }
        } catch (error) {
          anchor.replaceChildren(h("span", { class: "error" }, error.message));
        }
      });
      anchor.replaceChildren(button);
      return nodes;
    };
    await load(path);
  }

  outcomeNode(outcome) {
    return h(
      "li",
      { class: "outcome" },
      h("span", { class: "outcome-title" }, outcome.title),
      outcome.vendor_guid ? h("span", { class: "guid", title: outcome.vendor_guid }, outcome.vendor_guid) : null,
    );
  }
}
