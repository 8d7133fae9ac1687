// "Why did it say that": the context window as the next call would send it, and the
// timeline of turns with each step's prompt, output, calls, search hits, tokens, latency.
import { api, session } from "./api.js";
import { fmt, h, missing, replace, section } from "./dom.js";

// The parts of a model call in the order the call sends them, then what is left.
const PARTS = [
  ["instructions", "Instructions", (c) => c.instructions + c.reply_priming],
  ["tool_schemas", "Tool schemas", (c) => c.tools],
  ["working_context", "Working context", (c) => c.working_context],
  ["summary", "Summary", (c) => c.summary.tokens],
  ["fifo", "FIFO", (c) => c.messages_tokens],
];

export function contextBar(segments, window, marks) {
  const bar = h("div", { class: "ctx-bar", id: "context-bar" });
  for (const [name, label, tokens] of segments) {
    if (tokens > 0) {
      bar.append(h("span", { class: `seg ${name}`, style: `width:${(100 * tokens / window).toFixed(3)}%`,
        title: `${label}: ${fmt.n(tokens)} tokens`, "data-part": name, "data-tokens": tokens }));
    }
  }
  for (const [name, at] of marks) {
    bar.append(h("span", { class: `mark ${name}`, style: `left:${(100 * at / window).toFixed(3)}%`,
      title: `${name} line at ${fmt.n(at)} tokens`, "data-line": name, "data-tokens": at }));
  }
  return bar;
}

export function contextSection(base) {
  return section("context", "Context window", async (body) => {
    if (!session.serves("GET", "/api/agents/{}/context")) { replace(body, missing("the context breakdown")); return; }
    const ctx = await api(`${base}/context`);
    const used = PARTS.map(([name, label, tokens]) => [name, label, tokens(ctx)]);
    const sum = used.reduce((n, [, , t]) => n + t, 0);
    const segments = [...used,
      ["free", "Free", Math.max(0, ctx.window - ctx.reply_reserve - sum)],
      ["reply_reserve", "Reply reserve", ctx.reply_reserve]];
    replace(body,
      contextBar(segments, ctx.window, [["warning", ctx.warning_line], ["flush", ctx.flush_line]]),
      h("div", { class: "legend", id: "context-legend" },
        segments.map(([name, label, tokens]) => h("span", { class: `key ${name}`, "data-part": name }, `${label} ${fmt.n(tokens)}`)),
        h("span", { class: "key warning" }, `warning line ${fmt.n(ctx.warning_line)}`),
        h("span", { class: "key flush" }, `flush line ${fmt.n(ctx.flush_line)}`)),
      h("p", { class: "muted" },
        `${fmt.n(ctx.total)} of ${fmt.n(ctx.window)} tokens, as the next call would send them`,
        ctx.correction > 1 ? ` (×${ctx.correction.toFixed(3)} from the provider's counts: ${fmt.n(ctx.corrected_total)})` : "",
        ` · ${fmt.n(ctx.messages.length)} messages in the FIFO · ${fmt.n(ctx.free)} tokens before a flush`,
        ctx.would_flush ? " · the next call flushes first" : "",
        ctx.warning_sent ? " · memory-pressure warning sent" : ""));
  });
}

export function turnsSection(base, params) {
  const el = section("turns", "Turns", async (body) => {
    if (session.serves("GET", "/api/agents/{}/turns")) {
      const turns = (await api(`${base}/turns?limit=50`)).items;
      replace(body, timeline(turns, params.get("turn"), (t) => turnTitle(t),
        async (t) => steps(await api(`${base}/turns/${encodeURIComponent(t.id)}`))));
    } else if (session.serves("GET", "/api/agents/{}/messages")) {
      // no traces on this server: the turns as the agent's log shows them (one per event)
      const turns = fromMessages((await api(`${base}/messages?limit=200`)).items);
      replace(body, h("p", { class: "muted" }, "From the agent's messages (this server does not serve traces)."),
        timeline(turns, params.get("turn"), (t) => turnTitle(t), async (t) => logSteps(t.messages)));
    } else {
      replace(body, missing("turn traces"));
    }
  });
  return el;
}

