// kplab learner side of workshops, on every page: the instructor's pinned message and the
// "I'm stuck" button, for learners who joined a workshop. The message arrives live through
// the server-sent events of /api/workshops/me/events.
(function () {
  "use strict";
  if (location.pathname.indexOf("/instructor") === 0) return;
  var bar = null, hand = false;
  function show(me) {
    if (!me.workshop) return;
    var main = document.querySelector("main");
    if (!bar) {
      var css = document.createElement("link"); css.rel = "stylesheet"; css.href = "/static/workshop.css"; document.head.appendChild(css);
      bar = document.createElement("div"); bar.className = "workshop-bar"; bar.id = "workshop-bar";
      var msg = document.createElement("span"); msg.className = "pinned"; msg.id = "pinned"; bar.appendChild(msg);
      var b = document.createElement("button"); b.type = "button"; b.id = "raise-hand"; bar.appendChild(b);
      b.addEventListener("click", function () {
        fetch("/api/workshops/me/hand", { method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json" }, body: JSON.stringify({ raised: !hand }) })
          .then(function (r) { return r.json(); }).then(function (j) { hand = j.hand; label(); });
      });
      main.insertBefore(bar, main.firstChild);
    }
    hand = me.hand;
    var m = document.getElementById("pinned");
    m.textContent = me.workshop.message ? "📌 " + me.workshop.message : me.workshop.name + (me.workshop.ended ? " (ended)" : "");
    m.classList.toggle("has-message", !!me.workshop.message);
    label();
  }
  function label() {
    var b = document.getElementById("raise-hand");
    b.textContent = hand ? "✋ Hand raised (lower)" : "I'm stuck";
    b.classList.toggle("raised", hand);
  }
  fetch("/api/workshops/me", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (me) {
    if (!me.workshop) return;
    show(me);
    var es = new EventSource("/api/workshops/me/events");
    es.addEventListener("workshop", function (e) { show(JSON.parse(e.data)); });
  }).catch(function () {});
})();
