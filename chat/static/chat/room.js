/*
 * ChatRoom: the client of one help request's room (docs/chat-protocol.md), on realtime.js's
 * Connection: reconnects by itself, resumes with ?after=, keeps what was typed until the server has
 * it (sessionStorage), and falls back to Server-Sent Events and HTTP POST when sockets are blocked.
 * Loaded after realtime.js; adds CharityRealtime.ChatRoom.
 */
(function (global) {
  "use strict";

  var Realtime = global.CharityRealtime;
  var Connection = Realtime.Connection;
  var postJson = Realtime.postJson;
  var retryDelay = Realtime.retryDelay;
  var withQuery = Realtime.withQuery;
  var uuid = Realtime.uuid;
  var now = Realtime.now;
  var store = Realtime.store;

  /**
   * The page's session is the visitor's (or the helper's) proof: no token rides in any URL (software
   * without that session uses single-use connect tickets instead; docs/chat-protocol.md).
   *
   * options: publicId, onHistory(frame), onMessage(message, {mine}),
   *          onPending(list of {client_id, body}), onStatus, onPresence, onTyping, onRead,
   *          onRedacted(frame: staff removed message frame.id's text, frame.body replaces it), onError,
   *          onErased (the conversation was deleted: the room has already stopped and forgotten it),
   *          onWaitEstimate, onUrgent (the visitor's waiting room), onNudge (the helper's prompts),
   *          onNote(note) (helpers and staff: each internal note, from "notes" and "note" frames),
   *          mode ("watch": staff watching, read-only and not in presence), onState, and connection options.
   */
  function ChatRoom(options) {
    this.options = Object.assign(
      {
        wsPath: "/ws/help-requests/" + options.publicId + "/",
        ssePath: "/sse/help-requests/" + options.publicId + "/",
        postUrl: "/api/help-requests/" + options.publicId + "/messages/",
        readUrl: "/api/help-requests/" + options.publicId + "/read/",
        storageKey: "charity.chat." + options.publicId,
        typingEveryMs: 2000,
      },
      options
    );
    var saved = store.get(this.options.storageKey, {});
    this.lastId = saved.lastId || 0;
    this.outbox = saved.outbox || [];
    this.mine = new Set(saved.mine || []);
    this.seen = new Set();
    this.lastTyping = 0;
    var self = this;
    this.connection = new Connection(
      Object.assign({}, options, {
        wsPath: function () {
          return withQuery(self.options.wsPath, { after: self.lastId || "", mode: self.options.mode || "" });
        },
        ssePath: function () {
          return withQuery(self.options.ssePath, { after: self.lastId || "", mode: self.options.mode || "" });
        },
        onFrame: function (frame) {
          self._onFrame(frame);
        },
        onState: options.onState,
      })
    );
  }

  ChatRoom.prototype.start = function () {
    this.connection.start();
    if (this.outbox.length && this.options.onPending) this.options.onPending(this.outbox.slice());
    return this;
  };

  ChatRoom.prototype.stop = function () {
    this.connection.stop();
  };

  /** Stop, and drop what this tab kept of the conversation (unsent text included). */
  ChatRoom.prototype.forget = function () {
    this.stop();
    this.outbox = [];
    this.mine = new Set();
    this.lastId = 0;
    store.set(this.options.storageKey, {});
  };

  ChatRoom.prototype._save = function () {
    store.set(this.options.storageKey, {
      lastId: this.lastId,
      outbox: this.outbox,
      mine: Array.from(this.mine).slice(-200),
    });
  };

  ChatRoom.prototype._onFrame = function (frame) {
    var options = this.options;
    if (frame.type === "history") {
      if (options.onHistory) options.onHistory(frame);
      var self = this;
      frame.messages.forEach(function (message) {
        self._accept(message);
      });
      this._flush();
    } else if (frame.type === "message") {
      this._accept(frame);
    } else if (frame.type === "status" && options.onStatus) {
      options.onStatus(frame);
    } else if (frame.type === "presence" && options.onPresence) {
      options.onPresence(frame);
    } else if (frame.type === "typing" && options.onTyping) {
      options.onTyping(frame);
    } else if (frame.type === "read" && options.onRead) {
      options.onRead(frame);
    } else if (frame.type === "redacted" && options.onRedacted) {
      options.onRedacted(frame);
    } else if (frame.type === "erased") {
      this.forget();
      if (options.onErased) options.onErased(frame);
    } else if (frame.type === "wait_estimate" && options.onWaitEstimate) {
      options.onWaitEstimate(frame);
    } else if (frame.type === "urgent" && options.onUrgent) {
      options.onUrgent(frame);
    } else if (frame.type === "nudge" && options.onNudge) {
      options.onNudge(frame);
    } else if (frame.type === "notes" && options.onNote) {
      frame.notes.forEach(options.onNote);
    } else if (frame.type === "note" && options.onNote) {
      options.onNote(frame);
    } else if (frame.type === "error" && options.onError) {
      options.onError(frame);
    }
  };

  ChatRoom.prototype._accept = function (message) {
    if (this.seen.has(message.id)) return;
    this.seen.add(message.id);
    this.lastId = Math.max(this.lastId, message.id);
    var mine = false;
    if (message.client_id) {
      var before = this.outbox.length;
      this.outbox = this.outbox.filter(function (item) {
        return item.client_id !== message.client_id;
      });
      if (before !== this.outbox.length) this.mine.add(message.client_id);
      mine = this.mine.has(message.client_id);
    }
    this._save();
    if (this.options.onMessage) this.options.onMessage(message, { mine: mine });
    if (this.options.onPending) this.options.onPending(this.outbox.slice());
  };

  /** Queue a message; it is sent now if connected, else on reconnect. Returns its client_id. */
  ChatRoom.prototype.send = function (body) {
    var item = { client_id: uuid(), body: body };
    this.outbox.push(item);
    this.mine.add(item.client_id);
    this._save();
    if (this.options.onPending) this.options.onPending(this.outbox.slice());
    this._sendOne(item);
    return item.client_id;
  };

  ChatRoom.prototype._sendOne = function (item) {
    var frame = { type: "message", body: item.body, client_id: item.client_id };
    if (this.connection.send(frame)) return;
    if (this.connection.mode === "sse" && this.connection.state === "fallback") {
      var self = this;
      postJson(this.options.postUrl, { body: item.body, client_id: item.client_id })
        .then(function (message) {
          if (message && message.id) self._accept(Object.assign({ type: "message" }, message));
        })
        .catch(function (error) {
          if (error.status === 429) {
            // Too many writes for now: keep it; when the server says, send what is still waiting,
            // in order (one timer for every message refused meanwhile).
            if (!self.retryTimer) {
              self.retryTimer = setTimeout(function () {
                self.retryTimer = null;
                self._flush();
              }, retryDelay(error));
            }
            if (self.options.onError) {
              self.options.onError({ type: "error", code: "rate_limited", detail: "Sending too fast: it goes out again shortly." });
            }
            return;
          }
          // Other 4xx: the server refused it for good (e.g. room closed); drop it and say why.
          if (error.status && error.status < 500) {
            self.outbox = self.outbox.filter(function (other) {
              return other.client_id !== item.client_id;
            });
            self._save();
            if (self.options.onPending) self.options.onPending(self.outbox.slice());
            if (self.options.onError) self.options.onError({ type: "error", code: "refused", detail: error.data });
          }
        });
    }
  };

  ChatRoom.prototype._flush = function () {
    var self = this;
    this.outbox.slice().forEach(function (item) {
      self._sendOne(item);
    });
  };

  /** Tell the others this person is typing (throttled; dropped when not connected). */
  ChatRoom.prototype.typing = function () {
    if (now() - this.lastTyping < this.options.typingEveryMs) return;
    this.lastTyping = now();
    this.connection.send({ type: "typing" });
  };

  ChatRoom.prototype.markRead = function (upTo) {
    if (!upTo) return;
    if (!this.connection.send({ type: "read", up_to: upTo }) && this.connection.mode === "sse") {
      var self = this;
      postJson(this.options.readUrl, { up_to: upTo }).catch(function (error) {
        // Too many writes for now (429): mark read again when allowed.
        if (error.status === 429) {
          setTimeout(function () {
            self.markRead(upTo);
          }, retryDelay(error));
        }
      });
    }
  };

  Realtime.ChatRoom = ChatRoom;
})(window);
