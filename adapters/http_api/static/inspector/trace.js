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
    if (!session.serves("GET", "/api/agents/{}/turns")) { replace(body, missing("turn traces")); return; }
    const turns = (await api(`${base}/turns?limit=50`)).items;
    const open = params.get("turn");
    replace(body, turns.length ? h("ol", { class: "timeline", id: "timeline" }, turns.map((t) => {
      const detail = h("div", { class: "turn-detail" });
      const item = h("details", { class: "turn", "data-turn": t.id, open: t.id === open, ontoggle: async () => {
        if (!item.open || detail.childElementCount) { return; }
        try { replace(detail, steps(await api(`${base}/turns/${encodeURIComponent(t.id)}`))); }
        catch (err) { replace(detail, h("p", { class: "error" }, err.message)); }
      } }, h("summary", {}, turnTitle(t)), detail);
      return h("li", {}, item);
    })) : h("p", { class: "muted" }, "No turns yet."));
  });
  return el;
}

function turnTitle(t) {
  return [h("span", { class: "muted" }, fmt.time(t.at || t.started_at)), " ", h("span", { class: "said" }, t.text || t.trigger || t.id)];
}

function steps(turn) {
  return (turn.steps || []).map((step, i) => h("div", { class: "step" },
    h("h4", {}, `Step ${i + 1}`),
    step.output && step.output.content ? h("p", { class: "thought" }, step.output.content) : null,
    (step.calls || []).map((c) => h("div", { class: "call" },
      h("div", {}, h("code", { class: "fn" }, c.name), c.duration_ms !== undefined ? h("span", { class: "muted" }, ` · ${fmt.n(c.duration_ms)} ms`) : null),
      h("pre", { class: "args" }, fmt.json(c.arguments)),
      h("pre", { class: "result" }, fmt.json(c.result)),
      (c.hits || []).length ? h("ul", { class: "hits" }, c.hits.map((hit) => h("li", { class: "hit" },
        h("span", { class: "score" }, hit.score === null ? "–" : Number(hit.score).toFixed(3)), h("span", { class: "text" }, hit.text)))) : null)),
    h("p", { class: "muted" }, `${fmt.n(step.usage && step.usage.prompt_tokens)} prompt + ${fmt.n(step.usage && step.usage.completion_tokens)} completion tokens · ${fmt.n(step.latency_ms)} ms`),
    step.prompt ? h("details", { class: "prompt" }, h("summary", {}, "Exact prompt"), h("pre", {}, fmt.json(step.prompt))) : null));
}
