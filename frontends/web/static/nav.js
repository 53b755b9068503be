// The main menu works without this file (each group is a <details>); with it, opening
// one group closes the others, and Escape or a click elsewhere closes the open one.
(function () {
  "use strict";
  var groups = document.querySelectorAll(".main-nav details");
  function closeAll(except) {
    groups.forEach(function (group) {
      if (group !== except) { group.open = false; }
    });
  }
  groups.forEach(function (group) {
    group.addEventListener("toggle", function () {
      if (group.open) { closeAll(group); }
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    groups.forEach(function (group) {
      if (group.open) {
        group.open = false;
        group.querySelector("summary").focus();
      }
    });
  });
  document.addEventListener("click", function (event) {
    if (!event.target.closest(".main-nav details")) { closeAll(null); }
  });
})();
