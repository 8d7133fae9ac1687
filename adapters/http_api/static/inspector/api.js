// The operator API as the page uses it: every call carries the key from this tab's
// sessionStorage (never shown back), errors carry the server's message.
const STORE = "pagemind-key";

export class ApiError extends Error {
  constructor(status, detail) {
    super((detail && detail.message) || `HTTP ${status}`);
    this.status = status;
    this.code = detail && detail.code;
    this.current = detail && detail.current;
  }
}

export const session = {
  key() { return sessionStorage.getItem(STORE); },
  set(key) { sessionStorage.setItem(STORE, key); },
  clear() { sessionStorage.removeItem(STORE); session.me = null; session.routes = null; },
  me: null,       // {key_id, name, role}
  routes: null,   // Set of "METHOD /path/{}" the server serves (from its OpenAPI schema)
  get admin() { return !!session.me && session.me.role === "admin"; },
  serves(method, path) {
    return !!session.routes && session.routes.has(`${method} ${path.replace(/\{[^}]+\}/g, "{}")}`);
  },
};

export async function api(path, { method = "GET", json, form, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${session.key()}` };
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) { body = form; }
  const response = await fetch(path, { method, headers, body });
  if (raw && response.ok) { return response; }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; }
  catch { data = { error: { code: "error", message: `HTTP ${response.status}: ${text.slice(0, 200)}` } }; }
  if (!response.ok) { throw new ApiError(response.status, data && data.error); }
  return data;
}

export const q = (params) => {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) { if (v !== undefined && v !== null && v !== "") { search.set(k, v); } }
  const s = search.toString();
  return s ? `?${s}` : "";
};

export const agentPath = (key) => `/api/agents/${encodeURIComponent(key)}`;

// Every item of a paged listing (follows next_cursor).
export async function all(path, params = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await api(path + q({ ...params, limit: 200, cursor }));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

export async function signIn(key) {
  session.set(key);
  try {
    session.me = await api("/api/me");
    const schema = await api("/openapi.json");
    session.routes = new Set();
    for (const [path, ops] of Object.entries(schema.paths || {})) {
      for (const method of Object.keys(ops)) {
        session.routes.add(`${method.toUpperCase()} ${path.replace(/\{[^}]+\}/g, "{}")}`);
      }
    }
  } catch (err) {
    session.clear();
    throw err;
  }
}
