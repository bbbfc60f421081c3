// kplab learner side of workshops, on every page: the workshop's name, the instructor's pinned
// message, the "I'm stuck" button and, once the instructor ends the workshop, an "ended"
// notice (the button goes; the page says the labs are stopped and the results kept). For
// learners who joined a workshop; it arrives live through the server-sent events of
// /api/workshops/me/events. No emoji: they show as empty boxes without an emoji font.
(function () {
  "use strict";
  if (location.pathname.indexOf("/instructor") === 0) return;
  var bar = null, hand = false;
  function el(tag, cls, id) {
    var e = document.createElement(tag); if (cls) e.className = cls; if (id) e.id = id; return e;
  }
  function show(me) {
    if (!me.workshop) return;
    var main = document.querySelector("main");
    if (!main) return;
    if (!bar) {
      var css = el("link"); css.rel = "stylesheet"; css.href = "/static/workshop.css"; document.head.appendChild(css);
      bar = el("div", "workshop-bar", "workshop-bar");
      bar.setAttribute("role", "region"); bar.setAttribute("aria-label", "Workshop");
      var text = el("div", "workshop-text");
      text.appendChild(el("span", "workshop-name", "workshop-name"));
      var pin = el("span", "pinned", "pinned"); pin.setAttribute("aria-live", "polite"); text.appendChild(pin);
      var ended = el("p", "workshop-ended", "workshop-ended"); ended.setAttribute("role", "status"); text.appendChild(ended);
      bar.appendChild(text);
      var b = el("button", "raise-hand", "raise-hand"); b.type = "button"; bar.appendChild(b);
      b.addEventListener("click", function () {
        fetch("/api/workshops/me/hand", { method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json" }, body: JSON.stringify({ raised: !hand }) })
          .then(function (r) { return r.json(); }).then(function (j) { hand = j.hand; label(); });
      });
      main.insertBefore(bar, main.firstChild);
    }
    hand = me.hand;
    var w = me.workshop;
    document.getElementById("workshop-name").textContent = w.name;
    var m = document.getElementById("pinned");
    m.textContent = w.message ? "Pinned: " + w.message : "";
    m.hidden = !w.message;
    m.classList.toggle("has-message", !!w.message);
    var ended = document.getElementById("workshop-ended");
    ended.textContent = w.ended ? "This workshop has ended. Your lab is stopped; your results are kept." : "";
    ended.hidden = !w.ended;
    bar.classList.toggle("ended", !!w.ended);
    document.body.classList.toggle("workshop-ended", !!w.ended);
    document.getElementById("raise-hand").hidden = !!w.ended;
    label();
  }
  function label() {
    var b = document.getElementById("raise-hand");
    b.textContent = hand ? "Hand raised: lower it" : "I'm stuck";
    b.setAttribute("aria-pressed", hand ? "true" : "false");
    b.classList.toggle("raised", hand);
  }
  fetch("/api/workshops/me", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (me) {
    if (!me.workshop) return;
    show(me);
    if (me.workshop.ended) return;
    var es = new EventSource("/api/workshops/me/events");
    es.addEventListener("workshop", function (e) {
      var m = JSON.parse(e.data);
      show(m);
      if (m.workshop && m.workshop.ended) es.close();
    });
  }).catch(function () {});
})();
