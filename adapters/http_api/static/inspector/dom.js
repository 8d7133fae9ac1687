// A tiny element builder: text always goes in as text (memory holds what people wrote).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) { continue; }
    if (k.startsWith("on")) { el.addEventListener(k.slice(2), v); }
    else if (k === "class") { el.className = v; }
    else if (k === "style") { el.setAttribute("style", v); }
    else if (k in el && typeof v !== "string") { el[k] = v; }
    else { el.setAttribute(k, v === true ? "" : v); }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) { continue; }
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) { el.replaceChildren(); append(el, children); return el; }

// What to say once the next view is drawn (a change that moves to another view).
let afterRoute = null;
export function noticeNext(text, kind = "info") { afterRoute = [text, kind]; }
export function routed() {
  const [text, kind] = afterRoute || ["", "info"];
  afterRoute = null;
  notice(text, kind);
}

export function notice(text, kind = "info") {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

export const fmt = {
  n: (x) => (x === null || x === undefined ? "–" : Number(x).toLocaleString("en-US")),
  count: (x, word) => `${fmt.n(x)} ${word}${Number(x) === 1 ? "" : "s"}`,
  when(iso) {
    if (!iso) { return "–"; }
    const t = new Date(iso);
    const s = (Date.now() - t.getTime()) / 1000;
    if (s < 90) { return "just now"; }
    if (s < 5400) { return `${Math.round(s / 60)} min ago`; }
    if (s < 129600) { return `${Math.round(s / 3600)} h ago`; }
    return t.toISOString().slice(0, 10);
  },
  time: (iso) => (iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "–"),
  cost: (x) => (x === null || x === undefined ? "–" : `$${Number(x).toFixed(4)}`),
  json(value) {
    if (typeof value === "string") {
      try { return JSON.stringify(JSON.parse(value), null, 2); } catch { return value; }
    }
    return JSON.stringify(value, null, 2);
  },
};

// A section whose content loads on its own: a failure shows in the section, not the console.
export function section(id, title, load, ...extra) {
  const body = h("div", { class: "body" }, h("p", { class: "muted" }, "Loading…"));
  const el = h("section", { id, class: "card" }, h("h2", {}, title, ...extra), body);
  el.reload = async () => {
    try { await load(body); }
    catch (err) { replace(body, h("p", { class: "error" }, err.message)); }
  };
  el.reload();
  return el;
}

export function missing(what) {
  return h("p", { class: "muted" }, `This server does not serve ${what} yet.`);
}
