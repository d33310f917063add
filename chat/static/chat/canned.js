/*
 * canned.js: canned replies in the helpers' room. Typing "/" and a few letters at the start of the
 * message box lists the matching replies (arrow keys, Enter to insert, Escape to close); the list
 * under the box inserts one with a click or Enter. The reply replaces the "/..." text or goes in at
 * the cursor, to be edited: nothing is ever sent from here. Texts are inserted as text only.
 */
(function () {
  "use strict";

  var data = document.getElementById("canned-replies");
  var box = document.getElementById("chat-body");
  if (!data || !box) return;
  var replies = JSON.parse(data.textContent);
  var suggestions = document.getElementById("canned-suggestions");
  var announce = document.getElementById("canned-announce");
  var filter = document.getElementById("canned-filter");
  var shown = [];
  var active = -1;
  var SLASH = /^\/([^\n]{0,40})$/;

  function fold(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function matching(query, limit) {
    var q = fold(query.trim());
    var inTitle = [];
    var inText = [];
    replies.forEach(function (reply) {
      if (fold(reply.title).indexOf(q) !== -1) inTitle.push(reply);
      else if (fold(reply.text).indexOf(q) !== -1) inText.push(reply);
    });
    return inTitle.concat(inText).slice(0, limit);
  }

  function byId(id) {
    return replies.find(function (reply) { return reply.id === id; });
  }

  function close() {
    suggestions.hidden = true;
    suggestions.textContent = "";
    box.removeAttribute("aria-activedescendant");
    shown = [];
    active = -1;
  }

  function setActive(index) {
    active = index;
    Array.prototype.forEach.call(suggestions.children, function (option, i) {
      option.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    if (index >= 0) box.setAttribute("aria-activedescendant", "canned-option-" + shown[index].id);
    else box.removeAttribute("aria-activedescendant");
  }

  function open(query) {
    shown = matching(query, 8);
    suggestions.textContent = "";
    shown.forEach(function (reply, i) {
      var option = document.createElement("li");
      option.id = "canned-option-" + reply.id;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      var title = document.createElement("strong");
      title.textContent = reply.title;
      var preview = document.createElement("span");
      preview.className = "muted";
      preview.textContent = " " + reply.text.slice(0, 80);
      option.appendChild(title);
      option.appendChild(preview);
      option.addEventListener("mousedown", function (event) {
        event.preventDefault(); // keep the focus in the box
        insert(reply, true);
      });
      suggestions.appendChild(option);
      if (i === 0) setActive(0);
    });
    suggestions.hidden = shown.length === 0;
    announce.textContent = shown.length
      ? shown.length + (shown.length === 1 ? " reply matches" : " replies match") +
        ". Up and down arrows to choose, Enter to insert, Escape to close."
      : "No canned reply matches.";
  }

  function insert(reply, replaceAll) {
    if (replaceAll) {
      box.value = reply.text;
    } else {
      var start = box.selectionStart;
      box.value = box.value.slice(0, start) + reply.text + box.value.slice(box.selectionEnd);
    }
    close();
    box.focus();
    var end = replaceAll ? box.value.length : box.value.indexOf(reply.text) + reply.text.length;
    box.setSelectionRange(end, end);
    box.dispatchEvent(new Event("input", { bubbles: true }));
    announce.textContent = "Inserted “" + reply.title + "”. Edit it if needed, then send.";
  }

  box.setAttribute("aria-controls", "canned-suggestions");
  box.addEventListener("input", function () {
    var typed = SLASH.exec(box.value);
    if (typed) open(typed[1]);
    else if (!suggestions.hidden) close();
  });
  box.addEventListener("keydown", function (event) {
    if (suggestions.hidden || !shown.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var step = event.key === "ArrowDown" ? 1 : -1;
      setActive((active + step + shown.length) % shown.length);
      announce.textContent = shown[active].title;
    } else if (event.key === "Enter" && !event.shiftKey && active >= 0) {
      event.preventDefault();
      insert(shown[active], true);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
      announce.textContent = "Canned replies closed.";
    }
  });
  box.addEventListener("blur", function () { setTimeout(close, 150); });

  document.querySelectorAll("#canned-choices button[data-canned-id]").forEach(function (button) {
    button.addEventListener("click", function () { insert(byId(button.dataset.cannedId), false); });
  });
  if (filter) {
    filter.addEventListener("input", function () {
      var ids = matching(filter.value, replies.length).map(function (reply) { return reply.id; });
      document.querySelectorAll("#canned-choices li[data-canned-id]").forEach(function (item) {
        item.hidden = ids.indexOf(item.dataset.cannedId) === -1;
      });
    });
  }
})();
