// The workshop waiting page (/w): polls the learner's workshop state and moves on to the lab
// page once the learner's lab has started; if the workshop ends meanwhile, says so and stops.
(function () {
  var box = document.getElementById("workshop-wait");
  if (!box || box.dataset.status === "ended") return;
  function poll() {
    fetch("/api/workshops/me", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (me) {
      if (me.workshop && me.workshop.ended) {
        box.dataset.status = "ended";
        var q = box.querySelector(".queue");
        if (q) q.textContent = "This workshop has ended. Your results are kept.";
        return;
      }
      if (me.session) { location.href = "/labs/" + me.lab; return; }
      var p = document.getElementById("position");
      if (p) p.textContent = me.position ? "#" + me.position : "";
      setTimeout(poll, 2000);
    }).catch(function () { setTimeout(poll, 4000); });
  }
  setTimeout(poll, 1000);
})();
