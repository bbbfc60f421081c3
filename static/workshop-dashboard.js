// kplab instructor dashboard: one row per learner, kept current by the server-sent events of
// /api/workshops/{id}/events (a snapshot, then a "row" event per change). Idle time and time
// on step tick locally from the timestamps in each row; nothing polls.
(function () {
  "use strict";
  var box = document.getElementById("dashboard");
  if (!box) return;
  var id = box.dataset.workshop, rows = {}, order = [];
  var tbody = document.getElementById("rows"), live = document.getElementById("live");

  function api(path, body) {
    return fetch("/api/workshops/" + id + path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {})
    }).then(function (r) { return r.json().then(function (j) { if (!r.ok) alert(j.error || r.status); return j; }); });
  }
  function ago(ms) {
    var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }
  function cell(tr, cls, text) {
    var td = document.createElement("td"); td.className = cls; td.textContent = text; tr.appendChild(td); return td;
  }
  function button(td, label, action, body) {
    var b = document.createElement("button"); b.type = "button"; b.textContent = label; b.dataset.action = action;
    b.addEventListener("click", function () { api("/learners/" + encodeURIComponent(td.parentNode.dataset.learner) + "/" + action, body); });
    td.appendChild(b);
  }
  function render(r) {
    var tr = document.getElementById("row-" + r.learner);
    if (!tr) {
      tr = document.createElement("tr"); tr.id = "row-" + r.learner; tr.dataset.learner = r.learner;
      tbody.appendChild(tr); order.push(r.learner);
    }
    tr.textContent = "";
    tr.className = "row " + r.status + (r.hand_ms ? " hand" : "");
    tr.dataset.passed = r.passed.join(" ");
    cell(tr, "name", r.name);
    cell(tr, "lab", r.lab);
    cell(tr, "status", r.status + (r.queue_position ? " #" + r.queue_position : ""));
    cell(tr, "step", r.step + "/" + r.steps + " " + r.step_title);
    cell(tr, "tasks", r.tasks_passed + "/" + r.tasks_total);
    cell(tr, "since", "").dataset.since = r.step_since_ms;
    var f = r.last_failing;
    cell(tr, "failing", f ? f.task + ": " + f.check + " — " + f.message : "");
    cell(tr, "idle", "").dataset.since = r.last_active_ms;
    cell(tr, "hand-cell", r.hand_ms ? "✋ " + ago(r.hand_ms) : "");
    var td = cell(tr, "actions", "");
    var a = document.createElement("a"); a.href = "/instructor/workshops/" + id + "/learners/" + encodeURIComponent(r.learner);
    a.textContent = "terminal"; a.target = "_blank"; td.appendChild(a);
    button(td, "reset step", "reset", { scope: "step" });
    button(td, "reset lab", "reset", { scope: "lab" });
    button(td, "restart", "restart");
    button(td, "extend", "extend");
    rows[r.learner] = r;
    document.getElementById("empty").style.display = order.length ? "none" : "";
    tick();
  }
  function tick() {
    Array.prototype.forEach.call(tbody.querySelectorAll("td.since, td.idle"), function (td) {
      td.textContent = ago(Number(td.dataset.since));
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
      d.rows.forEach(render);
      workshop(d.workshop);
      document.getElementById("empty").style.display = order.length ? "none" : "";
    });
    es.addEventListener("row", function (e) { render(JSON.parse(e.data)); });
    es.addEventListener("workshop", function (e) { workshop(JSON.parse(e.data)); });
  }
  function workshop(w) {
    document.getElementById("ws-state").textContent = w.ended ? "ended" : (w.open ? "open" : "closed");
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-ws-action]"), function (b) {
    b.addEventListener("click", function () {
      var a = b.dataset.wsAction;
      if (a === "end" && !confirm("End the workshop? Every lab stops; results are kept.")) return;
      api("/" + a, a === "extend" ? { minutes: 30 } : {});
    });
  });
  document.getElementById("broadcast-form").addEventListener("submit", function (e) {
    e.preventDefault();
    api("/broadcast", { message: document.getElementById("broadcast").value });
  });
  connect();
})();
