/*
 * The control room on the admin index: renders the dashboard snapshot and keeps it live through the
 * staff member's notification socket (topic "dashboard"). In fallback mode (no WebSocket) it polls
 * /api/dashboard/ instead. Everything is inserted as text.
 */
(function () {
  "use strict";

  var LABELS = [
    ["waiting", "Waiting help requests"],
    ["urgent_waiting", "Urgent and waiting"],
    ["oldest_wait_seconds", "Oldest wait"],
    ["longest_unanswered_seconds", "Longest unanswered visitor"],
    ["assigned_today", "Assigned today"],
    ["resolved_today", "Resolved today"],
    ["donations_today", "Donations today"],
    ["donations_today_amount", "Donated today (GBP)"],
    ["volunteers_online", "Volunteers online"],
    ["helpers_on_duty", "Helpers on duty (queue open)"],
    ["wait_estimate", "Wait told to visitors"],
    ["connections", "Open connections"],
    ["notifications_last_hour", "Notifications, last hour"],
    ["undelivered", "Undelivered notifications"],
    ["helpers_at_capacity", "Helpers at their limit"],
    ["feedback_week_average", "Visitors' rating, last 7 days (of 5)"],
    ["feedback_week_count", "Ratings, last 7 days"],
  ];

  function text(tag, value, className) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (className) node.className = className;
    return node;
  }

  function duration(seconds) {
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min";
    return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
  }

  function render(snapshot) {
    var figures = document.getElementById("cr-figures");
    figures.textContent = "";
    LABELS.forEach(function (pair) {
      var value = snapshot.metrics[pair[0]];
      var box = text("div", "", "figure");
      box.dataset.metric = pair[0];
      var shown = /_seconds$/.test(pair[0]) ? duration(value) : value === null || value === "" ? "none" : String(value);
      box.appendChild(text("span", shown, "value"));
      box.appendChild(text("span", pair[1]));
      figures.appendChild(box);
    });
    var roles = snapshot.metrics.connections_by_role || {};
    var byRole = text("div", "", "figure");
    byRole.dataset.metric = "connections_by_role";
    byRole.appendChild(text("span", Object.keys(roles).map(function (r) { return r + " " + roles[r]; }).join(", ") || "none", "value"));
    byRole.appendChild(text("span", "Connections by role"));
    figures.appendChild(byRole);

    var comments = document.getElementById("cr-feedback");
    comments.textContent = "";
    ((snapshot.feedback || {}).comments || []).forEach(function (item) {
      comments.appendChild(text("li", item.rating + "/5: " + item.comment));
    });
    if (!comments.childNodes.length) comments.appendChild(text("li", "No comments this week."));
    renderConversations(snapshot.conversations || []);

    var activity = document.getElementById("cr-activity");
    activity.textContent = "";
    snapshot.activity.forEach(function (item) {
      var line = text("li", item.text);
      line.dataset.kind = item.kind;
      activity.appendChild(line);
    });
    if (!snapshot.activity.length) activity.appendChild(text("li", "Nothing yet today."));

    var online = document.getElementById("cr-online");
    online.textContent = "";
    snapshot.online.forEach(function (person) {
      var since = new Date(person.since);
      var line = text("li", person.username + " (" + person.role + ") since " + since.toLocaleTimeString());
      line.dataset.user = person.username;
      online.appendChild(line);
    });
    if (!snapshot.online.length) online.appendChild(text("li", "Nobody."));
    document.getElementById("control-room").dataset.generatedAt = snapshot.generated_at;
  }

  function link(href, label) {
    var a = text("a", label);
    a.href = href;
    return a;
  }

  // Every waiting and assigned request; "Watch" opens it read-only and invisible to the visitor.
  function renderConversations(rows) {
    var body = document.querySelector("#cr-conversations tbody");
    body.textContent = "";
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.dataset.publicId = row.public_id;
      tr.appendChild(text("td", row.name));
      tr.appendChild(text("td", row.urgent ? row.status + " · URGENT" : row.status));
      tr.appendChild(text("td", row.assigned_to ? row.assigned_to.name : "nobody yet"));
      tr.appendChild(text("td", row.since_visitor === null ? "never" : duration(row.since_visitor) + " ago"));
      tr.appendChild(text("td", row.since_helper === null ? "no reply yet" : duration(row.since_helper) + " ago"));
      var actions = text("td", "");
      var watch = link(row.watch_url, "Watch");
      watch.setAttribute("aria-label", "Watch the conversation with " + row.name);
      actions.appendChild(watch);
      actions.appendChild(document.createTextNode(" · "));
      var open = link(row.url, "Open");
      open.setAttribute("aria-label", "Open the conversation with " + row.name);
      actions.appendChild(open);
      tr.appendChild(actions);
      body.appendChild(tr);
    });
    if (!rows.length) {
      var empty = document.createElement("tr");
      var cell = text("td", "No live conversations.");
      cell.colSpan = 6;
      empty.appendChild(cell);
      body.appendChild(empty);
    }
  }

  var poller = null;
  function poll() {
    fetch("/api/dashboard/", { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(render)
      .catch(function () {});
  }

  render(JSON.parse(document.getElementById("cr-initial").textContent));
  var status = document.getElementById("cr-status");
  new window.CharityRealtime.NotificationStream({
    topics: ["dashboard"],
    acknowledge: false,
    storageKey: "charity.notifications.admin",
    onState: function (state, detail) {
      status.dataset.state = state;
      status.textContent = state === "fallback" ? "live (polling)" : state;
      if (state === "fallback" && !poller) poller = setInterval(poll, 5000);
    },
    onOther: function (frame) {
      if (frame.type === "dashboard") render(frame.snapshot);
    },
  }).start();
})();