function timeline(turns, open, title, load) {
  if (!turns.length) { return h("p", { class: "muted" }, "No turns yet."); }
  return h("ol", { class: "timeline", id: "timeline" }, turns.map((t) => {
    const detail = h("div", { class: "turn-detail" });
    const item = h("details", { class: "turn", "data-turn": t.id, ontoggle: async () => {
      if (!item.open || detail.childElementCount) { return; }
      try { replace(detail, await load(t)); }
      catch (err) { replace(detail, h("p", { class: "error" }, err.message)); }
    } }, h("summary", {}, title(t)), detail);
    if (t.id === open) { item.open = true; }
    return h("li", {}, item);
  }));
}

function fromMessages(newestFirst) {
  const turns = new Map();
  for (const m of [...newestFirst].reverse()) {
    const id = m.event_id || `message-${m.id}`;
    if (!turns.has(id)) { turns.set(id, { id, at: m.at, text: "", messages: [] }); }
    const turn = turns.get(id);
    turn.messages.push(m);
    if (!turn.text && (m.role === "user" || m.role === "system")) { turn.text = m.text; }
  }
  return [...turns.values()].reverse();
}

function logSteps(messages) {
  const results = Object.fromEntries(messages.filter((m) => m.role === "tool").map((m) => [m.call_id, m.text]));
  return messages.filter((m) => m.role === "assistant").map((m, i) => step(i, {
    thoughts: m.thoughts,
    calls: m.calls.map((c) => ({ name: c.name, arguments: c.arguments, result: c.result ?? results[c.id] })),
  }));
}

function turnTitle(t) {
  const said = t.started_by ? t.started_by.text : t.text;
  const facts = t.steps !== undefined
    ? ` · ${fmt.count(t.steps, "model call")} · ${fmt.count(t.tokens, "token")}${t.error ? " · failed" : ""}` : "";
  return [h("span", { class: "muted" }, fmt.time(t.at)), " ", h("span", { class: "said" }, said || t.id),
    h("span", { class: "muted" }, facts)];
}

function steps(turn) {
  return [
    turn.replies && turn.replies.length
      ? h("p", { class: "replies" }, "Said: ", turn.replies.map((r) => h("q", {}, r))) : null,
    (turn.model_calls || []).map((s, i) => step(i, s)),
  ];
}

function step(i, s) {
  const tokens = s.tokens;
  return h("div", { class: "step", "data-step": i + 1 },
    h("h4", {}, `Model call ${i + 1}`, s.finish_reason ? h("span", { class: "muted" }, ` · ${s.finish_reason}`) : null),
    s.error ? h("p", { class: "error" }, s.error) : null,
    s.thoughts ? h("p", { class: "thought" }, s.thoughts) : null,
    (s.calls || []).map((c) => h("div", { class: "call", "data-function": c.name },
      h("div", {}, h("code", { class: "fn" }, c.name),
        c.duration_ms !== undefined && c.duration_ms !== null ? h("span", { class: "muted" }, ` · ${Number(c.duration_ms).toFixed(1)} ms`) : null),
      h("pre", { class: "args" }, fmt.json(c.arguments)),
      c.result !== undefined && c.result !== null ? h("pre", { class: "result" }, c.result) : null,
      (c.hits || []).length ? h("ul", { class: "hits" }, c.hits.map((hit) => h("li", { class: "hit" },
        h("span", { class: "score" }, hit.score === null ? "–" : Number(hit.score).toFixed(3)),
        h("span", { class: "text" }, hit.text || hit.id)))) : null)),
    s.latency_ms !== undefined ? h("p", { class: "muted usage" },
      `${fmt.n(s.prompt_tokens)} prompt (${fmt.n(s.cached_tokens)} cached) + ${fmt.n(s.completion_tokens)} completion tokens · `,
      `${fmt.n(Math.round(s.latency_ms))} ms`) : null,
    tokens ? h("p", { class: "muted" }, `Counted: instructions ${fmt.n(tokens.instructions)}, tools ${fmt.n(tokens.tools)}, `,
      `working context ${fmt.n(tokens.working_context)}, summary ${fmt.n(tokens.summary)}, messages ${fmt.n(tokens.messages)} `,
      `= ${fmt.n(tokens.total)}`) : null,
    s.prompt ? h("details", { class: "prompt" },
      h("summary", {}, `Exact prompt (messages ${s.prompt.first_message}–${s.prompt.last_message})`),
      s.prompt.request_body ? h("pre", { class: "request-body" }, fmt.json(s.prompt.request_body))
        : [h("p", { class: "muted" }, "The request body is not rebuilt on this server; its system text:"),
          h("pre", {}, s.prompt.system_text || "not stored")]) : null);
}
