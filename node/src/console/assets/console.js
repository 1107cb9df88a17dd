// riskmesh console: the feed's live rows (server-sent events) and keyboard
// help. No inline script anywhere: the Content-Security-Policy forbids it.
"use strict";
(function () {
  var rows = document.getElementById("feed-rows");
  if (rows && window.EventSource) {
    var source = new EventSource(rows.getAttribute("data-events"));
    var live = document.getElementById("live");
    source.addEventListener("entry", function (event) {
      var template = document.createElement("template");
      template.innerHTML = event.data; // rendered and escaped by the node
      var row = template.content.firstElementChild;
      if (!row || document.querySelector('tr[data-id="' + row.getAttribute("data-id") + '"]')) return;
      row.classList.add("new");
      rows.insertBefore(row, rows.firstChild);
      if (live) live.textContent = "New entry from " + row.children[3].textContent + ".";
    });
    source.addEventListener("reload", function () { window.location.reload(); });
  }
  var help = document.getElementById("help");
  var current = -1;
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "?") { help.hidden = !help.hidden; event.preventDefault(); }
    else if (event.key === "/") {
      var search = document.getElementById("f-q");
      if (search) { search.focus(); event.preventDefault(); }
    } else if ((event.key === "j" || event.key === "k") && rows) {
      var links = rows.querySelectorAll("a");
      if (!links.length) return;
      current = Math.max(0, Math.min(links.length - 1, current + (event.key === "j" ? 1 : -1)));
      links[current].focus();
      event.preventDefault();
    } else if (event.key === "Escape" && help) { help.hidden = true; }
  });
})();
