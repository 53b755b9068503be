// The order page follows its order: it asks /api/v1/orders/<number> (the portal session
// and the page's CSRF token) every few seconds and shows the new status and tracking
// number, until the order is delivered or cancelled. Without JavaScript the page
// reloads itself (a <noscript> refresh) or by hand.
(function () {
  "use strict";
  var box = document.getElementById("order-progress");
  if (!box) { return; }
  var token = document.querySelector("input[name=csrf_token]");
  var FINAL = { delivered: true, cancelled: true };
  var EVERY_MS = 4000;

  function show(order) {
    var status = order.status;
    var badge = document.getElementById("order-status");
    badge.textContent = box.getAttribute("data-label-" + status) || status;
    badge.className = "status status-" + status;
    box.setAttribute("data-status", status);
    var reached = {};
    order.events.forEach(function (event) { reached[event.status] = true; });
    box.querySelectorAll("[data-step]").forEach(function (step) {
      step.classList.toggle("done", Boolean(reached[step.getAttribute("data-step")]));
    });
    if (order.tracking_number) {
      document.getElementById("order-tracking-number").textContent = order.tracking_number;
      document.getElementById("order-tracking").hidden = false;
    }
  }

  function poll() {
    if (FINAL[box.getAttribute("data-status")]) { return; }
    fetch(box.getAttribute("data-url"), {
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": token ? token.value : "" }
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (order) {
      if (order) { show(order); }
      window.setTimeout(poll, EVERY_MS);
    }).catch(function () {
      window.setTimeout(poll, EVERY_MS * 4);
    });
  }

  window.setTimeout(poll, EVERY_MS);
}());
