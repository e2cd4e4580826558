// How imports read on the page: their states, kinds and times, in words.

export function stateText(item) {
  switch (item.workflow_state) {
    case "created":
      return "Waiting";
    case "importing":
      return `Running, ${item.progress ?? 0}%`;
    case "succeeded":
      return item.dry_run ? "Checked" : "Succeeded";
    case "failed":
      return "Failed";
    default:
      return item.workflow_state;
  }
}

export const isPending = (item) => item.workflow_state === "created" || item.workflow_state === "importing";
export const kindText = (item) =>
  `${item.dry_run ? "Check only" : "Import"}${item.data?.import_type === "case_json" ? " (CASE)" : ""}`;

// What a chosen file is, from its name or type: a CASE package (JSON) or an Outcomes CSV.
export function fileKind(file) {
  const json = /\.json$/i.test(file.name) || file.type === "application/json";
  return json ? { importType: "case_json", label: "CASE package" } : { importType: "instructure_csv", label: "Outcomes CSV" };
}

// Errors found so far; before the server counted them, the ones Canvas's JSON lists.
export function errorCount(item) {
  if (typeof item.error_count === "number") return item.error_count;
  return (item.processing_errors || []).length;
}

export function formatTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

export function plural(count, one, many) {
  return `${count.toLocaleString()} ${count === 1 ? one : many}`;
}
