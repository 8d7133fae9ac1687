// Usage: tokens per UTC day (prompt, cached, completion) as stacked bars, cost and budget.
import { api } from "./api.js";
import { fmt, h, replace, section } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const svg = (tag, attrs, ...children) => {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) { el.setAttribute(k, v); }
  for (const c of children) { el.append(c instanceof Node ? c : document.createTextNode(String(c))); }
  return el;
};

export function usageSection(base) {
  return section("usage", "Usage", async (body) => {
    const usage = await api(`${base}/usage`);
    const days = usage.days.slice(-30);
    const cost = usage.days.reduce((sum, d) => (d.cost === null || sum === null ? null : sum + d.cost), 0);
    const head = h("p", { class: "muted" },
      `Model ${usage.model} · budget ${usage.daily_token_budget ? `${fmt.n(usage.daily_token_budget)} tokens a day` : "none"}`,
      usage.budget_override ? " (its own)" : "", ` · cost ${fmt.cost(cost)}`);
    if (!days.length) { replace(body, head, h("p", { class: "muted" }, "No model calls yet.")); return; }
    const top = Math.max(...days.map((d) => d.prompt_tokens + d.completion_tokens), usage.daily_token_budget || 0);
    const width = 600, height = 160, step = width / Math.max(days.length, 7), bar = step * 0.7;
    const y = (v) => height - (v / top) * height;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height + 18}`, class: "usage-chart", role: "img",
      "aria-label": "tokens per day" });
    days.forEach((d, i) => {
      const x = i * step + (step - bar) / 2;
      const parts = [["prompt", d.prompt_tokens - d.cached_tokens], ["cached", d.cached_tokens], ["completion", d.completion_tokens]];
      let base0 = 0;
      for (const [kind, v] of parts) {
        if (v > 0) {
          chart.append(svg("rect", { x, y: y(base0 + v), width: bar, height: y(base0) - y(base0 + v), class: kind },
            svg("title", {}, `${d.day} ${kind}: ${fmt.n(v)}`)));
        }
        base0 += v;
      }
      chart.append(svg("text", { x: x + bar / 2, y: height + 14, "text-anchor": "middle" }, d.day.slice(5)));
    });
    if (usage.daily_token_budget) {
      chart.append(svg("line", { x1: 0, x2: width, y1: y(usage.daily_token_budget), y2: y(usage.daily_token_budget), class: "budget-line" }));
    }
    replace(body, head, chart,
      h("div", { class: "legend" }, ["prompt", "cached", "completion"].map((k) => h("span", { class: `key ${k}` }, k))),
      h("div", { class: "table-wrap" }, h("table", { class: "usage-days" },
        h("thead", {}, h("tr", {}, ["Day", "Calls", "Prompt", "Cached", "Completion", "Cost"].map((t) => h("th", {}, t)))),
        h("tbody", {}, days.slice().reverse().map((d) => h("tr", {},
          h("td", {}, d.day), h("td", {}, fmt.n(d.calls)), h("td", {}, fmt.n(d.prompt_tokens)),
          h("td", {}, fmt.n(d.cached_tokens)), h("td", {}, fmt.n(d.completion_tokens)), h("td", {}, fmt.cost(d.cost))))))));
  });
}
