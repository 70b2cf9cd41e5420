// Progressive enhancement only: every page works without this script.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Move focus to the error summary so a screen reader announces it.
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
    // "Print this report" buttons.
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
    // Open the trace before printing so the printed report includes it.
    window.addEventListener("beforeprint", function () {
      document.querySelectorAll("details.trace").forEach(function (d) { d.open = true; });
    });
    // Select the shareable link on focus, for copying.
    var share = document.getElementById("share-link");
    if (share) { share.addEventListener("focus", function () { share.select(); }); }
  });
})();
