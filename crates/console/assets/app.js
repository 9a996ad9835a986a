// Countersign console: keeps the approvals inbox current without a reload.
// Served from the binary as a file (the CSP allows no inline script). It
// swaps in HTML the server rendered and escaped; it never builds markup.
"use strict";
(function () {
  var box = document.getElementById("inbox");
  if (!box) return;
  var url = box.getAttribute("data-live");
  var last = null;
  var busy = false;
  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { window.location.assign("/ui/login?next=%2Fui%2Fapprovals"); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== last) {
          // Do not yank the list from under someone reading an open detail.
          if (box.querySelector("details[open]") && last !== null && box.contains(document.activeElement)) return;
          last = html;
          box.innerHTML = html;
        }
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  last = null;
  setInterval(refresh, 2000);
  document.addEventListener("visibilitychange", refresh);
})();
