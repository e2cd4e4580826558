// The API, read with the session cookie; every change carries the session's CSRF token.

const LOGIN = "/login";
let csrfToken = null;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function messageOf(status, body) {
  if (body && Array.isArray(body.errors) && body.errors[0]?.message) return body.errors[0].message;
  if (body && typeof body.message === "string") return body.message;
  if (status === 403) return "You may not do that here.";
  return `The server answered ${status}.`;
}

function parseJson(text) {
  // Not every answer is JSON (a 204, or a proxy's error page).
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

function sessionEnded() {
  // The session ended (signed out elsewhere, expired, or its token was revoked).
  window.location.assign(LOGIN);
  return new ApiError(401, "Your session has ended; sign in again.");
}

// The URL of rel="next" in an RFC 5988 Link header, or null.
export function nextLink(header) {
  if (!header) return null;
  for (const part of header.split(",")) {
    const match = part.match(/<([^>]*)>\s*;\s*rel="([^"]*)"/);
    if (match && match[2] === "next") {
      // Same origin only: the page may fetch nothing else (its CSP says so too).
      const url = new URL(match[1], window.location.href);
      return url.pathname + url.search;
    }
  }
  return null;
}

async function request(method, path) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, { method, headers, credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) throw sessionEnded();
  const body = parseJson(await response.text());
  if (!response.ok) throw new ApiError(response.status, messageOf(response.status, body));
  return { body, next: nextLink(response.headers.get("Link")), headers: response.headers };
}

export async function startSession() {
  const { body } = await request("GET", "/dashboard/session");
  csrfToken = body.csrf_token;
  return body;
}

export const get = async (path) => (await request("GET", path)).body;
export const getPage = (path) => request("GET", path);
export const post = async (path) => (await request("POST", path)).body;

// Every item of a paginated list, following its Link header, at most `limit` items.
export async function getAll(path, limit = 1000) {
  const items = [];
  let next = path;
  while (next && items.length < limit) {
    const page = await request("GET", next);
    items.push(...page.body);
    next = page.next;
  }
  return items;
}

function randomKey() {
  // crypto.randomUUID exists only on HTTPS or localhost; getRandomValues everywhere.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Upload `file` as a multipart `attachment`, reporting upload progress (0..1) to `onProgress`.
// An Idempotency-Key makes a retried request answer the same import instead of a second one.
// Aborting `signal` stops the upload; nothing is stored then. An `importType` other than Canvas's
// default (`case_json` for a CASE package) goes as a form field before the file, as the CLI sends it.
export function upload(path, file, { dryRun, importType, onProgress, signal }) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    if (dryRun) form.append("dry_run", "true"); // before the file: the server reads fields up to it
    if (importType && importType !== "instructure_csv") form.append("import_type", importType);
    form.append("attachment", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", dryRun ? `${path}?dry_run=true` : path);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken);
    xhr.setRequestHeader("Idempotency-Key", randomKey());
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      const body = parseJson(xhr.responseText);
      if (xhr.status === 401) reject(sessionEnded());
      else if (xhr.status >= 200 && xhr.status < 300 && body) resolve(body);
      else reject(new ApiError(xhr.status, messageOf(xhr.status, body)));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "The upload was interrupted: the server could not be reached.")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "The upload was stopped.")));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

export async function signOut() {
  await request("POST", "/dashboard/logout");
  window.location.assign(LOGIN);
}

// Whether the server's API description declares a `dry_run` parameter on the upload route.
export async function offersDryRun() {
  try {
    // A quarter of a megabyte that changes only with a release: revalidated by its ETag (a 304).
    const response = await fetch("/api/v1/openapi.json", { credentials: "same-origin", cache: "no-cache" });
    if (!response.ok) return false;
    const document = await response.json();
    const resolve = (node) => {
      let found = node;
      for (let i = 0; i < 10 && found && typeof found.$ref === "string"; i++) {
        found = found.$ref.slice(2).split("/").reduce((n, part) => (n ? n[part] : undefined), document);
      }
      return found;
    };
    for (const [template, item] of Object.entries(document.paths || {})) {
      if (!/^\/api\/v1\/(accounts|courses)\/\{[^/}]+\}\/outcome_imports$/.test(template) || !item.post) continue;
      const parameters = [...(item.parameters || []), ...(item.post.parameters || [])].map(resolve);
      if (parameters.some((p) => p && p.name === "dry_run")) return true;
      const body = resolve(item.post.requestBody);
      const schema = resolve(body?.content?.["multipart/form-data"]?.schema);
      if (schema?.properties?.dry_run) return true;
    }
  } catch {
    // No description: offer no dry runs rather than risk a real import.
  }
  return false;
}
