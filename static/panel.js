// The packets panel (issue 7): chain graph laid out with dagre (static/vendor/dagre.min.js)
// and drawn as SVG, counters polled every second while the panel is open (rules that just
// counted packets light up), packet traces (kernel beside model), snapshot diffs, spread
// histograms. JSON from /api/sessions/{id}/….
(function () {
  "use strict";
  const panel = document.getElementById("panel");
  if (!panel) return;
  const session = panel.dataset.session;
  const api = (p) => `/api/sessions/${session}${p}`;
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const h = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  async function call(method, path, body) {
    const r = await fetch(api(path), {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
      credentials: "same-origin",
    });
    const j = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
    if (!r.ok) throw new Error(j.error || `HTTP ${r.status}`);
    return j;
  }

  // Tabs.
  let view = "graph";
  panel.querySelectorAll(".panel-tabs button").forEach((b) =>
    b.addEventListener("click", () => {
      view = b.dataset.view;
      panel.querySelectorAll(".panel-tabs button").forEach((x) => x.classList.toggle("current", x === b));
      panel.querySelectorAll(".panel-view").forEach((v) => (v.hidden = v.id !== `view-${view}`));
      if (view === "diff") loadSnapshots();
    })
  );

  // ---- Chain graph ----
  let last = null; // previous graph (counters)
  let layoutKey = ""; // chains+filter the current layout was made for
  let traced = { chains: new Set(), dnat: new Set(), masq: new Set(), edges: new Set() };
  let selected = null;
  const hot = new Map(); // chain id -> time it last counted

  function visibleChains(g) {
    const f = $("graph-filter").value.trim();
    if (!f) return g.chains;
    const keep = new Set();
    for (const c of g.chains) {
      if ((c.service && c.service.includes(f)) || (c.pod && c.pod.includes(f)) || c.name.includes(f)) keep.add(c.id);
    }
    // Keep the hooks and dispatch chains that lead to a kept chain.
    let grew = true;
    while (grew) {
      grew = false;
      for (const e of g.edges) if (keep.has(e.to) && !keep.has(e.from)) { keep.add(e.from); grew = true; }
    }
    return g.chains.filter((c) => keep.has(c.id));
  }

  function draw(g) {
    const chains = visibleChains(g);
    const ids = new Set(chains.map((c) => c.id));
    const key = chains.map((c) => c.id).join("|");
    const box = $("graph");
    if (key !== layoutKey) {
      layoutKey = key;
      const gr = new dagre.graphlib.Graph();
      gr.setGraph({ rankdir: "LR", nodesep: 8, ranksep: 40, marginx: 8, marginy: 8 });
      gr.setDefaultEdgeLabel(() => ({}));
      for (const c of chains) gr.setNode(c.id, { width: Math.max(120, 7 * c.label.length + 16), height: 34 });
      for (const e of g.edges) if (ids.has(e.from) && ids.has(e.to)) gr.setEdge(e.from, e.to);
      dagre.layout(gr);
      const w = gr.graph().width + 16, hgt = gr.graph().height + 16;
      const svg = el("svg", { width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, id: "graph-svg" });
      const defs = el("defs");
      const m = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" });
      m.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#99a" }));
      defs.appendChild(m);
      svg.appendChild(defs);
      for (const e of gr.edges()) {
        const pts = gr.edge(e).points;
        const d = pts.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" ");
        const ge = g.edges.find((x) => x.from === e.v && x.to === e.w);
        svg.appendChild(el("path", { d, class: "edge" + (ge && ge.goto ? " goto" : ""), "data-from": e.v, "data-to": e.w }));
      }
      for (const c of chains) {
        const n = gr.node(c.id);
        const grp = el("g", { class: `chain kind-${c.kind}`, "data-id": c.id, transform: `translate(${n.x - n.width / 2},${n.y - n.height / 2})` });
        grp.appendChild(el("rect", { width: n.width, height: n.height }));
        grp.appendChild(el("text", { x: 6, y: 14 }, c.label));
        grp.appendChild(el("text", { x: 6, y: 28, class: "count" }, ""));
        const t = el("title", {}, `${c.table} ${c.name}${c.service ? "\nService " + c.service : ""}${c.pod ? "\npod " + c.pod : ""}`);
        grp.appendChild(t);
        grp.addEventListener("click", () => { selected = c.id; showRules(); paint(last); });
        svg.appendChild(grp);
      }
      box.replaceChildren(svg);
    }
    paint(g);
  }

  function paint(g) {
    if (!g) return;
    const now = Date.now();
    for (const grp of document.querySelectorAll("#graph-svg g.chain")) {
      const id = grp.dataset.id;
      const c = g.chains.find((x) => x.id === id);
      if (!c) continue;
      grp.querySelector(".count").textContent = `${c.packets} pkts · ${c.rules.length} rules`;
      grp.classList.toggle("hot", (hot.get(id) || 0) > now - 3000);
      grp.classList.toggle("traced", traced.chains.has(id));
      grp.classList.toggle("dnat", traced.dnat.has(id));
      grp.classList.toggle("masq", traced.masq.has(id));
      grp.classList.toggle("selected", selected === id);
    }
    for (const p of document.querySelectorAll("#graph-svg path.edge")) {
      p.classList.toggle("traced", traced.edges.has(`${p.dataset.from}>${p.dataset.to}`));
    }
  }

  function showRules() {
    const pre = $("graph-rules");
    const c = last && last.chains.find((x) => x.id === selected);
    if (!c) { pre.textContent = ""; return; }
    pre.replaceChildren();
    pre.appendChild(document.createTextNode(`${c.table} ${c.name}${c.service ? "  (" + c.service + ")" : ""}${c.pod ? "  pod " + c.pod : ""}\n`));
    for (const r of c.rules) {
      const line = h("span", {}, `[${r.packets}:${r.bytes}] ${r.text}\n`);
      if (c.counted && c.counted.has(r.index)) line.classList.add("counted");
      pre.appendChild(line);
    }
  }

  async function poll() {
    // Polled in every view while the panel is open, so traffic sent from the spread or trace
    // views is counted and lights up when the learner comes back to the graph.
    if (!panel.open || document.hidden) return;
    const node = $("graph-node").value;
    try {
      const g = await call("GET", `/nodes/${node}/ruleset`);
      const now = Date.now();
      if (last && last.node === g.node) {
        for (const c of g.chains) {
          const b = last.chains.find((x) => x.id === c.id);
          if (!b) continue;
          const counted = new Set();
          for (const r of c.rules) {
            const o = b.rules.find((x) => x.index === r.index && x.text === r.text);
            if (o && r.packets > o.packets) counted.add(r.index);
          }
          if (counted.size) {
            hot.set(c.id, now);
            c.counted = counted;
            panel.dataset.counted = String(Number(panel.dataset.counted || 0) + counted.size);
          }
        }
      }
      last = g;
      draw(g);
      showRules();
      $("graph-status").textContent = `${g.chains.length} chains, ${g.services.length} services · updated ${new Date().toLocaleTimeString()}${g.snapshot ? " · snapshot: " + g.snapshot.label : ""}`;
    } catch (e) {
      $("graph-status").textContent = `could not read the rules: ${e.message}`;
    }
  }
  setInterval(poll, 1000);
  panel.addEventListener("toggle", poll);
  $("graph-filter").addEventListener("input", () => last && draw(last));
  $("graph-node").addEventListener("change", () => { last = null; layoutKey = ""; poll(); });

  // ---- Packet trace ----
  function hopsTable(rows, cls) {
    const t = h("table", { class: "hops " + cls });
    for (const r of rows) {
      const tr = h("tr", { class: "hop " + (r.cls || "") });
      for (const c of r.cells) tr.appendChild(h("td", {}, c));
      t.appendChild(tr);
    }
    return t;
  }
  $("trace-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const body = { from: f.get("from"), to: f.get("to"), port: Number(f.get("port")), protocol: f.get("protocol"), mode: f.get("mode") };
    const out = $("trace-result");
    out.textContent = "tracing…";
    try {
      const t = await call("POST", "/trace", body);
      out.replaceChildren();
      out.appendChild(h("p", {}, `${t.from} (${t.src}) → ${t.to} (${t.target_kind}), traced on ${t.node} in ${Math.round(t.ms)} ms`));
      if (t.why) out.appendChild(h("p", { class: "why", id: "trace-why" }, `Why was this ${t.why.verdict === "reject" ? "rejected" : "dropped"}? ${t.why.explanation}`));
      traced = { chains: new Set(), dnat: new Set(), masq: new Set(), edges: new Set() };
      const cols = h("div", { class: "trace-cols" + (t.kernel ? "" : " single") });
      if (t.kernel) {
        const k = t.kernel;
        const rows = [];
        let prev = null;
        for (const hp of k.hops) {
          const id = `${hp.table}:${hp.chain}`;
          let cls = hp.verdict === "DROP" ? "verdict-drop" : hp.verdict === "REJECT" ? "verdict-reject" : "";
          if (hp.rule && hp.rule.includes("-j DNAT")) { cls += " dnat"; traced.dnat.add(id); }
          if (hp.rule && (hp.rule.includes("-j MASQUERADE") || hp.rule.includes("-j SNAT"))) { cls += " masq"; traced.masq.add(id); }
          if (hp.kind === "rule") {
            traced.chains.add(id);
            if (prev && prev !== id) traced.edges.add(`${prev}>${id}`);
            prev = id;
          }
          const p = hp.packet || {};
          rows.push({ cls, cells: [`${hp.table}:${hp.chain}`, hp.verdict + (hp.target ? " " + hp.target : ""), hp.rule || `(${hp.kind})`, `${p.src}:${p.sport} → ${p.dst}:${p.dport}`] });
        }
        const kdiv = h("div", { id: "trace-kernel" });
        kdiv.appendChild(h("h4", {}, `Kernel (TRACE): ${k.verdict}${k.dnat ? ", DNAT to " + k.dnat : ""}${k.masqueraded ? ", masqueraded" : ""}`));
        kdiv.appendChild(hopsTable(rows, "kernel"));
        if (k.conntrack) kdiv.appendChild(h("p", {}, `conntrack: ${k.conntrack.original}  ⇄  ${k.conntrack.reply} ${k.conntrack.state}`));
        cols.appendChild(kdiv);
      }
      const m = t.model;
      const mdiv = h("div", { id: "trace-model" });
      mdiv.appendChild(h("h4", {}, `Model: ${m.verdict}${m.dnat ? ", DNAT to " + m.dnat : ""} (branch probability ${m.probability.toFixed(4)})`));
      mdiv.appendChild(hopsTable(m.hops.map((x) => ({ cls: x.rule.includes("-j DNAT") ? "dnat" : x.rule.includes("-j MASQUERADE") ? "masq" : "", cells: [`${x.table}:${x.chain}`, `#${x.index}`, x.rule, x.probability ? `p=${x.probability}` : ""] })), "model"));
      if (!t.kernel) for (const x of m.hops) traced.chains.add(`${x.table}:${x.chain}`);
      cols.appendChild(mdiv);
      if (t.comparison) {
        const c = t.comparison;
        out.appendChild(h("p", { class: c.agree ? "agree" : "disagree", id: "trace-compare" }, c.agree ? "Kernel and model agree: same chains, same verdict." : "Kernel and model disagree: " + c.differences.join("; ")));
      }
      out.appendChild(cols);
      if (t.node !== $("graph-node").value) { $("graph-node").value = t.node; last = null; layoutKey = ""; }
      paint(last);
    } catch (e) {
      out.textContent = `trace failed: ${e.message}`;
    }
  });

  // ---- Rule diff ----
  async function loadSnapshots() {
    try {
      const s = await call("GET", "/snapshots");
      for (const sel of [$("diff-from"), $("diff-to")]) {
        const keep = sel.value;
        sel.replaceChildren();
        for (const x of s.snapshots) sel.appendChild(h("option", { value: x.id }, `${x.node} #${x.seq}: ${x.label}`));
        if (keep) sel.value = keep;
      }
      const n = s.snapshots.length;
      if (n >= 2 && !$("diff-to").dataset.touched) {
        const lastSnap = s.snapshots[n - 1];
        const prev = [...s.snapshots].reverse().find((x) => x.node === lastSnap.node && x.seq < lastSnap.seq);
        if (prev) $("diff-from").value = prev.id;
        $("diff-to").value = lastSnap.id;
      }
    } catch (e) {
      $("diff-result").textContent = `could not list snapshots: ${e.message}`;
    }
  }
  $("diff-refresh").addEventListener("click", loadSnapshots);
  $("diff-to").addEventListener("change", () => ($("diff-to").dataset.touched = "1"));
  $("diff-run").addEventListener("click", async () => {
    const out = $("diff-result");
    try {
      const d = await call("GET", `/diff?from=${encodeURIComponent($("diff-from").value)}&to=${encodeURIComponent($("diff-to").value)}`);
      out.replaceChildren();
      const ul = h("ul", { id: "diff-services" });
      for (const s of d.services) ul.appendChild(h("li", {}, s.summary));
      if (!d.services.length) ul.appendChild(h("li", {}, "no Service changed"));
      out.appendChild(ul);
      const raw = h("details", { id: "diff-raw-box" });
      raw.appendChild(h("summary", {}, `raw iptables-save diff (${d.raw.filter((l) => l[0] !== " ").length} lines changed)`));
      const pre = h("div", { class: "diff-raw" });
      for (const l of d.raw) pre.appendChild(h("div", { class: l[0] === "+" ? "add" : l[0] === "-" ? "del" : "" }, l));
      raw.appendChild(pre);
      out.appendChild(raw);
    } catch (e) {
      out.textContent = `diff failed: ${e.message}`;
    }
  });

  // ---- Spread ----
  $("spread-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const out = $("spread-result");
    out.textContent = "sending…";
    try {
      const s = await call("POST", "/spread", { from: f.get("from"), service: f.get("service"), port: Number(f.get("port")), count: Number(f.get("count")) });
      out.replaceChildren();
      const rows = s.endpoints;
      const max = Math.max(1, ...rows.map((r) => Math.max(r.count, r.expected)));
      const w = 420, bh = 22, hgt = rows.length * (bh + 8) + 10;
      const svg = el("svg", { width: w + 260, height: hgt, id: "spread-svg" });
      rows.forEach((r, i) => {
        const y = 5 + i * (bh + 8);
        svg.appendChild(el("text", { x: 0, y: y + 15, "font-size": 11 }, (r.pod || r.endpoint).replace(/^default\//, "")));
        svg.appendChild(el("rect", { class: "spread-bar observed", x: 180, y, width: (w * r.count) / max, height: bh }));
        svg.appendChild(el("rect", { class: "spread-bar expected", x: 180, y: y + 2, width: (w * r.expected) / max, height: bh - 4 }));
        svg.appendChild(el("text", { x: 185 + w, y: y + 15, "font-size": 11 }, `${r.count} (expected ${r.expected.toFixed(1)}, share ${r.expected_share.toFixed(4)})`));
      });
      out.appendChild(svg);
      const failed = Object.entries(s.failed).map(([k, v]) => `${v} ${k}`).join(", ");
      out.appendChild(h("p", { id: "spread-p" }, `${s.answered}/${s.count} answered${failed ? ", " + failed : ""} in ${Math.round(s.ms)} ms · chi-square ${s.chi_square === null ? "n/a" : s.chi_square.toFixed(2)} (df ${s.df ?? "n/a"}), p-value ${s.p_value === null ? "n/a" : s.p_value.toFixed(4)}`));
    } catch (e) {
      out.textContent = `spread failed: ${e.message}`;
    }
  });
})();
