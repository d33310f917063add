/*
 * desk.js: "My conversations" on the helper's queue page, fed by the queue socket (queue.js hands it
 * the desk frames): each conversation assigned to this helper, with its unread count, live. While the
 * tab is hidden, a visitor's message plays a short sound and, if the helper allowed it, shows a
 * desktop notification (no message text: screens are seen by others). The tab's title counts unread
 * messages. Text goes in with textContent.
 */
(function () {
  "use strict";

  var list = document.getElementById("desk-rooms");
  if (!list) return;
  var rooms = new Map(); // public_id → {item, unread: Set of ids}
  var baseTitle = document.title;
  var alertsButton = document.getElementById("desk-alerts");
  var alertsOn = false;
  var audio = null;

  function el(tag, text) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function countText(count) {
    if (!count) return "no unread messages";
    var shown = count > 99 ? "99+" : String(count);
    return shown + (count === 1 ? " unread message" : " unread messages");
  }

  function render() {
    var total = 0;
    var items = Array.from(rooms.values()).map(function (room) {
      var count = room.unread.size;
      total += count;
      var li = el("li");
      li.dataset.publicId = room.item.public_id;
      li.dataset.unread = String(count);
      var link = el("a", room.item.name);
      link.href = room.item.url;
      li.append(link, el("span", " (" + room.item.category + "): "));
      var badge = el("span", countText(count));
      badge.className = "desk-unread" + (count ? " has-unread" : "");
      li.append(badge);
      return li;
    });
    if (!items.length) items.push(el("li", "No conversations assigned to you."));
    list.replaceChildren.apply(list, items);
    document.title = (total ? "(" + (total > 99 ? "99+" : total) + ") " : "") + baseTitle;
  }

  function beep() {
    if (!audio) return;
    var oscillator = audio.createOscillator();
    var gain = audio.createGain();
    oscillator.frequency.value = 660;
    gain.gain.value = 0.08;
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.15);
  }

  function alert(room, frame) {
    if (!alertsOn || document.visibilityState === "visible") return;
    beep();
    if (window.Notification && Notification.permission === "granted") {
      var note = new Notification("New message in a help request", {
        body: "From " + frame.author.name,
        tag: frame.public_id,
      });
      note.onclick = function () {
        window.focus();
        window.location.href = room.item.url;
      };
    }
  }

  function onFrame(frame) {
    if (frame.type === "desk") {
      var fresh = new Map();
      frame.help_requests.forEach(function (item) {
        fresh.set(item.public_id, { item: item, unread: new Set(item.unread_ids) });
      });
      rooms = fresh;
    } else if (frame.type === "desk.message") {
      var room = rooms.get(frame.public_id);
      if (!room || room.unread.has(frame.id)) return true;
      room.unread.add(frame.id);
      if (frame.author.kind !== "system") alert(room, frame);
    } else if (frame.type === "desk.read") {
      var read = rooms.get(frame.public_id);
      if (!read) return true;
      read.unread.forEach(function (id) { if (id <= frame.up_to) read.unread.delete(id); });
    } else {
      return false;
    }
    render();
    return true;
  }

  if (alertsButton) {
    alertsButton.hidden = false;
    alertsButton.addEventListener("click", function () {
      alertsOn = !alertsOn;
      alertsButton.setAttribute("aria-pressed", alertsOn ? "true" : "false");
      alertsButton.textContent = alertsOn ? "Alerts on (sound and desktop)" : "Turn on alerts";
      var status = document.getElementById("desk-alerts-status");
      if (alertsOn) {
        var Context = window.AudioContext || window.webkitAudioContext;
        if (Context && !audio) audio = new Context();
        if (audio) audio.resume();
        if (window.Notification && Notification.permission === "default") {
          Notification.requestPermission().then(function (answer) {
            status.textContent = answer === "granted"
              ? "You will hear a sound and see a desktop notification when a visitor writes while this tab is hidden."
              : "Desktop notifications are blocked in this browser; you will hear a sound only.";
          });
        } else {
          status.textContent = window.Notification && Notification.permission === "granted"
            ? "You will hear a sound and see a desktop notification when a visitor writes while this tab is hidden."
            : "You will hear a sound when a visitor writes while this tab is hidden.";
        }
      } else {
        status.textContent = "Alerts are off.";
      }
    });
  }

  window.CharityDesk = { onFrame: onFrame };
})();
