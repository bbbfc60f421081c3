// kplab lab page: terminals (xterm.js over a WebSocket), copy / run-in-terminal buttons,
// task checks and hints, the split between text and workspace, confirmations, the idle
// countdown (following the server's deadline) and status polling. No framework, no CDN.
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
        if (m.type === "exit") {
          // A lab that broke under the shell shows as lost (the server checks it when a shell
          // ends; the polls notice); after a plain `exit`, a new shell.
          t.closed = true;
          t.term.write("\r\n[the shell ended]\r\n");
          setTimeout(pollNow, 300);
          setTimeout(pollNow, 1500);
          setTimeout(function () {
            if (status === "running") { t.closed = false; connect(host, t); }
          }, 2500);
        }
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
    document.querySelectorAll(".tab").forEach(function (b) {
      b.classList.toggle("active", b.dataset.host === host);
      b.setAttribute("aria-selected", b.dataset.host === host ? "true" : "false");
    });
    current = host;
    var t = terms[host];
    if (!t) {
      var div = document.createElement("div");
      div.className = "term"; div.dataset.host = host;
      box.appendChild(div);
      var term = new Terminal({ cursorBlink: true, fontSize: 13, scrollback: 5000, rightClickSelectsWord: false });
      var fit = new FitAddon.FitAddon();
      term.loadAddon(fit);
      term.open(div);
      t = terms[host] = { term: term, fit: fit, div: div, closed: false, retry: 500 };
      term.onData(function (d) { send(t, d); activity(); });
      // Ctrl+V and Ctrl+Shift+V paste: both are left to the browser, whose paste event xterm
      // takes (as bracketed paste when the shell asks for it), instead of sending ^V (readline's
      // quoted-insert); if no paste event comes (no clipboard access), we paste from the
      // clipboard API or the page buffer. Ctrl+Shift+C copies the selection (and is not the
      // browser's inspector). Ctrl+Shift+L leaves the terminal, which otherwise keeps Tab and
      // Esc for the shell.
      term.attachCustomKeyEventHandler(function (e) {
        var k = (e.key || "").toLowerCase();
        if (e.ctrlKey && !e.shiftKey && !e.altKey && !e.metaKey && k === "v") {
          if (e.type === "keydown") {
            clearTimeout(t.pasteTimer);
            t.pasteTimer = setTimeout(function () { paste(t); }, 50);
          }
          return false;
        }
        if (!(e.ctrlKey && e.shiftKey && !e.altKey && !e.metaKey)) return true;
        if (k === "l") {
          if (e.type === "keydown") { e.preventDefault(); leaveTerminal(); }
          return false;
        }
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

  function resizeTerm() { if (current) sendSize(terms[current]); }
  window.addEventListener("resize", resizeTerm);
  if (window.ResizeObserver) new ResizeObserver(resizeTerm).observe(document.getElementById("terms"));

  function leaveTerminal() {
    var next = document.querySelector("#keys summary");
    if (next) next.focus();
  }

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

  // Tasks: Check (also Enter in the answer box), hints revealed a level at a time, results in
  // the step's ✓ and "Next step" as soon as the step's last task passes.
  function renderResult(li, r) {
    var box = li.querySelector(".result");
    var state = li.querySelector(".task-state");
    box.textContent = "";
    state.classList.remove("error");
    if (r.error) {
      var p = document.createElement("p"); p.className = "error"; p.textContent = r.error; box.appendChild(p);
      if (!li.classList.contains("passed")) { state.textContent = "error"; state.classList.add("error"); }
      return;
    }
    var ul = document.createElement("ul"); ul.className = "checks";
    (r.checks || []).forEach(function (c) {
      var item = document.createElement("li");
      item.className = c.passed ? "ok" : "fail";
      var sr = document.createElement("span"); sr.className = "sr-only"; sr.textContent = c.passed ? "passed: " : "not yet: ";
      item.appendChild(sr);
      item.appendChild(document.createTextNode(c.title + ": " + c.detail));
      ul.appendChild(item);
    });
    box.appendChild(ul);
    if (r.hint && !r.passed) {
      // hint_html is the server's sanitised rendering of the hint's markdown.
      var h = document.createElement("p"); h.className = "hint";
      var label = document.createElement("span"); label.className = "hint-label"; label.textContent = "Hint:";
      var body = document.createElement("span");
      if (r.hint_html) body.innerHTML = r.hint_html; else body.textContent = r.hint;
      h.appendChild(label); h.appendChild(document.createTextNode(" ")); h.appendChild(body);
      box.appendChild(h);
    }
    if (r.passed) { li.classList.add("passed"); li.classList.remove("failed"); }
    else if (!li.classList.contains("passed")) li.classList.add("failed");
    state.textContent = li.classList.contains("passed") ? "passed" : "not yet";
    stepProgress();
  }

  function stepProgress() {
    var all = document.querySelectorAll(".task");
    var done = all.length > 0 && Array.prototype.every.call(all, function (li) { return li.classList.contains("passed"); });
    var cur = document.querySelector(".step-link.current");
    if (done && cur && !cur.classList.contains("done")) {
      cur.classList.add("done");
      cur.querySelector(".step-mark").textContent = "✓";
    }
    var next = document.getElementById("next-step");
    if (next) next.classList.toggle("primary", done);
  }

  document.querySelectorAll(".task").forEach(function (li) {
    var form = li.querySelector("form.task-form");
    var btn = li.querySelector("button.check");
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (btn.disabled) return;
      if (!session || status !== "running") { renderResult(li, { error: "Start the lab first." }); return; }
      var input = li.querySelector("input[name=answer]");
      btn.disabled = true; btn.textContent = "Checking…";
      api("POST", "/api/sessions/" + session + "/tasks/" + li.dataset.task + "/check", input ? { answer: input.value } : {})
        .then(function (r) { renderResult(li, r); })
        .catch(function (e) { renderResult(li, { error: "The check could not run: " + e.message }); })
        .then(function () { btn.disabled = false; btn.textContent = "Check"; activity(); });
    });
    var hint = li.querySelector("button.hint-button");
    if (hint) hint.addEventListener("click", function () {
      var hidden = li.querySelectorAll(".hint.level[hidden]");
      if (hidden.length) hidden[0].hidden = false;
      hint.setAttribute("aria-expanded", "true");
      if (hidden.length <= 1) { hint.disabled = true; hint.textContent = "All hints shown"; }
      else hint.textContent = "Next hint";
    });
  });

  // Destructive forms ask first, in a dialog (Esc or Cancel keeps everything as it is).
  var dialog = document.getElementById("confirm");
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (f.dataset.confirmed === "yes" || !dialog || !dialog.showModal) return;
      e.preventDefault();
      document.getElementById("confirm-text").textContent = f.dataset.confirm;
      dialog.returnValue = "";
      dialog.onclose = function () {
        if (dialog.returnValue === "ok") { f.dataset.confirmed = "yes"; f.submit(); }
      };
      dialog.showModal();
      document.getElementById("confirm-cancel").focus();
    });
  });

  // The split between text and workspace: drag, or arrow keys on the splitter; remembered.
  var splitter = document.getElementById("splitter");
  function setSplit(pct) {
    pct = Math.max(20, Math.min(80, Math.round(pct)));
    lab.style.setProperty("--text", pct + "%");
    splitter.setAttribute("aria-valuenow", pct);
    try { localStorage.setItem("kplab.split", String(pct)); } catch (e) { /* private mode */ }
    resizeTerm();
  }
  if (splitter) {
    var saved = parseInt((function () { try { return localStorage.getItem("kplab.split"); } catch (e) { return null; } })(), 10);
    if (saved >= 20 && saved <= 80) { lab.style.setProperty("--text", saved + "%"); splitter.setAttribute("aria-valuenow", saved); }
    splitter.addEventListener("pointerdown", function (e) {
      e.preventDefault();
      splitter.setPointerCapture(e.pointerId);
      splitter.classList.add("dragging");
      var box = lab.getBoundingClientRect();
      var move = function (ev) { setSplit((ev.clientX - box.left) / box.width * 100); };
      var up = function () {
        splitter.classList.remove("dragging");
        splitter.removeEventListener("pointermove", move);
        splitter.removeEventListener("pointerup", up);
      };
      splitter.addEventListener("pointermove", move);
      splitter.addEventListener("pointerup", up);
    });
    splitter.addEventListener("keydown", function (e) {
      var now = parseInt(splitter.getAttribute("aria-valuenow"), 10) || 36;
      if (e.key === "ArrowLeft") { setSplit(now - 2); e.preventDefault(); }
      if (e.key === "ArrowRight") { setSplit(now + 2); e.preventDefault(); }
    });
  }

  var full = document.getElementById("fullscreen");
  if (full) full.addEventListener("click", function () {
    var on = lab.classList.toggle("full");
    full.setAttribute("aria-pressed", on ? "true" : "false");
    full.textContent = on ? "Exit full screen" : "Full screen";
    setTimeout(resizeTerm, 0);
  });

  // The idle countdown, as mm:ss. The server's deadline wins: every status poll re-reads it,
  // and terminal input (which moves the deadline on the server) brings the next poll forward.
  var cd = document.getElementById("countdown");
  var deadline = lab.dataset.expiresIn ? Date.now() + parseInt(lab.dataset.expiresIn, 10) * 1000 : null;
  function mmss(s) { return Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2); }
  function tick() {
    if (!cd || deadline === null) return;
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    cd.textContent = mmss(left);
    cd.parentNode.classList.toggle("warn", left < 120);
    if (left === 0) pollNow(); // the sweep stops the lab shortly after; the poll notices
  }
  if (cd && deadline !== null) { tick(); setInterval(tick, 1000); }

  // Status: wait for a starting lab; notice a lab lost or stopped from outside.
  var pollTimer = null, lastPoll = 0, active = false;
  function poll() {
    if (!session) return;
    clearTimeout(pollTimer);
    lastPoll = Date.now(); active = false;
    api("GET", "/api/sessions/" + session).then(function (s) {
      if (s.status !== status) { location.reload(); return; }
      if (typeof s.expires_in === "number") { deadline = Date.now() + s.expires_in * 1000; tick(); }
      pollTimer = setTimeout(poll, status === "starting" ? 700 : 5000);
    }).catch(function () { pollTimer = setTimeout(poll, 3000); });
  }
  function pollNow() { if (status === "running") poll(); }
  // Input extends the deadline on the server: re-read it soon (at most every 2 s).
  function activity() {
    if (active || status !== "running") return;
    active = true;
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, Math.max(0, 2000 - (Date.now() - lastPoll)));
  }
  if (status === "starting") setMsg("Starting your lab…");
  if (status === "starting" || status === "running") poll();
  if (status === "running") open("node-1");
})();
