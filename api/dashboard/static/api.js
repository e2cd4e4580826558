// The operations JSON API, read with the session cookie; changes carry the session's CSRF token.

const LOGIN = "/dashboard/login";
let csrfToken = null;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function request(method, path) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, { method, headers, credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) {
    // The session ended (signed out elsewhere, expired, or its token was revoked).
    window.location.assign(LOGIN);
    throw new ApiError(401, "Your session has ended; sign in again.");
  }
  const body = await jsonOrNull(response);
  if (!response.ok) {
    const message = (body && (body.errors?.[0]?.message || body.message)) || `HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

async function jsonOrNull(response) {
  // Not every answer is JSON (a 204, or a proxy's error page).
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

export async function startSession() {
  const session = await request("GET", "/dashboard/session");
  csrfToken = session.csrf_token;
  return session;
}

export const get = (path) => request("GET", path);
export const post = (path) => request("POST", path);

export async function signOut() {
  await request("POST", "/dashboard/logout");
  window.location.assign(LOGIN);
}
