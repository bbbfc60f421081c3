// kplab read-only terminal view for the instructor: output only. The input is also dropped
// by the server, so this is a convenience, not the enforcement.
(function () {
  "use strict";
  var box = document.getElementById("view-terminal");
  if (!box) return;
  var base = "/api/workshops/" + box.dataset.workshop + "/learners/" + encodeURIComponent(box.dataset.learner) + "/terminals/";
  var terms = document.getElementById("terms"), current = null;
  function open(host) {
    if (current) { current.ws.close(); current.term.dispose(); current.el.remove(); }
    document.getElementById("term-msg").style.display = "none";
    var el = document.createElement("div"); el.className = "term"; terms.appendChild(el);
    var term = new Terminal({ disableStdin: true, cursorBlink: false, convertEol: false, fontSize: 14 });
    var fit = new FitAddon.FitAddon(); term.loadAddon(fit); term.open(el); fit.fit();
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + location.host + base + host);
    ws.binaryType = "arraybuffer";
    ws.onmessage = function (e) { if (typeof e.data !== "string") term.write(new Uint8Array(e.data)); };
    ws.onclose = function () { term.write("\r\n[view closed]\r\n"); };
    current = { ws: ws, term: term, el: el };
    Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (b) { b.classList.toggle("active", b.dataset.host === host); });
  }
  Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (b) {
    b.addEventListener("click", function () { open(b.dataset.host); });
  });
  window.addEventListener("load", function () { open("node-1"); });
})();
