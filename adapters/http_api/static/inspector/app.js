// The page's entry: sign in with an API key, the agents list, routing by the URL's hash.
import { api, all, q, session, signIn } from "./api.js";
import { fmt, h, replace, routed } from "./dom.js";
import { agentPage } from "./agent.js";

const main = document.getElementById("main");

function showWho() {
  const who = document.getElementById("who");
  const out = document.getElementById("sign-out");
  if (session.me) {
    replace(who, session.me.name, " ", h("span", { class: `role ${session.me.role}` }, session.me.role));
    out.hidden = false;
  } else {
    replace(who);
    out.hidden = true;
  }
  document.body.classList.toggle("viewer", !session.admin);
}

function signInForm(message) {
  const input = h("input", {
    id: "api-key", type: "password", autocomplete: "off", placeholder: "pm_…", required: true,
  });
  const status = h("p", { class: "error", id: "sign-in-error" }, message || "");
  const form = h(
    "form", { id: "sign-in", class: "card", onsubmit: async (event) => {
      event.preventDefault();
      try {
        await signIn(input.value.trim());
        input.value = "";
        route();
      } catch (err) {
        replace(status, err.status === 401 ? "That key is not accepted." : err.message);
      }
    } },
    h("h1", {}, "Sign in"),
    h("p", {}, "Paste an operator API key (", h("code", {}, "pagemind keys create"),
      "). It stays in this tab only."),
    h("label", {}, "API key ", input),
    h("button", { type: "submit" }, "Sign in"),
    status,
  );
  replace(main, form);
  input.focus();
}

function pausedCell(agent) {
  if (agent.paused === true) { return h("span", { class: "badge paused" }, "paused"); }
  if (agent.paused === false) { return h("span", { class: "badge running" }, "running"); }
  return "–";
}

function budgetCell(agent) {
  const budget = agent.daily_token_budget;
  const label = budget ? `${fmt.n(agent.tokens_today)} / ${fmt.n(budget)}` : `${fmt.n(agent.tokens_today)} (no budget)`;
  const share = budget ? Math.min(1, agent.tokens_today / budget) : 0;
  return h("span", { class: "budget" }, label,
    budget ? h("span", { class: "meter" }, h("span", { style: `width:${(share * 100).toFixed(1)}%`, class: share >= 1 ? "over" : "" })) : null);
}

async function agentsPage(params) {
  const person = h("input", { name: "person", id: "f-person", placeholder: "e.g. 12345 or T01:U02", value: params.get("person") || "" });
  const platform = h("select", { name: "platform", id: "f-platform" },
    ["", "telegram", "slack", "discord", "console", "openai"].map((p) =>
      h("option", { value: p, selected: p === (params.get("platform") || "") }, p || "any")));
  const channel = h("input", { name: "channel", id: "f-channel", placeholder: "channel or chat id", value: params.get("channel") || "" });
  const list = h("div", { id: "agents" }, h("p", { class: "muted" }, "Loading…"));
  const form = h("form", { class: "filters", id: "agent-filters", onsubmit: (event) => {
      event.preventDefault();
      location.hash = "#/" + q({ person: person.value.trim(), platform: platform.value, channel: channel.value.trim() });
    } },
    h("label", {}, "Person's id ", person),
    h("label", {}, "Platform ", platform),
    h("label", {}, "Channel ", channel),
    h("button", { type: "submit" }, "Search"));
  replace(main, h("h1", {}, "Agents"), form, list);
  // person and platform are the API's filters; the channel is a part of the agent's key
  const agents = await all("/api/agents", { person: person.value.trim(), platform: platform.value });
  const wanted = channel.value.trim();
  const shown = wanted ? agents.filter((a) => a.key.split(":").slice(2).some((part) => part === wanted)) : agents;
  if (!shown.length) { replace(list, h("p", { class: "muted" }, "No agent matches.")); return; }
  replace(list, h("table", { class: "agents" },
    h("thead", {}, h("tr", {}, ["Agent", "Platform", "Last active", "Tokens today / budget", "State"].map((t) => h("th", {}, t)))),
    h("tbody", {}, shown.map((a) => h("tr", { "data-key": a.key },
      h("td", { "data-label": "Agent" }, h("a", { href: `#/agent/${encodeURIComponent(a.key)}`, class: "agent-link" }, a.key)),
      h("td", { "data-label": "Platform" }, `${a.platform} · ${a.scope}`),
      h("td", { "data-label": "Last active", title: fmt.time(a.last_active_at) }, fmt.when(a.last_active_at)),
      h("td", { "data-label": "Tokens today" }, budgetCell(a)),
      h("td", { "data-label": "State" }, pausedCell(a)))))));
}

async function route() {
  if (!session.key()) { showWho(); signInForm(); return; }
  if (!session.me) {
    try { await signIn(session.key()); }
    catch (err) { showWho(); signInForm(err.status === 401 ? "That key is no longer accepted." : err.message); return; }
  }
  showWho();
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  try {
    if (path.startsWith("/agent/")) {
      await agentPage(main, decodeURIComponent(path.slice("/agent/".length)), params, route);
    } else {
      await agentsPage(params);
    }
  } catch (err) {
    replace(main, h("p", { class: "error" }, err.message), h("p", {}, h("a", { href: "#/" }, "All agents")));
  }
  routed();
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.clear();
  location.hash = "#/";
  route();
});
window.addEventListener("hashchange", route);
route();
