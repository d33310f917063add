// "My shifts": when a shift changes, fetch this page again and swap the list in (text from the
// server's template). A file, not an inline script, so the Content-Security-Policy can forbid those.
document.addEventListener("charity:notification", function (event) {
  if (event.detail.kind !== "shift.changed") return;
  fetch(window.location.href, { credentials: "same-origin" })
    .then(function (response) { return response.text(); })
    .then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("shift-list");
      document.getElementById("shift-list").replaceWith(fresh);
      document.getElementById("shift-updated").hidden = false;
    });
});
