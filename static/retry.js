// The error page's countdown (503 full, 429 too many starts): counts down the seconds the
// server asked to wait, then goes back to the page the learner came from.
(function () {
  var el = document.getElementById("retry");
  if (!el) return;
  var n = parseInt(el.dataset.secs, 10);
  setInterval(function () { n -= 1; if (n <= 0) { history.back(); } else { el.textContent = n; } }, 1000);
})();
