/*
 * chat.js: one help request's conversation on the visitor's page and the helpers' room page.
 * Built on realtime.js's ChatRoom: reconnects by itself, resumes with ?after=, queues what is typed
 * while disconnected (shown as "sending…" until the server echoes it), falls back to SSE + POST.
 * Everything from the server is inserted with textContent, never as HTML.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("chat-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var log = $("chat-log");
  var typingTimer = null;
  var readUpTo = {}; // participant name → highest message id they read
  var waiting = window.CharityWaiting; // the visitor's waiting room (waiting.js), absent in helpers' rooms

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function label(author) {
    return author.kind === "visitor" || author.kind === "system" ? author.name : author.name + " (" + author.kind + ")";
  }

  function time(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function insertById(item, id) {
    var after = Array.prototype.find.call(log.querySelectorAll("li[data-id]"), function (li) {
      return Number(li.dataset.id) > id;
    });
    log.insertBefore(item, after || log.querySelector("li.pending"));
  }

  function showMessage(message, info) {
    if (log.querySelector('li[data-id="' + message.id + '"]')) return;
    var item = el("li", "message message-" + message.author.kind + (info.mine ? " mine" : ""));
    item.dataset.id = message.id;
    if (message.client_id) item.dataset.clientId = message.client_id;
    item.appendChild(el("strong", "chat-author", label(message.author) + ": "));
    item.appendChild(el("span", "chat-body", message.body));
    item.appendChild(el("span", "chat-meta", " " + time(message.created_at)));
    if (message.redacted) markRedacted(item);
    if (info.mine) item.appendChild(el("span", "chat-receipt", ""));
    insertById(item, message.id);
    updateReceipts();
    if (!info.mine && message.author.kind !== "system") markReadSoon();
    item.scrollIntoView({ block: "nearest" });
  }

  /** Staff removed this message's text: the fixed replacement says so in words, not only by style. */
  function markRedacted(item) {
    if (item.classList.contains("redacted")) return;
    item.classList.add("redacted");
    item.appendChild(el("span", "chat-meta chat-redacted", " (text removed by staff)"));
  }

  function showRedacted(frame) {
    var item = log.querySelector('li[data-id="' + Number(frame.id) + '"]');
    if (!item) return; // not shown here: history will bring the replacement text
    item.querySelector(".chat-body").textContent = frame.body;
    markRedacted(item);
  }

  function showPending(outbox) {
    Array.prototype.forEach.call(log.querySelectorAll("li.pending"), function (li) { li.remove(); });
    outbox.forEach(function (item) {
      var li = el("li", "pending");
      li.dataset.clientId = item.client_id;
      li.appendChild(el("span", "chat-body", item.body));
      li.appendChild(el("span", "chat-meta", " sending…"));
      log.appendChild(li);
    });
  }

  function showStatus(state) {
    var status = $("chat-status");
    // A request never goes back to waiting (docs/chat-protocol.md): a queue-position frame that
    // arrives after the request was taken is stale, and must not bring back "you are number 2".
    if (state.status === "waiting" && status.dataset.status && status.dataset.status !== "waiting") return;
    var text = {
      waiting: "Waiting for a volunteer.",
      assigned: "A volunteer is with you.",
      resolved: "This request is resolved.",
      closed: "This request is closed.",
    }[state.status] || state.status;
    if (state.status === "waiting" && state.queue_position) {
      text = "Waiting: you are number " + state.queue_position + " in the queue.";
    }
    if (state.status === "assigned" && state.assigned_to) text = label(state.assigned_to) + " is helping.";
    status.textContent = text;
    status.dataset.status = state.status;
    status.dataset.queuePosition = state.status === "waiting" && state.queue_position ? state.queue_position : "";
    if (waiting && state.status !== "waiting") waiting.showWait(null);
    var readOnly = state.status === "resolved" || state.status === "closed";
    if ($("chat-form")) {
      $("chat-body").disabled = readOnly;
      $("chat-form").querySelector("button").disabled = readOnly;
    }
  }

  function showPresence(frame) {
    var names = frame.participants.map(function (person) { return label(person); });
    $("chat-presence").textContent = names.length ? "Here now: " + names.join(", ") : "";
  }

  function updateReceipts() {
    Array.prototype.forEach.call(log.querySelectorAll("li.mine"), function (li) {
      var id = Number(li.dataset.id);
      var readers = Object.keys(readUpTo).filter(function (name) { return readUpTo[name] >= id; });
      var receipt = li.querySelector(".chat-receipt");
      if (receipt) receipt.textContent = readers.length ? " ✓ Seen by " + readers.join(", ") : "";
    });
  }

  var watching = config.mode === "watch";

  // Internal notes (helpers' room only: the visitor's page has no #notes-log and gets no notes).
  function showNote(note) {
    var notes = $("notes-log");
    if (!notes || notes.querySelector('li[data-id="' + note.id + '"]')) return;
    var item = el("li", "note");
    item.dataset.id = note.id;
    item.appendChild(el("strong", "chat-author", label(note.author) + ": "));
    item.appendChild(el("span", "chat-body", note.body));
    item.appendChild(el("span", "chat-meta", " " + time(note.created_at)));
    notes.appendChild(item);
  }

  var room = new window.CharityRealtime.ChatRoom({
    publicId: config.public_id,
    mode: config.mode,
    onNote: showNote,
    // No token and no ticket: this page's session is what lets its visitor (or helper) in.
    forceFallback: document.body.dataset.forceFallback === "true",
    onState: function (state, detail) {
      window.CharitySite.showState($("chat-connection"), state, detail);
      if (state === "stopped") $("chat-error").textContent = detail.reason || "This conversation is not available.";
    },
    onHistory: function (frame) {
      showStatus(frame.help_request);
      if (waiting) {
        waiting.showUrgent(frame.help_request.urgent);
        waiting.showWait(frame.wait_estimate);
      }
    },
    onWaitEstimate: function (frame) { if (waiting) waiting.showWait(frame); },
    onUrgent: function (frame) {
      if (waiting) waiting.showUrgent(frame.urgent);
      // The helpers' banner: the reason is in the notes (a visitor's page has no banner).
      var banner = $("urgent-banner");
      if (banner) {
        banner.hidden = !frame.urgent;
        if (frame.urgent) $("urgent-reason").textContent = "The internal notes say why.";
      }
      // The flag form offers the other way round from now on.
      if ($("urgent-value")) {
        $("urgent-value").value = frame.urgent ? "false" : "true";
        $("urgent-legend").textContent = frame.urgent ? "Clear the urgent flag" : "Flag as urgent";
        $("urgent-button").textContent = frame.urgent ? "Clear the flag" : "Flag as urgent";
      }
    },
    onMessage: showMessage,
    onPending: showPending,
    onStatus: showStatus,
    onPresence: showPresence,
    onRedacted: showRedacted,
    onTyping: function (frame) {
      $("chat-typing").textContent = label(frame.author) + " is typing…";
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { $("chat-typing").textContent = ""; }, 3000);
    },
    onRead: function (frame) {
      readUpTo[frame.author.name] = Math.max(readUpTo[frame.author.name] || 0, frame.up_to);
      updateReceipts();
    },
    onErased: function (frame) {
      // The conversation no longer exists: its text leaves this page too.
      log.textContent = "";
      $("chat-typing").textContent = "";
      $("chat-presence").textContent = "";
      $("chat-body").value = "";
      $("chat-body").disabled = true;
      $("chat-form").querySelector("button").disabled = true;
      $("chat-connection").textContent = "";
      var text = frame.by === "visitor" ? "The visitor deleted this conversation." : "Staff deleted this conversation.";
      if (config.me === "visitor") text = "This conversation was deleted.";
      $("chat-erased").textContent = text;
    },
    // A prompt for the helper (unanswered claim, idle visitor): said in words; a suggested closing
    // message goes into an empty message box to edit, and is never sent by itself.
    onNudge: function (frame) {
      $("chat-nudge").textContent = frame.detail;
      if (frame.suggestion && !$("chat-body").value) $("chat-body").value = frame.suggestion;
    },
    onError: function (frame) {
      $("chat-error").textContent = typeof frame.detail === "string" ? frame.detail : JSON.stringify(frame.detail);
    },
  });

  var readTimer = null;
  function markReadSoon() {
    if (watching) return; // a watcher leaves no read receipts
    if (document.visibilityState !== "visible" || readTimer) return;
    readTimer = setTimeout(function () {
      readTimer = null;
      room.markRead(room.lastId);
    }, 300);
  }
  document.addEventListener("visibilitychange", markReadSoon);

  if ($("chat-form")) {
    $("chat-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var body = $("chat-body").value.trim();
      if (!body) return;
      $("chat-error").textContent = "";
      room.send(body);
      $("chat-body").value = "";
    });
    $("chat-body").addEventListener("input", function () { room.typing(); });
  }
  if ($("note-form")) {
    // Posted over HTTP on both transports; the note comes back in the answer and as a "note" frame.
    $("note-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var body = $("note-body").value.trim();
      if (!body) return;
      window.CharityRealtime.postJson("/api/help-requests/" + config.public_id + "/notes/", { body: body })
        .then(function (note) {
          showNote(note);
          $("note-body").value = "";
          $("note-error").textContent = "";
        })
        .catch(function (error) {
          $("note-error").textContent = (error.data && (error.data.detail || (error.data.body || [])[0])) || "The note was not saved.";
        });
    });
  }
  window.charityChat = room.start();
})();
