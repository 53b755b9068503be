// Suggested articles beside the new-case form, as the customer types its subject and
// description. Each link carries the form's deflection token, so that reading it counts;
// links open in a new tab so that the form keeps what was written. Without this file the
// page still links to the suggestions page (and suggests on a form sent back with an error).
(function () {
  "use strict";
  var aside = document.getElementById("case-suggestions");
  var subject = document.getElementById("subject");
  var description = document.getElementById("description");
  if (!aside || !subject || !description || !window.fetch) { return; }
  var list = aside.querySelector("ul");
  var timer = 0;
  var asked = "";

  function show(results) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    results.forEach(function (hit) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = hit.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = hit.title;
      item.appendChild(link);
      list.appendChild(item);
    });
  }

  function ask() {
    var params = new URLSearchParams({
      subject: subject.value.slice(0, 200),
      description: description.value.slice(0, 2000),
      token: aside.getAttribute("data-token"),
      language: aside.getAttribute("data-language"),
      limit: "5"
    });
    if (!subject.value.trim() && !description.value.trim()) { show([]); return; }
    if (params.toString() === asked) { return; }
    asked = params.toString();
    fetch(aside.getAttribute("data-url") + "?" + asked, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { results: [] }; })
      .then(function (data) { show(data.results || []); })
      .catch(function () {});
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(ask, 400);
  }
  subject.addEventListener("input", later);
  description.addEventListener("input", later);
})();
