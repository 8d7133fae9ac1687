// Archival memory: sources (uploaded files, then the agent's own passages), search with
// scores grouped by source, delete a passage or a source, upload with a progress bar.
import { api, session } from "./api.js";
import { fmt, h, notice, replace, section } from "./dom.js";

const sourceName = (s) => (s.document_id ? s.filename || s.document_id : "the agent's own passages");

export function archivalSection(base) {
  const path = `${base}/archival`;
  const admin = session.admin;
  const results = h("div", { id: "archival-results" });
  const el = section("archival", "Archival memory", async (body) => {
    const sources = (await api(`${path}/sources?limit=200`)).items;
    const query = h("input", { id: "archival-query", name: "q", placeholder: "search words", required: true });
    const search = async () => {
      const found = await api(`${path}/search?q=${encodeURIComponent(query.value)}&limit=20`);
      const groups = new Map();
      for (const hit of found.items) {
        const id = hit.passage.document_id || "own";
        if (!groups.has(id)) { groups.set(id, []); }
        groups.get(id).push(hit);
      }
      const names = Object.fromEntries(sources.map((s) => [s.document_id || "own", sourceName(s)]));
      replace(results, h("p", { class: "muted", id: "search-total" },
        `${found.exact_total ? "" : "at least "}${fmt.n(found.total)} found (${found.scoring})`),
      [...groups].map(([id, hits]) => h("div", { class: "group", "data-source": id },
        h("h4", {}, names[id] || hits[0].passage.source),
        h("ul", { class: "hits" }, hits.map((hit) => h("li", { class: "hit", "data-passage": hit.passage.id },
          h("span", { class: "score" }, hit.score === null ? "–" : hit.score.toFixed(3)),
          h("span", { class: "text" }, hit.passage.text),
          h("button", { type: "button", class: "delete-passage", disabled: !admin, onclick: async () => {
            try { await api(`${path}/passages/${encodeURIComponent(hit.passage.id)}`, { method: "DELETE" }); await search(); }
            catch (err) { notice(err.message, "error"); }
          } }, "Delete")))))));
    };
    const file = h("input", { type: "file", id: "upload-file", disabled: !admin });
    const bar = h("progress", { id: "upload-progress", max: 1, value: 0, hidden: true });
    const status = h("span", { id: "upload-status", class: "status" });
    const upload = async () => {
      if (!file.files.length) { return; }
      const form = new FormData();
      form.append("file", file.files[0]);
      bar.hidden = false; bar.removeAttribute("value");
      replace(status, "sending…");
      try {
        let job = await api(`${path}/uploads`, { method: "POST", form });
        while (job.status === "running") {
          if (job.total) { bar.max = job.total; bar.value = job.done; }
          replace(status, job.total ? `${job.done} / ${job.total} passages` : "reading…");
          await new Promise((r) => setTimeout(r, 300));
          job = await api(`${path}/uploads/${encodeURIComponent(job.id)}`);
        }
        bar.max = 1; bar.value = job.status === "stored" ? 1 : 0;
        replace(status, `${job.filename}: ${job.status}${job.message ? ` (${job.message})` : ""}${job.status === "stored" ? `, ${fmt.count(job.passages, "passage")}` : ""}`);
        status.dataset.status = job.status;
        file.value = "";
        await refresh();
      } catch (err) { replace(status, err.message); status.dataset.status = "error"; }
    };
    const list = h("ul", { class: "sources", id: "sources" });
    const refresh = async () => {
      const fresh = (await api(`${path}/sources?limit=200`)).items;
      sources.splice(0, sources.length, ...fresh);
      replace(list, fresh.length ? fresh.map((s) => h("li", { "data-source": s.document_id || "own" },
        h("strong", {}, sourceName(s)), " ",
        h("span", { class: "muted" }, `${fmt.count(s.passages, "passage")} · ${fmt.time(s.stored_at)}`),
        h("button", { type: "button", class: "delete-source danger", disabled: !admin, onclick: async () => {
          if (!window.confirm(`Delete every passage of ${sourceName(s)}?`)) { return; }
          try {
            const done = await api(`${path}/sources/${encodeURIComponent(s.document_id || "own")}`, { method: "DELETE" });
            notice(`Deleted ${fmt.count(done.deleted, "passage")} of ${sourceName(s)}.`);
            await refresh();
            if (query.value) { await search(); }
          } catch (err) { notice(err.message, "error"); }
        } }, "Delete source")))
        : h("li", { class: "muted" }, "No passages."));
    };
    await refresh();
    replace(body,
      list,
      h("div", { class: "row upload" }, h("label", {}, "Upload a file ", file),
        h("button", { type: "button", id: "upload", disabled: !admin, onclick: upload }, "Upload"), bar, status),
      h("form", { class: "row", id: "archival-search", onsubmit: async (event) => {
        event.preventDefault();
        try { await search(); } catch (err) { replace(results, h("p", { class: "error" }, err.message)); }
      } }, query, h("button", { type: "submit" }, "Search")),
      results);
  });
  return el;
}
