/*
 * queue.js: the volunteers' and staff's live queue (/ws/help-requests/queue/), on realtime.js's
 * Connection (reconnects with backoff, heartbeat). A snapshot on connect, then one item per change.
 * Text goes in with textContent.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("queue-config").textContent);
  var items = new Map();

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    return td;
  }

  function render() {
    var all = Array.from(items.values());
    var waiting = all
      .filter(function (item) { return item.status === "waiting"; })
      .sort(function (a, b) { return a.created_at.localeCompare(b.created_at); });
    var assigned = all.filter(function (item) { return item.status === "assigned"; });
    var rows = waiting.concat(assigned).map(function (item) {
      var tr = document.createElement("tr");
      tr.dataset.publicId = item.public_id;
      tr.dataset.status = item.status;
      var description = item.description.length > 120 ? item.description.slice(0, 119) + "…" : item.description;
      var position = item.status === "waiting" ? waiting.indexOf(item) + 1 : "";
      tr.append(
        cell(position),
        cell(item.name),
        cell(item.category),
        cell(description),
        cell(item.status + (item.assigned_to ? " (" + item.assigned_to.name + ")" : ""))
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
  }

  new window.CharityRealtime.Connection({
    wsPath: function () { return config.ws_path; },
    onState: function (state, detail) {
      window.CharitySite.showState(document.getElementById("queue-connection"), state, detail);
    },
    onFrame: function (frame) {
      if (frame.type === "queue") {
        items.clear();
        frame.help_requests.forEach(function (item) { items.set(item.public_id, item); });
      } else if (frame.type === "queue.item") {
        var item = frame.help_request;
        if (item.status === "waiting" || item.status === "assigned") items.set(item.public_id, item);
        else items.delete(item.public_id);
      } else if (frame.type === "queue.removed") {
        items.delete(frame.public_id);
      } else {
        return;
      }
      render();
    },
  }).start();
})();
