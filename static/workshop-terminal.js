// kplab read-only terminal view for the instructor: output only. The server first sends the
// learner's terminal size ({"type":"size","cols":…,"rows":…}, again whenever the learner's
// terminal is resized) and this view draws on exactly that grid, so lines wrap where they
// wrap for the learner; a grid wider than the box scrolls sideways inside it. Input is also
// dropped by the server, so disabling it here is a convenience, not the enforcement.
(function () {
  "use strict";
  var box = document.getElementById("view-terminal");
  if (!box) return;
  var base = "/api/workshops/" + box.dataset.workshop + "/learners/" + encodeURIComponent(box.dataset.learner) + "/terminals/";
  var terms = document.getElementById("terms"), size = document.getElementById("term-size"), current = null;
  function control(term, text) {
    var m;
    try { m = JSON.parse(text); } catch (e) { return; }
    if (m.type === "size" && m.cols > 0 && m.rows > 0) {
      term.resize(m.cols, m.rows);
      box.dataset.cols = m.cols; box.dataset.rows = m.rows;
      if (size) size.textContent = m.cols + " × " + m.rows;
    } else if (m.type === "exit") {
      term.write("\r\n[the shell exited]\r\n");
    }
  }
  function open(host) {
    if (current) { current.ws.close(); current.term.dispose(); current.el.remove(); }
    document.getElementById("term-msg").style.display = "none";
    var el = document.createElement("div"); el.className = "term"; terms.appendChild(el);
    var term = new Terminal({ disableStdin: true, cursorBlink: false, convertEol: false, fontSize: 14, cols: 80, rows: 24 });
    term.open(el);
    window.kplabViewer = term; // the open view, for the browser tests and the console
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + location.host + base + host);
    ws.binaryType = "arraybuffer";
    ws.onmessage = function (e) {
      if (typeof e.data === "string") control(term, e.data); else term.write(new Uint8Array(e.data));
    };
    ws.onclose = function () { term.write("\r\n[view closed]\r\n"); };
    current = { ws: ws, term: term, el: el };
    Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (b) {
      var on = b.dataset.host === host;
      b.classList.toggle("active", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (b) {
    b.addEventListener("click", function () { open(b.dataset.host); });
  });
  window.addEventListener("load", function () { open("node-1"); });
})();
