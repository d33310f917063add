/*
 * copy_link.js: the visitor's "Copy link" button beside the private link (chat/help_request.html).
 * Shown only where the clipboard API exists (elsewhere the link's box can still be selected and
 * copied by hand); the result is announced through the status element beside it.
 */
(function (global) {
  "use strict";

  var button = document.getElementById("copy-link");
  var status = document.getElementById("copy-link-status");
  if (!button || !status || !global.navigator.clipboard || !global.isSecureContext) return;
  var field = document.getElementById(button.dataset.copyTarget);
  button.hidden = false;
  button.addEventListener("click", function () {
    global.navigator.clipboard.writeText(field.value).then(
      function () {
        status.textContent = "Link copied. Keep it somewhere only you can see.";
      },
      function () {
        field.select();
        status.textContent = "Could not copy: the link is selected, copy it by hand.";
      }
    );
  });
})(window);
