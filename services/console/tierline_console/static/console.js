// Countdowns: every element with data-due shows the time left (or overdue), each second.
// The text is aria-hidden; screen readers get the fixed due time beside it instead.
(function () {
  "use strict";
  function fmt(s) {
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h > 0) return h + "h " + String(m).padStart(2, "0") + "m";
    if (m > 0) return m + "m " + String(r).padStart(2, "0") + "s";
    return r + "s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      var s = Math.round((due - now) / 1000);
      el.textContent = s < 0 ? "overdue " + fmt(-s) : fmt(s);
      el.classList.toggle("late", s < 0);
      el.classList.toggle("soon", s >= 0 && s < 900);
    });
  }
  document.addEventListener("DOMContentLoaded", tick);
  document.addEventListener("htmx:afterSwap", tick);
  document.addEventListener("htmx:sseMessage", tick);
  setInterval(tick, 1000);
})();
