// The packets panel (issue 7): chain graph laid out with dagre (static/vendor/dagre.min.js)
// and drawn as SVG, counters polled every second while the panel is open (rules that just
// counted packets light up), packet traces (kernel beside model), snapshot diffs, spread
// histograms. JSON from /api/sessions/{id}/…. A node whose kube-proxy runs in nftables mode
// (issue 17) also has `nft`: kube-proxy's table (chains, verdict maps as nodes, sets), drawn
// beside the iptables chains.
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
      panel.querySelectorAll(".panel-tabs button").forEach((x) => {
        x.classList.toggle("current", x === b);
        x.setAttribute("aria-pressed", x === b ? "true" : "false");
      });
      panel.querySelectorAll(".panel-view").forEach((v) => (v.hidden = v.id !== `view-${view}`));
      if (view === "diff") loadSnapshots();
    })
  );

  // ---- Chain graph ----
  let last = null; // previous graph (counters)
  const layoutKeys = {}; // per box: chains+filter the current layout was made for
  let layoutKey = ""; // reset to "" to force new layouts
  let traced = { chains: new Set(), dnat: new Set(), masq: new Set(), edges: new Set() };
  let selected = null;
  const hot = new Map(); // chain id -> time it last counted

  // Every chain of a response: iptables first, then the nftables tables'.
  function allChains(g) {
    return g.chains.concat(...(g.nft || []).map((t) => t.chains));
  }
  function allEdges(g) {
    return g.edges.concat(...(g.nft || []).map((t) => t.edges));
  }

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
    const tables = g.nft || [];
    const nft = { chains: [].concat(...tables.map((t) => t.chains)), edges: [].concat(...tables.map((t) => t.edges)) };
    const both = tables.length > 0;
    $("graph-nft-col").hidden = !both;
    $("graph-ipt-title").hidden = !both;
    $("graph-pair").classList.toggle("both", both);
    if (both) {
      const t = tables.map((x) => `table ${x.family} ${x.name}`).join(", ");
      $("graph-nft-title").textContent = `nftables (kube-proxy in nftables mode): ${t}${tables.some((x) => x.counters) ? "" : " · no counters in this table"}`;
      $("graph-ipt-title").textContent = g.chains.some((c) => c.name.startsWith("KUBE-")) ? "iptables: nat and filter (KUBE-* chains too)" : "iptables: nat and filter (Calico's chains)";
      drawSets(tables);
    }
    if (layoutKey === "") for (const k of Object.keys(layoutKeys)) delete layoutKeys[k];
    layoutKey = "drawn";
    drawBox($("graph"), "graph-svg", g);
    if (both) drawBox($("graph-nft"), "graph-nft-svg", nft);
    else $("graph-nft").replaceChildren();
    const err = $("graph-nft-error");
    err.hidden = !g.nft_error;
    err.textContent = g.nft_error ? `The nftables table could not be drawn: ${g.nft_error}` : "";
    paint(g);
  }

  function drawSets(tables) {
    const body = $("nft-sets-body");
    const open = $("nft-sets").open;
    if (!open) { $("nft-sets-summary").textContent = `Sets and maps (${tables.reduce((n, t) => n + t.sets.length, 0)})`; return; }
    body.replaceChildren();
    for (const t of tables) {
      const tb = h("table", {});
      for (const st of t.sets) {
        const tr = h("tr", {});
        tr.appendChild(h("td", { class: "set-name" }, `${st.kind} @${st.name}`));
        tr.appendChild(h("td", {}, `${st.key_type}${st.value_type ? " : " + st.value_type : ""}${st.comment ? " · " + st.comment : ""}`));
        tb.appendChild(tr);
        const shown = st.elements.slice(0, 200);
        for (const e of shown) {
          const r = h("tr", { class: "elem" });
          r.appendChild(h("td", {}, ""));
          r.appendChild(h("td", {}, `${e.key}${e.value ? " : " + e.value : ""}${e.comment ? "  # " + e.comment : ""}`));
          tb.appendChild(r);
        }
        const more = st.elements.length - shown.length + st.elements_omitted;
        if (!st.elements.length) tb.appendChild(h("tr", { class: "elem" }, "")).appendChild(h("td", { colspan: 2 }, "  (no elements)"));
        if (more > 0) tb.appendChild(h("tr", {})).appendChild(h("td", { colspan: 2 }, `  … ${more} more`));
      }
      body.appendChild(tb);
      for (const n of t.notes) body.appendChild(h("p", {}, n));
    }
  }
  $("nft-sets").addEventListener("toggle", () => last && drawSets(last.nft || []));

  // The second line of a chain's box: counters where the rules count (every iptables rule;
  // nftables rules with a `counter`), else the rule count and, for a base chain, its hook.
  function countText(c) {
    if (c.kind === "map") return `${c.rules.length} elements`;
    const counts = c.rules.some((r) => r.counter !== false);
    const hook = c.hook ? " · " + c.hook.replace(/^\S+ hook /, "").replace(" priority ", " ") : "";
    return counts ? `${c.packets} pkts · ${c.rules.length} rules${hook}` : `${c.rules.length} rules${hook}`;
  }

  function drawBox(box, svgId, g) {
    const chains = visibleChains(g);
    const ids = new Set(chains.map((c) => c.id));
    const key = chains.map((c) => c.id).join("|");
    if (key !== layoutKeys[svgId] || !document.getElementById(svgId)) {
      layoutKeys[svgId] = key;
      const gr = new dagre.graphlib.Graph();
      gr.setGraph({ rankdir: "LR", nodesep: 8, ranksep: 40, marginx: 8, marginy: 8 });
      gr.setDefaultEdgeLabel(() => ({}));
      for (const c of chains) gr.setNode(c.id, { width: Math.max(120, 7 * Math.max(c.label.length, countText(c).length) + 16), height: 34 });
      for (const e of g.edges) if (ids.has(e.from) && ids.has(e.to)) gr.setEdge(e.from, e.to);
      dagre.layout(gr);
      const w = gr.graph().width + 16, hgt = gr.graph().height + 16;
      const svg = el("svg", { width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, id: svgId });
      const defs = el("defs");
      const m = el("marker", { id: `${svgId}-arrow`, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" });
      m.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#99a" }));
      defs.appendChild(m);
      svg.appendChild(defs);
      for (const e of gr.edges()) {
        const pts = gr.edge(e).points;
        const d = pts.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" ");
        const ge = g.edges.find((x) => x.from === e.v && x.to === e.w);
        svg.appendChild(el("path", { d, class: "edge" + (ge && ge.goto ? " goto" : ""), "data-from": e.v, "data-to": e.w, "marker-end": `url(#${svgId}-arrow)` }));
      }
      for (const c of chains) {
        const n = gr.node(c.id);
        const grp = el("g", { class: `chain kind-${c.kind}`, "data-id": c.id, transform: `translate(${n.x - n.width / 2},${n.y - n.height / 2})` });
        grp.appendChild(el("rect", { width: n.width, height: n.height }));
        grp.appendChild(el("text", { x: 6, y: 14 }, c.label));
        grp.appendChild(el("text", { x: 6, y: 28, class: "count" }, ""));
        const t = el("title", {}, `${c.table} ${c.name}${c.hook ? "\n" + c.hook : ""}${c.service ? "\nService " + c.service : ""}${c.pod ? "\npod " + c.pod : ""}`);
        grp.appendChild(t);
        grp.addEventListener("click", () => { selected = c.id; showRules(); paint(last); });
        svg.appendChild(grp);
      }
      box.replaceChildren(svg);
    }
  }

  function paint(g) {
    if (!g) return;
    const now = Date.now();
    const chains = allChains(g);
    for (const grp of document.querySelectorAll("#graph-svg g.chain, #graph-nft-svg g.chain")) {
      const id = grp.dataset.id;
      const c = chains.find((x) => x.id === id);
      if (!c) continue;
      grp.querySelector(".count").textContent = countText(c);
      grp.classList.toggle("hot", (hot.get(id) || 0) > now - 3000);
      grp.classList.toggle("traced", traced.chains.has(id));
      grp.classList.toggle("dnat", traced.dnat.has(id));
      grp.classList.toggle("masq", traced.masq.has(id));
      grp.classList.toggle("selected", selected === id);
    }
    for (const p of document.querySelectorAll("#graph-svg path.edge, #graph-nft-svg path.edge")) {
      p.classList.toggle("traced", traced.edges.has(`${p.dataset.from}>${p.dataset.to}`));
    }
  }

  function showRules() {
    const pre = $("graph-rules");
    const c = last && allChains(last).find((x) => x.id === selected);
    if (!c) { pre.textContent = ""; return; }
    pre.replaceChildren();
    pre.appendChild(document.createTextNode(`${c.table} ${c.name}${c.service ? "  (" + c.service + ")" : ""}${c.pod ? "  pod " + c.pod : ""}\n`));
    if (c.hook) pre.appendChild(h("span", { class: "hook" }, `  ${c.hook}${c.chain_policy ? "; policy " + c.chain_policy : ""}\n`));
    for (const r of c.rules) {
      const count = r.counter === false ? "" : `[${r.packets}:${r.bytes}] `;
      const line = h("span", {}, `${count}${r.text}${r.handle !== undefined ? "  # handle " + r.handle : ""}\n`);
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
        const before = allChains(last);
        for (const c of allChains(g)) {
          const b = before.find((x) => x.id === c.id);
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
      const nftc = (g.nft || []).reduce((n, t) => n + t.chains.filter((c) => c.kind !== "map").length, 0);
      $("graph-status").textContent = `${g.chains.length} iptables chains${(g.nft || []).length ? ", " + nftc + " nftables chains (kube-proxy in nftables mode)" : ""}, ${g.services.length + (g.nft || []).reduce((n, t) => n + t.services.length, 0)} services · updated ${new Date().toLocaleTimeString()}${g.snapshot ? " · snapshot: " + g.snapshot.label : ""}`;
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
      const cols = h("div", { class: "trace-cols" + (t.kernel ? (t.model.unsupported ? " narrow-model" : "") : " single") });
      if (t.kernel) {
        const k = t.kernel;
        const rows = [];
        let prev = null;
        for (const hp of k.hops) {
          const id = `${hp.table}:${hp.chain}`;
          let cls = hp.verdict === "DROP" ? "verdict-drop" : hp.verdict === "REJECT" ? "verdict-reject" : "";
          const words = (hp.rule || "").split(/\s+/);
          if (hp.rule && (hp.rule.includes("-j DNAT") || (k.mode === "nftables" && words.includes("dnat")))) { cls += " dnat"; traced.dnat.add(id); }
          if (hp.rule && (hp.rule.includes("-j MASQUERADE") || hp.rule.includes("-j SNAT") || (k.mode === "nftables" && (words.includes("masquerade") || words.includes("snat"))))) { cls += " masq"; traced.masq.add(id); }
          if (hp.kind === "rule") {
            traced.chains.add(id);
            if (prev && prev !== id) traced.edges.add(`${prev}>${id}`);
            prev = id;
            if (hp.map) {
              // A verdict map lookup: rule -> map -> the chain its element chose.
              const mid = `${hp.table}:@${hp.map}`;
              cls += " map";
              traced.chains.add(mid);
              traced.edges.add(`${id}>${mid}`);
              if (hp.target) traced.edges.add(`${mid}>${hp.table}:${hp.target}`);
              prev = mid;
            }
          }
          const p = hp.packet || {};
          rows.push({ cls, cells: [`${hp.table}:${hp.chain}`, hp.verdict + (hp.target ? " " + hp.target : "") + (hp.map ? ` (map @${hp.map})` : ""), hp.rule || `(${hp.kind})`, `${p.src}:${p.sport} → ${p.dst}:${p.dport}`] });
        }
        const kdiv = h("div", { id: "trace-kernel" });
        kdiv.appendChild(h("h3", {}, `Kernel (${k.mode === "nftables" ? "nftrace, nft monitor trace" : "TRACE"}): ${k.verdict}${k.dnat ? ", DNAT to " + k.dnat : ""}${k.masqueraded ? ", masqueraded" : ""}`));
        kdiv.appendChild(hopsTable(rows, "kernel"));
        if (k.conntrack) kdiv.appendChild(h("p", {}, `conntrack: ${k.conntrack.original}  ⇄  ${k.conntrack.reply} ${k.conntrack.state}`));
        cols.appendChild(kdiv);
      }
      const m = t.model;
      const mdiv = h("div", { id: "trace-model" });
      if (m.unsupported) {
        mdiv.appendChild(h("h3", {}, "Model"));
        mdiv.appendChild(h("p", { class: "model-unsupported", id: "trace-model-unsupported" }, `kube-proxy on ${t.node} runs in nftables mode: ${m.unsupported}.${t.kernel ? "" : " Choose \"send a real packet\" to see the kernel's trace."}`));
      } else {
      mdiv.appendChild(h("h3", {}, `Model: ${m.verdict}${m.dnat ? ", DNAT to " + m.dnat : ""} (branch probability ${m.probability.toFixed(4)})`));
      mdiv.appendChild(hopsTable(m.hops.map((x) => ({ cls: x.rule.includes("-j DNAT") ? "dnat" : x.rule.includes("-j MASQUERADE") ? "masq" : "", cells: [`${x.table}:${x.chain}`, `#${x.index}`, x.rule, x.probability ? `p=${x.probability}` : ""] })), "model"));
      if (!t.kernel) for (const x of m.hops) traced.chains.add(`${x.table}:${x.chain}`);
      }
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
      // Labels can be long (a summary of every change): the list shows the start, the
      // option's title the whole.
      const short = (t) => (t.length > 60 ? `${t.slice(0, 59)}…` : t);
      for (const sel of [$("diff-from"), $("diff-to")]) {
        const keep = sel.value;
        sel.replaceChildren();
        for (const x of s.snapshots) {
          const label = `${x.node} #${x.seq}: ${x.label}`;
          sel.appendChild(h("option", { value: x.id, title: label }, short(label)));
        }
        if (!s.snapshots.length) sel.appendChild(h("option", { value: "" }, "no snapshots yet"));
        if (keep) sel.value = keep;
      }
      const n = s.snapshots.length;
      $("diff-run").disabled = n < 2;
      $("diff-status").textContent = n < 2
        ? "A snapshot is taken each time the chain graph reads a node's rules and they changed. Change something (scale a Deployment, add a Service), then Refresh snapshots."
        : `${n} snapshots`;
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
      if (s.note) out.appendChild(h("p", { class: "model-unsupported", id: "spread-note" }, s.note));
      out.appendChild(h("p", { id: "spread-p" }, `${s.answered}/${s.count} answered${failed ? ", " + failed : ""} in ${Math.round(s.ms)} ms · chi-square ${s.chi_square === null ? "n/a" : s.chi_square.toFixed(2)} (df ${s.df ?? "n/a"}), p-value ${s.p_value === null ? "n/a" : s.p_value.toFixed(4)}`));
    } catch (e) {
      out.textContent = `spread failed: ${e.message}`;
    }
  });
})();
