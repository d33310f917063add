/*
 * queue.js: the volunteers' and staff's live queue (/ws/help-requests/queue/), on realtime.js's
 * Connection (reconnects with backoff, heartbeat). A snapshot of the first page on connect, then one
 * item per change. It keeps the head of the queue: at most `limit` waiting items (the server sends
 * the one that moves onto the page when another leaves it) and `limit` rows in all; a reconnect
 * resyncs. Only the first page is live. Text goes in with textContent. The same socket carries the
 * helper's desk ("My conversations"), which desk.js shows.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("queue-config").textContent);
  var items = new Map();
  var limit = 50;
  // The helper's own count and cap (a `capacity` frame): at the cap every Take is disabled, and
  // the reason is written out (not shown by colour alone).
  var capacity = null;

  function showCapacity() {
    var note = document.getElementById("queue-capacity");
    if (capacity === null) return;
    note.dataset.atCapacity = capacity.at_capacity ? "true" : "false";
    note.textContent = capacity.at_capacity
      ? "Take is off: " + capacity.reason
      : "You have " + capacity.active + " of " + capacity.limit + " active conversations.";
    document.querySelectorAll("#queue-rows button.take").forEach(function (button) {
      button.disabled = capacity.at_capacity;
      if (capacity.at_capacity) button.setAttribute("aria-describedby", "queue-capacity");
      else button.removeAttribute("aria-describedby");
    });
  }

  function held(status) {
    var count = 0;
    items.forEach(function (item) { if (status === undefined || item.status === status) count += 1; });
    return count;
  }

  // A change to a request this page does not show yet: only if it belongs on the first page.
  function fits(item) {
    if (item.status === "waiting") return held("waiting") < limit;
    return held() < limit;
  }

  function showCount(waiting) {
    if (typeof waiting === "number") document.getElementById("queue-waiting").textContent = String(waiting);
  }

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    return td;
  }

  // The name, and for an urgent request the word "Urgent" and why (never colour alone).
  function urgentCell(item) {
    var td = cell(item.name);
    if (item.urgent) {
      var flag = document.createElement("strong");
      flag.className = "urgent-flag";
      flag.textContent = "Urgent";
      td.prepend(flag, " ");
      if (item.urgent_reason) td.append(" (" + item.urgent_reason + ")");
    }
    return td;
  }

  function render() {
    var all = Array.from(items.values());
    var waiting = all
      .filter(function (item) { return item.status === "waiting"; })
      // The server's order (chat.selectors.QUEUE_ORDER): urgent first, then the oldest.
      .sort(function (a, b) {
        return (b.urgent ? 1 : 0) - (a.urgent ? 1 : 0) ||
          a.queued_at.localeCompare(b.queued_at) || a.created_at.localeCompare(b.created_at);
      });
    var assigned = all.filter(function (item) { return item.status === "assigned"; });
    var rows = waiting.concat(assigned).slice(0, limit).map(function (item) {
      var tr = document.createElement("tr");
      tr.dataset.publicId = item.public_id;
      tr.dataset.status = item.status;
      tr.dataset.urgent = item.urgent ? "true" : "false";
      var long = item.description_truncated || item.description.length > 120;
      var description = long ? item.description.slice(0, 119) + "…" : item.description;
      var position = item.status === "waiting" ? waiting.indexOf(item) + 1 : "";
      tr.append(
        cell(position),
        urgentCell(item),
        cell(item.category),
        cell(description),
        cell(
          item.status +
            (item.assigned_to ? " (" + item.assigned_to.name + ")" : "") +
            (item.left_offline ? " · message left while nobody was on duty" : "")
        )
      );
      var action = document.createElement("td");
      if (item.status === "waiting") {
        var form = document.getElementById("claim-template").cloneNode(true);
        form.removeAttribute("id");
        form.hidden = false;
        form.action = item.url + "claim/";
        action.append(form);
      }
      if (config.is_staff || item.status === "assigned") {
        var link = document.createElement("a");
        link.href = item.url;
        link.textContent = "Open";
        action.append(link);
      }
      tr.append(action);
      return tr;
    });
    if (!rows.length) {
      var empty = document.createElement("tr");
      var td = cell("Nobody is waiting.");
      td.colSpan = 6;
      empty.append(td);
      rows.push(empty);
    }
    document.getElementById("queue-rows").replaceChildren.apply(document.getElementById("queue-rows"), rows);
    showCapacity();
  }

  if (!config.live) {
    window.CharitySite.showState(document.getElementById("queue-connection"), "stopped", {
      reason: "Only the first page updates live.",
    });
    return;
  }

  new window.CharityRealtime.Connection({
    wsPath: function () { return config.ws_path; },
    onState: function (state, detail) {
      window.CharitySite.showState(document.getElementById("queue-connection"), state, detail);
    },
    onFrame: function (frame) {
      // The helper's own conversations come on the same socket (desk.js).
      if (window.CharityDesk && window.CharityDesk.onFrame(frame)) return;
      if (frame.type === "queue") {
        items.clear();
        limit = frame.limit;
        frame.help_requests.forEach(function (item) { items.set(item.public_id, item); });
        capacity = frame.capacity;
      } else if (frame.type === "queue.item") {
        var item = frame.help_request;
        if (item.status !== "waiting" && item.status !== "assigned") items.delete(item.public_id);
        else if (items.has(item.public_id) || fits(item)) items.set(item.public_id, item);
      } else if (frame.type === "queue.removed") {
        items.delete(frame.public_id);
      } else if (frame.type === "capacity") {
        capacity = frame;
        showCapacity();
        return;
      } else {
        return;
      }
      showCount(frame.waiting);
      render();
    },
  }).start();
})();
