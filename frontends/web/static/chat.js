// Live updates of a chat page: server-sent events where the browser has them, else
// polling every two seconds; sending without reloading; a typing indicator. The page
// works without this file (forms and a refresh link).
(function () {
  "use strict";
  var root = document.getElementById("chat");
  if (!root) { return; }
  var log = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var typingNote = document.getElementById("chat-typing");
  var token = form ? form.querySelector("input[name=csrf_token]").value : "";
  var last = 0;
  Array.prototype.forEach.call(log.children, function (item) {
    last = Math.max(last, Number(item.getAttribute("data-id")) || 0);
  });

  function add(message) {
    if (message.id <= last) { return; }
    last = message.id;
    var item = document.createElement("li");
    item.className = "chat-" + message.author;
    item.setAttribute("data-id", String(message.id));
    var who = document.createElement("span");
    who.className = "chat-who";
    who.textContent = message.author === "system" ? "postroom" : (message.name || message.author);
    var body = document.createElement("span");
    body.className = "chat-body";
    if (message.author === "system") {
      body.textContent = (message.name ? message.name + " · " : "") + message.body;
    } else {
      // text, with the help centre's article paths as links (never HTML from the server)
      message.body.split(/(\/help\/articles\/[a-z0-9-]+)/).forEach(function (part, i) {
        if (i % 2 === 1) {
          var link = document.createElement("a");
          link.href = part;
          link.textContent = part;
          body.appendChild(link);
        } else {
          body.appendChild(document.createTextNode(part));
        }
      });
    }
    item.appendChild(who);
    item.appendChild(body);
    log.appendChild(item);
  }

  function apply(data) {
    data.messages.forEach(add);
    if (typingNote) { typingNote.hidden = !data.state.agent_typing; }
    // a new status (an agent joined, the chat closed) redraws the page's state and forms
    if (data.state.status !== root.getAttribute("data-status")) { window.location.reload(); }
  }

  function poll() {
    fetch(root.getAttribute("data-messages") + "?after=" + last, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(apply)
      .catch(function () {})
      .then(function () { window.setTimeout(poll, 2000); });
  }

  function listen() {
    var url = root.getAttribute("data-events");
    if (root.getAttribute("data-status") === "closed") { return; }
    if (!url || !window.EventSource) { poll(); return; }
    var source = new EventSource(url + "?after=" + last);
    source.onmessage = function (event) { apply(JSON.parse(event.data)); };
    source.onerror = function () {
      // The server ends each response after one event or a short wait, and the browser
      // reconnects by itself with the last event's id. Closed for good: the server
      // refused the stream (or the chat ended): plain polling takes over.
      if (source.readyState === EventSource.CLOSED) { poll(); }
    };
  }

  if (form) {
    var input = form.querySelector("input[name=message]");
    var lastTyping = 0;
    input.addEventListener("input", function () {
      var now = Date.now();
      if (now - lastTyping < 4000) { return; }
      lastTyping = now;
      var body = new FormData();
      body.append("csrf_token", token);
      fetch(root.getAttribute("data-typing"), { method: "POST", body: body, credentials: "same-origin" });
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = new FormData(form);
      fetch(form.action, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { Accept: "application/json" }
      }).then(function (r) {
        if (!r.ok) { form.submit(); return; }
        input.value = "";
        if (!root.getAttribute("data-events")) { return; }
      });
    });
  }
  listen();
})();
