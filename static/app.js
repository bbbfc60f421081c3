// kplab lab page: terminals (xterm.js over a WebSocket), copy / run-in-terminal buttons,
// task checks, the idle countdown and status polling. No framework, no CDN.
(function () {
  "use strict";
  var lab = document.getElementById("lab");
  if (!lab) return;
  var session = lab.dataset.session, status = lab.dataset.status;
  var enc = new TextEncoder();
  var terms = {}; // host -> {term, fit, ws, div, closed}
  var current = null;

  function api(method, path, body) {
    return fetch(path, {
      method: method, credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) { return r.json().then(function (j) { j._status = r.status; return j; }); });
  }

  // Clipboard: the async Clipboard API where the page may use it (HTTPS or localhost, and
  // allowed), else the old execCommand("copy"); whatever was copied in this page is also kept
  // in a page-level buffer, so pasting into a terminal works even where the browser lets the
  // page write the clipboard but not read it (plain HTTP, permission denied).
  var clip = "";

  function execCopy(text) {
    var active = document.activeElement;
    var ta = document.createElement("textarea");
    ta.value = text; ta.setAttribute("readonly", ""); ta.style.position = "fixed"; ta.style.opacity = "0";
    document.body.appendChild(ta); ta.select();
    try { document.execCommand("copy"); } catch (e) { /* the buffer still has it */ }
    document.body.removeChild(ta);
    if (active && active.focus) active.focus();
  }

  function copyText(text) {
    clip = text;
    if (navigator.clipboard && navigator.clipboard.writeText && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { execCopy(text); });
    }
    execCopy(text);
    return Promise.resolve();
  }

  function readClipboard() {
    if (navigator.clipboard && navigator.clipboard.readText && window.isSecureContext) {
      return navigator.clipboard.readText().then(
        function (text) { return text || clip; },
        function () { return clip; });
    }
    return Promise.resolve(clip);
  }

  function send(t, data) {
    if (t.ws && t.ws.readyState === 1) t.ws.send(enc.encode(data));
  }

  // Pastes through xterm (bracketed paste when the shell asks for it, newlines as Enter).
  function paste(t) {
    readClipboard().then(function (text) { if (text) t.term.paste(text); t.term.focus(); });
  }

  function connect(host, t) {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var ws = new WebSocket(proto + "//" + location.host + "/api/sessions/" + session + "/terminals/" + host);
    ws.binaryType = "arraybuffer";
    t.ws = ws;
    ws.onopen = function () {
      t.retry = 500;
      t.term.reset(); // the server replays recent output
      sendSize(t);
      setMsg("");
    };
    ws.onmessage = function (ev) {
      if (typeof ev.data === "string") {
        var m = JSON.parse(ev.data);
        if (m.type === "exit") { t.closed = true; t.term.write("\r\n[shell exited; reload for a new one]\r\n"); }
        return;
      }
      t.term.write(new Uint8Array(ev.data));
    };
    ws.onclose = function () {
      if (t.closed) return;
      setMsg("Connection lost; reconnecting…");
      setTimeout(function () { connect(host, t); }, t.retry);
      t.retry = Math.min((t.retry || 500) * 2, 8000);
    };
  }

  function sendSize(t) {
    try { t.fit.fit(); } catch (e) { /* hidden */ }
    if (t.ws && t.ws.readyState === 1) t.ws.send(JSON.stringify({ type: "resize", cols: t.term.cols, rows: t.term.rows }));
  }

  function setMsg(text) {
    var m = document.getElementById("term-msg");
    if (m) { m.textContent = text; m.style.display = text ? "" : "none"; }
  }

  function open(host) {
    var box = document.getElementById("terms");
    Object.keys(terms).forEach(function (h) { terms[h].div.style.display = h === host ? "" : "none"; });
    document.querySelectorAll(".tab").forEach(function (b) { b.classList.toggle("active", b.dataset.host === host); });
    current = host;
    var t = terms[host];
    if (!t) {
      var div = document.createElement("div");
      div.className = "term"; div.dataset.host = host;
      box.appendChild(div);
      var term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, rightClickSelectsWord: false });
      var fit = new FitAddon.FitAddon();
      term.loadAddon(fit);
      term.open(div);
      t = terms[host] = { term: term, fit: fit, div: div, closed: false, retry: 500 };
      term.onData(function (d) { send(t, d); });
      // Ctrl+Shift+C copies the selection (and is not the browser's inspector); Ctrl+Shift+V
      // is left to the browser, whose paste event xterm takes; if no paste event comes (the
      // browser has no such shortcut), we paste from the clipboard or the page buffer.
      term.attachCustomKeyEventHandler(function (e) {
        if (!(e.ctrlKey && e.shiftKey && !e.altKey && !e.metaKey)) return true;
        var k = (e.key || "").toLowerCase();
        if (k === "c") {
          if (e.type === "keydown") {
            e.preventDefault();
            if (term.hasSelection()) copyText(term.getSelection());
          }
          return false;
        }
        if (k === "v") {
          if (e.type === "keydown") {
            clearTimeout(t.pasteTimer);
            t.pasteTimer = setTimeout(function () { paste(t); }, 50);
          }
          return false;
        }
        return true;
      });
      div.addEventListener("paste", function () { clearTimeout(t.pasteTimer); }, true);
      // The context menu copies the selection, or pastes when nothing is selected.
      div.addEventListener("contextmenu", function (e) {
        e.preventDefault();
        if (term.hasSelection()) { copyText(term.getSelection()); term.clearSelection(); term.focus(); } else { paste(t); }
      });
      connect(host, t);
    }
    setTimeout(function () { sendSize(t); t.term.focus(); }, 0);
    return t;
  }

  window.addEventListener("resize", function () { if (current) sendSize(terms[current]); });

  document.querySelectorAll(".tab").forEach(function (b) {
    b.addEventListener("click", function () { if (status === "running") open(b.dataset.host); });
  });

  document.querySelectorAll(".code").forEach(function (block) {
    var code = block.querySelector("code").textContent;
    var copy = block.querySelector("button.copy");
    if (copy) copy.addEventListener("click", function () {
      copyText(code).then(function () { copy.textContent = "Copied"; setTimeout(function () { copy.textContent = "Copy"; }, 1200); });
    });
    var run = block.querySelector("button.run");
    if (run) run.addEventListener("click", function () {
      if (status !== "running") { setMsg("Start the lab first."); return; }
      var t = open(run.dataset.host || current || "node-1");
      var lines = code.replace(/\n+$/, "").split("\n");
      var go = function () { lines.forEach(function (l) { send(t, l + "\r"); }); };
      if (t.ws && t.ws.readyState === 1) go(); else t.ws.addEventListener("open", go, { once: true });
    });
  });

  function renderResult(li, r) {
    var box = li.querySelector(".result");
    box.textContent = "";
    if (r.error) { var p = document.createElement("p"); p.className = "fail"; p.textContent = r.error; box.appendChild(p); return; }
    var ul = document.createElement("ul"); ul.className = "checks";
    (r.checks || []).forEach(function (c) {
      var item = document.createElement("li");
      item.className = c.passed ? "ok" : "fail";
      item.textContent = c.title + ": " + c.detail;
      ul.appendChild(item);
    });
    box.appendChild(ul);
    if (r.hint) { var h = document.createElement("p"); h.className = "hint"; h.textContent = "Hint: " + r.hint; box.appendChild(h); }
    if (r.passed) li.classList.add("passed");
    li.querySelector(".task-state").textContent = r.passed ? "passed" : (li.classList.contains("passed") ? "passed" : "not yet");
  }

  document.querySelectorAll(".task").forEach(function (li) {
    var btn = li.querySelector("button.check");
    btn.addEventListener("click", function () {
      if (!session || status !== "running") { renderResult(li, { error: "Start the lab first." }); return; }
      var input = li.querySelector("input[name=answer]");
      btn.disabled = true; btn.textContent = "Checking…";
      api("POST", "/api/sessions/" + session + "/tasks/" + li.dataset.task + "/check", input ? { answer: input.value } : {})
        .then(function (r) { renderResult(li, r); })
        .catch(function (e) { renderResult(li, { error: String(e) }); })
        .then(function () { btn.disabled = false; btn.textContent = "Check"; });
    });
  });

  // Idle countdown.
  var cd = document.getElementById("countdown");
  if (cd && lab.dataset.expiresIn) {
    var left = parseInt(lab.dataset.expiresIn, 10);
    setInterval(function () {
      left -= 1;
      cd.textContent = Math.max(left, 0);
      cd.parentNode.classList.toggle("warn", left < 120);
      if (left === 0) location.reload(); // once: the sweep stops the lab shortly after
    }, 1000);
  }

  // Status: wait for a starting lab; notice a lab lost from outside.
  function poll() {
    if (!session) return;
    api("GET", "/api/sessions/" + session).then(function (s) {
      if (s.status !== status) { location.reload(); return; }
      if (typeof s.expires_in === "number" && cd) { /* server time wins */ }
      setTimeout(poll, status === "starting" ? 700 : 5000);
    }).catch(function () { setTimeout(poll, 3000); });
  }
  if (status === "starting") setMsg("Starting your lab…");
  if (status === "starting" || status === "running") poll();
  if (status === "running") open("node-1");
})();
