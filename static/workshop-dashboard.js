// kplab instructor dashboard: one row per learner, kept current by the server-sent events of
// /api/workshops/{id}/events (a snapshot, then a "row" event per change and a "workshop" event
// when the workshop changes). Raised hands sort first (longest waiting on top); the hand's
// age, idle time and time on step tick locally every second from the timestamps in each
// row; nothing polls. Destructive actions ask first.
(function () {
  "use strict";
  var box = document.getElementById("dashboard");
  if (!box) return;
  var id = box.dataset.workshop, rows = {}, order = [];
  var tbody = document.getElementById("rows"), live = document.getElementById("live");
  var status = document.getElementById("action-status");

  function say(text, bad) {
    status.textContent = text;
    status.classList.toggle("bad", !!bad);
  }
  function api(path, body) {
    return fetch("/api/workshops/" + id + path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) { say(j.error || ("failed: " + r.status), true); throw new Error(j.error); }
        return j;
      });
    });
  }
  function ago(ms) {
    var s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }
  function cell(tr, cls, text) {
    var td = document.createElement("td"); td.className = cls; td.textContent = text; tr.appendChild(td); return td;
  }
  function span(parent, cls, text) {
    var s = document.createElement("span"); s.className = cls; s.textContent = text; parent.appendChild(s); return s;
  }
  // A per-learner action; `ask` is the confirmation for the destructive ones.
  function button(td, r, label, action, body, ask) {
    var b = document.createElement("button"); b.type = "button"; b.textContent = label; b.dataset.action = action;
    b.setAttribute("aria-label", label + " for " + r.name);
    if (ask) b.className = "danger";
    b.addEventListener("click", function () {
      if (ask && !confirm(ask.replace("{name}", r.name))) return;
      api("/learners/" + encodeURIComponent(r.learner) + "/" + action, body).then(function () {
        say(label + " for " + r.name + ": done");
      }, function () {});
    });
    td.appendChild(b);
  }
  // Tasks: passed (all done), error (the last check failed), or not yet.
  function taskState(r) {
    if (r.tasks_total > 0 && r.tasks_passed >= r.tasks_total) return ["passed", "all passed"];
    if (r.last_failing) return ["error", "failing"];
    return ["notyet", "not yet"];
  }
  // `batch`: part of a snapshot, arranged once at its end.
  function render(r, batch) {
    var tr = document.getElementById("row-" + r.learner);
    if (!tr) {
      tr = document.createElement("tr"); tr.id = "row-" + r.learner; tr.dataset.learner = r.learner;
      tbody.appendChild(tr); order.push(r.learner);
    }
    tr.textContent = "";
    tr.className = "row " + r.status + (r.hand_ms ? " hand" : "");
    tr.dataset.passed = r.passed.join(" ");
    var hand = cell(tr, "hand-cell", "");
    if (r.hand_ms) {
      span(hand, "hand-badge", "Hand up");
      span(hand, "hand-age", ago(r.hand_ms)).dataset.since = r.hand_ms;
    }
    var name = cell(tr, "name", ""); var th = document.createElement("span"); th.textContent = r.name; name.appendChild(th);
    cell(tr, "lab-id", r.lab);
    var st = cell(tr, "status", "");
    span(st, "status-badge status-" + r.status, r.status + (r.queue_position ? " #" + r.queue_position : ""));
    cell(tr, "step", r.step + "/" + r.steps + " " + r.step_title);
    var ts = taskState(r), tasks = cell(tr, "tasks", r.tasks_passed + "/" + r.tasks_total + " ");
    span(tasks, "task-tag " + ts[0], ts[1]);
    cell(tr, "since", "").dataset.since = r.step_since_ms;
    var f = r.last_failing;
    cell(tr, "failing", f ? f.task + ": " + f.check + " — " + f.message : "");
    cell(tr, "idle", "").dataset.since = r.last_active_ms;
    var td = cell(tr, "actions", "");
    var a = document.createElement("a"); a.href = "/instructor/workshops/" + id + "/learners/" + encodeURIComponent(r.learner);
    a.textContent = "Terminal"; a.target = "_blank"; a.rel = "noopener";
    a.setAttribute("aria-label", "Terminal of " + r.name + " (read-only, new tab)"); td.appendChild(a);
    button(td, r, "Reset step", "reset", { scope: "step" }, "Reset {name}'s current step? What they did in it is undone.");
    button(td, r, "Reset lab", "reset", { scope: "lab" }, "Reset {name}'s whole lab? Everything they did in it is undone.");
    button(td, r, "Restart", "restart", {}, "Restart {name}'s lab? Their lab is stopped and a fresh one started; progress is kept.");
    button(td, r, "Extend", "extend", {});
    rows[r.learner] = r;
    if (batch !== true) arrange();
  }
  // Raised hands first, longest waiting on top; then join order.
  function arrange() {
    var at = {};
    order.forEach(function (l, i) { at[l] = i; });
    var sorted = order.slice().sort(function (x, y) {
      var hx = rows[x] && rows[x].hand_ms, hy = rows[y] && rows[y].hand_ms;
      if (hx && hy) return hx - hy;
      if (hx) return -1;
      if (hy) return 1;
      return at[x] - at[y];
    });
    sorted.forEach(function (l) {
      var tr = document.getElementById("row-" + l);
      if (tr) tbody.appendChild(tr);
    });
    var hands = sorted.filter(function (l) { return rows[l] && rows[l].hand_ms; }).length;
    document.getElementById("hands").textContent = hands ? hands + (hands === 1 ? " hand up" : " hands up") : "";
    document.getElementById("empty").hidden = order.length > 0;
    tick();
  }
  function tick() {
    Array.prototype.forEach.call(tbody.querySelectorAll("td.since, td.idle, .hand-age"), function (el) {
      el.textContent = ago(Number(el.dataset.since));
    });
  }
  setInterval(tick, 1000);

  function connect() {
    var es = new EventSource("/api/workshops/" + id + "/events");
    es.addEventListener("open", function () { live.textContent = "live"; live.className = "live on"; });
    es.addEventListener("error", function () { live.textContent = "reconnecting…"; live.className = "live"; });
    es.addEventListener("snapshot", function (e) {
      var d = JSON.parse(e.data);
      tbody.textContent = ""; order = []; rows = {};
      d.rows.forEach(function (r) { render(r, true); });
      workshop(d.workshop);
      arrange();
    });
    es.addEventListener("row", function (e) { render(JSON.parse(e.data)); });
    es.addEventListener("workshop", function (e) { workshop(JSON.parse(e.data)); });
  }
  // One joining state: the toggle says what a click does; an ended workshop has no actions.
  function workshop(w) {
    var state = w.ended ? "ended" : (w.open ? "open" : "closed");
    box.dataset.state = state;
    var s = document.getElementById("ws-state");
    s.textContent = state; s.className = "ws-state " + state;
    var t = document.getElementById("joining-toggle");
    t.dataset.wsAction = w.open ? "close" : "open";
    t.textContent = w.open ? "Close joining" : "Reopen joining";
    ["joining-toggle", "extend", "end"].forEach(function (b) { document.getElementById(b).hidden = w.ended; });
    document.getElementById("ended-note").hidden = !w.ended;
    document.getElementById("broadcast-form").hidden = w.ended;
    pinned(w.message || "");
  }
  function pinned(message) {
    document.getElementById("pinned-text").textContent = message;
    document.getElementById("pinned-now").hidden = !message;
    document.getElementById("pinned-none").hidden = !!message;
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-ws-action]"), function (b) {
    b.addEventListener("click", function () {
      var a = b.dataset.wsAction;
      if (a === "end" && !confirm("End the workshop? Every learner's lab stops and nobody can join again. Results are kept.")) return;
      api("/" + a, a === "extend" ? { minutes: 30 } : {}).then(function (j) {
        if (a === "close" || a === "open") workshop({ open: j.open, ended: false, message: document.getElementById("pinned-text").textContent });
        if (a === "end") workshop({ open: false, ended: true, message: document.getElementById("pinned-text").textContent });
        say({ close: "Joining closed.", open: "Joining reopened.", extend: "Extended by 30 minutes.", end: "The workshop has ended." }[a]);
      }, function () {});
    });
  });
  document.getElementById("broadcast-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = document.getElementById("broadcast"), message = input.value.trim();
    if (!message) { say("Type a message to pin first.", true); input.focus(); return; }
    if (!confirm("Pin this message on every learner's page?\n\n" + message)) return;
    api("/broadcast", { message: message }).then(function (j) {
      pinned(j.message); input.value = ""; say("Pinned.");
    }, function () {});
  });
  document.getElementById("unpin").addEventListener("click", function () {
    api("/broadcast", { message: "" }).then(function () { pinned(""); say("Unpinned."); }, function () {});
  });
  document.getElementById("copy-link").addEventListener("click", function () {
    var text = this.dataset.copy, done = document.getElementById("copy-status");
    function fallback() {
      var t = document.createElement("textarea"); t.value = text; t.setAttribute("readonly", "");
      t.style.position = "fixed"; t.style.opacity = "0"; document.body.appendChild(t); t.select();
      var ok = false; try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
      t.remove();
      done.textContent = ok ? "Copied" : "Select the link and copy it";
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done.textContent = "Copied"; }, fallback);
    } else {
      fallback();
    }
  });
  connect();
})();
