// One agent: its header and actions, then a section per part of its memory.
import { agentPath, api, session } from "./api.js";
import { fmt, h, notice, noticeNext, replace, section } from "./dom.js";
import { archivalSection } from "./archival.js";
import { contextSection, turnsSection } from "./trace.js";
import { usageSection } from "./usage.js";

const admin = () => session.admin;

export async function agentPage(main, key, params, redraw) {
  const base = agentPath(key);
  const agent = await api(base);
  const sections = {};
  sections.memory = memorySection(base, agent);
  sections.context = contextSection(base);
  sections.turns = turnsSection(base, params);
  sections.summary = summarySection(agent);
  sections.archival = archivalSection(base);
  sections.checkins = checkinsSection(base);
  sections.usage = usageSection(base);
  replace(main,
    h("nav", { class: "crumbs" }, h("a", { href: "#/" }, "Agents"), " / "),
    h("div", { class: "agent-head" },
      h("h1", { id: "agent-key" }, key),
      h("p", { class: "muted" },
        `${agent.platform} · ${agent.scope} · ${agent.timezone} · ${fmt.count(agent.messages, "message")} · `,
        `${fmt.count(agent.passages, "passage")} · last active ${fmt.when(agent.last_active_at)}`),
      actions(base, key, agent, redraw)),
    h("div", { class: "sections" }, Object.values(sections)));
}

// --------------------------------------------------------------------------- actions

function actions(base, key, agent, redraw) {
  const bar = h("div", { class: "actions", id: "actions" });
  if (session.serves("POST", "/api/agents/{}/pause")) {
    const paused = agent.paused === true;
    bar.append(h("button", {
      id: paused ? "resume" : "pause", type: "button", disabled: !admin(),
      onclick: async (event) => {
        event.target.disabled = true;
        try {
          const done = await api(`${base}/${paused ? "resume" : "pause"}`, { method: "POST" });
          noticeNext(done && done.error ? `Queued: ${done.error.message}`
            : paused ? "Resumed: it answers again." : "Paused: messages are recorded, the model is not called.");
          await redraw();
        } catch (err) { notice(err.message, "error"); event.target.disabled = false; }
      },
    }, paused ? "Resume" : "Pause"), h("span", { class: `badge ${paused ? "paused" : "running"}`, id: "state" }, paused ? "paused" : "running"));
  }
  if (session.serves("GET", "/api/agents/{}/export")) {
    bar.append(h("button", { id: "export", type: "button", onclick: async () => {
      try {
        const response = await api(`${base}/export`, { raw: true });
        const blob = await response.blob();
        const url = URL.createObjectURL(blob);
        const link = h("a", { href: url, download: `${key.replaceAll(":", "_")}.json` });
        document.body.append(link); link.click(); link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60000);
      } catch (err) { notice(err.message, "error"); }
    } }, "Export"));
  }
  if (session.serves("DELETE", "/api/agents/{}")) {
    const typed = h("input", { id: "erase-confirm", placeholder: key, autocomplete: "off", disabled: !admin(),
      "aria-label": "type the agent's key to erase it" });
    const go = h("button", { id: "erase", type: "button", class: "danger", disabled: true, onclick: async () => {
      go.disabled = true;
      try {
        await api(base, { method: "DELETE" });
        noticeNext(`Erased ${key}: its memory, messages, archival, check-ins and uploads are gone.`);
        location.hash = "#/";
      } catch (err) { notice(err.message, "error"); go.disabled = false; }
    } }, "Erase");
    typed.addEventListener("input", () => { go.disabled = !admin() || typed.value !== key; });
    bar.append(h("details", { class: "erase" }, h("summary", {}, "Erase…"),
      h("p", {}, "Erasing deletes every tier of this agent for good. Type its key to confirm:"), typed, go));
  }
  return bar;
}

// --------------------------------------------------------------------------- working context

function memorySection(base, agent) {
  const hasMemory = session.serves("GET", "/api/agents/{}/memory");
  return section("memory", "Working context", async (body) => {
    const blocks = hasMemory ? (await api(`${base}/memory`)).blocks : agent.blocks;
    const titles = Object.fromEntries(agent.blocks.map((b) => [b.label, b.title]));
    replace(body,
      agent.note ? h("p", { class: "muted" }, agent.note) : null,
      hasMemory ? null : h("p", { class: "muted" }, "Read only: this server does not serve memory edits yet."),
      blocks.map((b) => blockEditor(base, b, titles[b.label], hasMemory, () => body.parentElement.reload())));
  });
}

