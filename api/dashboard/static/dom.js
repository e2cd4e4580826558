// Building the page: every text goes in through textContent (via text nodes), never as HTML.

export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.flat().filter((c) => c !== null && c !== undefined).map(toNode));
  return element;
}

function toNode(child) {
  return child instanceof Node ? child : document.createTextNode(String(child));
}

// Rows are kept per key and their cells refreshed in place, so a focused button survives the
// 2-second refresh. A column with `key` is rebuilt only when its key changes (its buttons keep
// focus); other columns are rebuilt on every refresh.
export function syncTable(table, items, { key, columns }) {
  const tbody = table.tBodies[0];
  const existing = new Map([...tbody.rows].map((row) => [row.dataset.key, row]));
  const wanted = new Set();
  items.forEach((item, index) => {
    const rowKey = String(key(item));
    wanted.add(rowKey);
    let row = existing.get(rowKey);
    if (!row) {
      row = h("tr", { dataset: { key: rowKey } }, columns.map(() => h("td")));
      row.cellKeys = columns.map(() => undefined);
    }
    columns.forEach((column, i) => {
      const cell = row.cells[i];
      const cellKey = column.key ? column.key(item) : undefined;
      if (column.key && row.cellKeys[i] === cellKey) return;
      row.cellKeys[i] = cellKey;
      cell.className = column.class || "";
      cell.replaceChildren(...[column.render(item)].flat().filter((c) => c !== null && c !== undefined).map(toNode));
    });
    if (tbody.rows[index] !== row) tbody.insertBefore(row, tbody.rows[index] || null);
  });
  for (const [rowKey, row] of existing) if (!wanted.has(rowKey)) row.remove();
  const empty = table.parentElement.querySelector(".empty");
  if (empty) empty.hidden = items.length > 0;
  table.hidden = items.length === 0;
}

export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function formatTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

export function formatClock(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "–";
}

export function formatNumber(value, digits = 0) {
  if (value === null || value === undefined) return "–";
  return value.toLocaleString(undefined, { maximumFractionDigits: digits });
}