function blockEditor(base, block, title, editable, reload) {
  const path = `${base}/memory/${encodeURIComponent(block.label)}`;
  const area = h("textarea", { class: "block-value", "data-label": block.label, readOnly: !editable || !admin(),
    rows: Math.min(12, Math.max(3, block.value.split("\n").length + 1)) }, block.value);
  const count = h("span", { class: "count" });
  const status = h("span", { class: "status" });
  const counted = () => {
    count.textContent = `${area.value.length} / ${block.limit} characters`;
    count.classList.toggle("over", area.value.length > block.limit);
  };
  area.addEventListener("input", counted);
  counted();
  const history = h("div", { class: "history" });
  const save = async (value) => {
    try {
      const done = await api(path, { method: "PUT", json: { value, version: block.version } });
      notice(done && done.error ? `Queued: ${done.error.message}` : `Saved ${block.label}.`);
      reload();
    } catch (err) {
      replace(status, err.status === 409 ? `Changed meanwhile (now version ${err.current}): reloaded.` : err.message);
      status.className = "status error";
      if (err.status === 409) { reload(); }
    }
  };
  const buttons = editable ? [
    h("button", { type: "button", class: "save", disabled: !admin(), onclick: () => save(area.value) }, "Save"),
    h("button", { type: "button", class: "show-history", onclick: async () => {
      try {
        const items = (await api(`${path}/history`)).items;
        replace(history, items.length ? h("ol", { class: "edits" }, items.map((e) => h("li", {},
          h("div", { class: "muted" }, `v${e.version} · ${fmt.time(e.at)} · ${e.by.kind}${e.by.name ? ` ${e.by.name}` : ""}`),
          h("div", { class: "diff" }, h("del", {}, e.before), h("ins", {}, e.after)),
          h("button", { type: "button", class: "revert", disabled: !admin(), onclick: () => save(e.before) }, "Revert to before this edit"))))
          : h("p", { class: "muted" }, "No edits yet."));
      } catch (err) { replace(history, h("p", { class: "error" }, err.message)); }
    } }, "History"),
  ] : [];
  return h("div", { class: "block", "data-block": block.label },
    h("h3", {}, block.label, title ? h("span", { class: "muted" }, ` · ${title}`) : null,
      block.version !== undefined ? h("span", { class: "muted" }, ` · v${block.version}`) : null),
    area, h("div", { class: "row" }, count, ...buttons, status), history);
}

// --------------------------------------------------------------------------- summary

function summarySection(agent) {
  return section("summary", "Recursive summary", async (body) => {
    replace(body, agent.summary
      ? [h("p", { class: "muted" }, `Covers messages 1 to ${fmt.n(agent.summary_upto_seq)} (evicted from the FIFO).`),
        h("blockquote", { id: "summary-text" }, agent.summary)]
      : h("p", { class: "muted" }, "No summary yet: nothing has been evicted from the FIFO."));
  });
}

// --------------------------------------------------------------------------- check-ins

function checkinsSection(base) {
  const path = `${base}/checkins`;
  const el = section("checkins", "Check-ins", async (body) => {
    const items = (await api(path + "?limit=200")).items;
    const note = h("input", { name: "note", placeholder: "what it is for", required: true, disabled: !admin() });
    const kind = h("select", { name: "kind", disabled: !admin() }, ["every", "at", "cron"].map((k) => h("option", { value: k }, k)));
    const when = h("input", { name: "when", placeholder: "1d · 2026-12-01 09:30 · 0 9 * * 1-5", required: true, disabled: !admin() });
    const form = h("form", { id: "checkin-form", class: "row", onsubmit: async (event) => {
      event.preventDefault();
      try {
        await api(path, { method: "POST", json: { note: note.value, [kind.value]: when.value } });
        el.reload();
      } catch (err) { notice(err.message, "error"); }
    } }, note, kind, when, h("button", { type: "submit", disabled: !admin() }, "Schedule"));
    const describe = (s) => (s.kind === "once" ? `once at ${fmt.time(s.at)}` : s.kind === "cron" ? `cron ${s.cron}` : `every ${fmt.n(s.every_seconds)} s`);
    replace(body, items.length ? h("ul", { class: "checkins" }, items.map((c) => h("li", { "data-id": c.id },
      h("strong", {}, c.note), " ", h("span", { class: "muted" },
        `${describe(c.schedule)} · next ${fmt.time(c.next_due)} · by ${c.created_by} · fired ${c.fired}`),
      h("button", { type: "button", class: "cancel", disabled: !admin(), onclick: async () => {
        try { await api(`${path}/${encodeURIComponent(c.id)}`, { method: "DELETE" }); el.reload(); }
        catch (err) { notice(err.message, "error"); }
      } }, "Cancel"))))
      : h("p", { class: "muted" }, "No check-ins."), form);
  });
  return el;
}

