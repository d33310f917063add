/*
 * realtime.js: the charity's real-time client. No dependencies, no build step.
 *
 * Exposes window.CharityRealtime with three classes:
 *
 *   Connection          one resilient server link: a WebSocket that reconnects by itself with
 *                       exponential backoff and jitter, a heartbeat that replaces dead sockets,
 *                       and a fallback to Server-Sent Events + HTTP POST when WebSockets are blocked.
 *   NotificationStream  the person's notifications (/ws/notifications/): resumes from the last id
 *                       seen (kept in sessionStorage across page navigation), shows each id once,
 *                       acknowledges what it showed, marks read. Given a tabKey, the tabs of one
 *                       browser share one socket: a leader tab holds it (TabConnection below).
 *   ChatRoom            one help request's chat (/ws/help-requests/<id>/): resumes with ?after=,
 *                       queues messages typed while disconnected and re-sends them on reconnect
 *                       (idempotent by client_id) until the server echoes them.
 *
 * Connection states, reported through onState(state, detail):
 *   "connecting"    opening a socket
 *   "live"          connected by WebSocket
 *   "fallback"      connected by Server-Sent Events (sending by HTTP POST)
 *   "reconnecting"  waiting to retry; detail.retryAt is the time (ms since epoch) of the next try
 *   "offline"       the browser says it has no network; retries as soon as it is back
 *   "stopped"       not retrying: detail.code is the close code (4401 log in, 4403 not allowed,
 *                   4404 not found) and detail.reason says why
 *
 * The wire protocol is documented in docs/protocol.md and docs/chat-protocol.md.
 */
(function (global) {
  "use strict";

  var FATAL_CODES = { 4401: "Please log in.", 4403: "You are not allowed here.", 4404: "Not found." };

  var DEFAULTS = {
    baseDelayMs: 1000, // first retry after about a second
    maxDelayMs: 30000, // never wait more than about 30 s
    stableAfterMs: 10000, // a connection open this long resets the backoff
    heartbeatMs: 20000, // ping this often
    deadAfterMs: 45000, // nothing heard this long: the socket is dead, replace it
    fallbackAfterFailures: 3, // WebSocket attempts that never opened before falling back to SSE
    forceFallback: false,
    shareTabs: true, // false: every tab keeps its own notification socket, even where it could share
  };

  function now() {
    return Date.now();
  }

  /** Exponential backoff with "equal jitter": between half and all of min(cap, base * 2^attempt). */
  function backoffDelay(attempt, baseMs, capMs) {
    var ceiling = Math.min(capMs, baseMs * Math.pow(2, attempt));
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  /** Milliseconds to wait after a 429 (its Retry-After, between 1 and 60 s). */
  function retryDelay(error) {
    return Math.min(Math.max(error.retryAfter || 0, 1), 60) * 1000;
  }

  function readCookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  /** POST JSON with Django's CSRF token; resolves to the parsed JSON body (or null). */
  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": readCookie("csrftoken") },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return null;
        })
        .then(function (data) {
          if (!response.ok) {
            var error = new Error("HTTP " + response.status);
            error.status = response.status;
            error.data = data;
            // 429: seconds to wait before writing again (docs/protocol.md).
            error.retryAfter = Number(response.headers.get("Retry-After")) || 0;
            throw error;
          }
          return data;
        });
    });
  }

  function wsUrl(path) {
    var scheme = global.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + global.location.host + path;
  }

  function withQuery(path, params) {
    var parts = [];
    Object.keys(params).forEach(function (key) {
      if (params[key] !== null && params[key] !== undefined && params[key] !== "") {
        parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(params[key]));
      }
    });
    return parts.length ? path + (path.indexOf("?") === -1 ? "?" : "&") + parts.join("&") : path;
  }

  function uuid() {
    if (global.crypto && global.crypto.randomUUID) return global.crypto.randomUUID();
    return "c" + now().toString(36) + Math.random().toString(36).slice(2);
  }

  /** JSON in sessionStorage, tolerant of storage being unavailable. After shutdown() it keeps nothing. */
  var shutDown = false;
  var store = {
    get: function (key, fallback) {
      try {
        var raw = global.sessionStorage.getItem(key);
        return raw === null ? fallback : JSON.parse(raw);
      } catch (e) {
        return fallback;
      }
    },
    set: function (key, value) {
      if (shutDown) return;
      try {
        global.sessionStorage.setItem(key, JSON.stringify(value));
      } catch (e) {
        /* storage full or disabled: the page still works, only without cross-page memory */
      }
    },
  };

  // ------------------------------------------------------------------------------------------
  // Connection
  // ------------------------------------------------------------------------------------------

  /**
   * options:
   *   wsPath()       path of the WebSocket to open now (with resume parameters)
   *   ssePath()      path of the equivalent SSE stream now, or null when there is none
   *   onFrame(frame) every frame from the server except pong
   *   onState(state, detail)
   *   onOpen()       after each successful (re)connection, WebSocket or SSE
   */
  // Every connection of the page that has not been stopped, for shutdown().
  var openConnections = new Set();

  function Connection(options) {
    // A deployment (or a test) may tune the timings for every connection on the page by setting
    // window.CHARITY_REALTIME_OPTIONS before this script runs.
    this.options = Object.assign({}, DEFAULTS, global.CHARITY_REALTIME_OPTIONS || {}, options);
    this.state = "idle";
    this.mode = "websocket";
    this.attempt = 0;
    this.failuresWithoutOpen = 0;
    this.socket = null;
    this.source = null;
    this.timer = null;
    this.heartbeat = null;
    this.stopped = false;
    var self = this;
    this._online = function () {
      self._retryNow();
    };
    this._offline = function () {
      self._setState("offline", {});
    };
    global.addEventListener("online", this._online);
    global.addEventListener("offline", this._offline);
  }

  Connection.prototype.start = function () {
    if (shutDown) return;
    openConnections.add(this);
    if (this.options.forceFallback || !("WebSocket" in global)) {
      this._startFallback();
    } else {
      this._connect();
    }
  };

  Connection.prototype.stop = function () {
    openConnections.delete(this);
    this.stopped = true;
    clearTimeout(this.timer);
    this._stopHeartbeat();
    if (this.socket) this._detach(this.socket).close(1000);
    if (this.source) this.source.close();
    global.removeEventListener("online", this._online);
    global.removeEventListener("offline", this._offline);
  };

  /** Send a frame over the WebSocket. Returns false when not connected by WebSocket. */
  Connection.prototype.send = function (frame) {
    if (this.mode === "websocket" && this.socket && this.socket.readyState === 1) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  };

  Connection.prototype.isLive = function () {
    return this.state === "live" || this.state === "fallback";
  };

  Connection.prototype._setState = function (state, detail) {
    this.state = state;
    if (this.options.onState) this.options.onState(state, Object.assign({ mode: this.mode }, detail || {}));
  };

  Connection.prototype._connect = function () {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this._setState("connecting", { attempt: this.attempt });
    var self = this;
    var socket;
    try {
      socket = new WebSocket(wsUrl(this.options.wsPath()));
    } catch (e) {
      this._closed(null, 1006, false);
      return;
    }
    this.socket = socket;
    var opened = false;
    socket.onopen = function () {
      opened = true;
      self.openedAt = now();
      self.lastHeard = now();
      self.failuresWithoutOpen = 0;
      self._setState("live", {});
      self._startHeartbeat();
      if (self.options.onOpen) self.options.onOpen();
    };
    socket.onmessage = function (event) {
      self.lastHeard = now();
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (frame && frame.type !== "pong" && self.options.onFrame) self.options.onFrame(frame);
    };
    socket.onclose = function (event) {
      self._closed(socket, event.code, opened);
    };
  };

  Connection.prototype._detach = function (socket) {
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    return socket;
  };

  Connection.prototype._closed = function (socket, code, opened) {
    if (socket && socket !== this.socket) return;
    this.socket = null;
    this._stopHeartbeat();
    if (this.stopped) return;
    if (FATAL_CODES[code]) {
      this.stopped = true;
      this._setState("stopped", { code: code, reason: FATAL_CODES[code] });
      return;
    }
    if (opened && now() - this.openedAt >= this.options.stableAfterMs) this.attempt = 0;
    if (!opened) this.failuresWithoutOpen += 1;
    if (this.failuresWithoutOpen >= this.options.fallbackAfterFailures && this.options.ssePath) {
      this._startFallback();
      return;
    }
    if (global.navigator && global.navigator.onLine === false) {
      this._setState("offline", {});
      return;
    }
    var delay = backoffDelay(this.attempt, this.options.baseDelayMs, this.options.maxDelayMs);
    // Rate limited: never come back sooner than the cap's half.
    if (code === 4429) delay = Math.max(delay, this.options.maxDelayMs / 2);
    this.attempt += 1;
    var self = this;
    this._setState("reconnecting", { retryAt: now() + delay, delay: delay, code: code });
    this.timer = setTimeout(function () {
      self._connect();
    }, delay);
  };

  Connection.prototype._retryNow = function () {
    if (this.stopped) return;
    if (this.mode === "websocket" && (this.state === "reconnecting" || this.state === "offline")) {
      this.attempt = 0;
      this._connect();
    }
  };

  Connection.prototype._startHeartbeat = function () {
    this._stopHeartbeat();
    var self = this;
    this.heartbeat = setInterval(function () {
      if (!self.socket) return;
      if (now() - self.lastHeard > self.options.deadAfterMs) {
        // A silently dead connection may take minutes to report its close: drop it now.
        var dead = self.socket;
        self._detach(dead);
        try {
          dead.close(4000, "heartbeat");
        } catch (e) {
          /* already closing */
        }
        self._closed(dead, 1006, true);
        return;
      }
      self.send({ type: "ping" });
    }, this.options.heartbeatMs);
  };

  Connection.prototype._stopHeartbeat = function () {
    clearInterval(this.heartbeat);
    this.heartbeat = null;
  };

  Connection.prototype._startFallback = function () {
    if (this.stopped) return;
    var path = this.options.ssePath && this.options.ssePath();
    if (!path || !("EventSource" in global)) {
      this._setState("stopped", { code: 0, reason: "This browser cannot connect for live updates." });
      return;
    }
    this.mode = "sse";
    this._setState("connecting", {});
    var self = this;
    var source = new EventSource(path, { withCredentials: true });
    this.source = source;
    source.onopen = function () {
      self._setState("fallback", {});
      if (self.options.onOpen) self.options.onOpen();
    };
    source.onmessage = function (event) {
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (frame && self.options.onFrame) self.options.onFrame(frame);
    };
    // The server ends a stream it will not serve with an explicit "close" event.
    source.addEventListener("close", function (event) {
      var code = 0;
      try {
        code = JSON.parse(event.data).code;
      } catch (e) {
        /* no code */
      }
      source.close();
      if (self.source === source) self.source = null;
      if (code === 4429) {
        // Too many connections for now: open the stream again later (as a socket would; never
        // sooner than half the cap), resuming where it was.
        var delay = backoffDelay(self.attempt, self.options.baseDelayMs, self.options.maxDelayMs);
        delay = Math.max(delay, self.options.maxDelayMs / 2);
        self.attempt += 1;
        self._setState("reconnecting", { retryAt: now() + delay, delay: delay, code: code });
        self.timer = setTimeout(function () {
          self._startFallback();
        }, delay);
        return;
      }
      self.stopped = true;
      self._setState("stopped", { code: code, reason: FATAL_CODES[code] || "Closed by the server." });
    });
    source.onerror = function () {
      if (source.readyState === 2) {
        self.stopped = true;
        self._setState("stopped", { code: 0, reason: "The live stream was refused." });
      } else {
        // EventSource reconnects by itself and sends Last-Event-ID.
        self._setState("reconnecting", { retryAt: now() + 3000, delay: 3000 });
      }
    };
  };

  // ------------------------------------------------------------------------------------------
  // TabConnection: one notification socket per browser, held by a leader tab
  // ------------------------------------------------------------------------------------------

  /** Whether this browser can elect a leader tab: Web Locks and BroadcastChannel. */
  function canShareTabs() {
    return Boolean(global.navigator && global.navigator.locks && global.BroadcastChannel);
  }

  /**
   * Connection's surface (start, stop, send, isLive, state, mode) for a stream that the tabs of one
   * browser profile share. Every tab asks for the Web Lock named options.tabKey and keeps it for
   * its life; the one holding it is the leader: it runs the real Connection and posts everything
   * that connection reports (frames, states, each (re)connection) on the BroadcastChannel of the
   * same name. The others, followers, open nothing: they hear the leader's reports on the channel
   * and pass them to the same callbacks, so the stream's code is one path in every tab. When the
   * leader tab closes or crashes the browser releases its lock, the next tab in line gets it and
   * opens the socket, resuming from its own last id (it saw every frame the leader relayed).
   *
   * Messages on the channel: {t: "frame", frame}, {t: "state", state, detail}, {t: "open"} and
   * {t: "left"} (its page is closing) from the leader to every follower; {t: "hello", from,
   * lastId} from a tab that starts following, and
   * the leader's answer {t: "welcome", to, state, detail, frames}: its state, then frames built by
   * options.welcome(lastId) (what the newcomer missed, then "synced").
   *
   * A follower sends nothing through the leader: send() is false and mode is "relay", so the
   * stream writes by HTTP POST as it does on the SSE fallback (markRead), and acknowledges nothing
   * (the leader's socket acknowledges what it received; the server counts only a socket's own ids).
   */
  function TabConnection(options) {
    this.options = options;
    this.tabId = uuid();
    this.leading = false;
    this.inner = null;
    this.state = "idle";
    this.detail = {};
    this.mode = "relay";
    this.stopped = false;
    this.channel = null;
    this.release = null; // resolving it lets go of the lock
    this.queued = false; // asked for the lock (and holds it, or is in line for it)
    // A leader whose page goes away says so: a tab that stepped down (and so is not in line for
    // the lock) must not be left showing the state of a connection that no longer exists.
    var self = this;
    this._leaving = function () {
      if (self.leading) self._post({ t: "left" });
    };
  }

  TabConnection.prototype.start = function () {
    if (shutDown) return;
    openConnections.add(this);
    var self = this;
    this.channel = new BroadcastChannel(this.options.tabKey);
    this.channel.onmessage = function (event) {
      self._heard(event.data || {});
    };
    global.addEventListener("pagehide", this._leaving);
    this._report("connecting", {});
    // Ask whoever leads for the state and what this page missed; no answer means no leader yet
    // (then this tab is next in line, or a leader is starting and will post "synced" to all).
    this.channel.postMessage({ t: "hello", from: this.tabId, lastId: this.options.lastId() });
    this._queue();
  };

  /** Ask for the lock: this tab leads when it gets it (at once, if no other tab holds it). */
  TabConnection.prototype._queue = function () {
    var self = this;
    this.queued = true;
    global.navigator.locks
      .request(this.options.tabKey, function () {
        if (self.stopped) return null;
        self._lead();
        // Held until stop() or _stepDown(), or until the browser drops the tab (closed, crashed, left).
        return new Promise(function (resolve) {
          self.release = resolve;
        });
      })
      .catch(function () {
        // The lock was refused (a sandboxed or opaque origin): this tab keeps its own socket.
        if (!self.stopped && !self.leading) self._lead();
      });
  };

  /**
   * The leader's connection stopped for good (4401: this session logged out). Another tab may be
   * logged in by now (a new session), so this one lets go of the lock and follows; it queues for
   * the lock again once another leader has connected, never before (alone, it would only take the
   * lock back and be refused again, in a loop).
   */
  TabConnection.prototype._stepDown = function () {
    this.leading = false;
    this.queued = false;
    this.mode = "relay";
    var release = this.release;
    this.release = null;
    release();
  };

  TabConnection.prototype._lead = function () {
    var self = this;
    var options = this.options;
    this.leading = true;
    this.inner = new Connection(
      Object.assign({}, options, {
        onFrame: function (frame) {
          self._post({ t: "frame", frame: frame });
          options.onFrame(frame);
        },
        onState: function (state, detail) {
          self.mode = self.inner.mode;
          self._post({ t: "state", state: state, detail: detail });
          self._report(state, detail);
          if (state === "stopped" && self.release) self._stepDown();
        },
        onOpen: function () {
          self._post({ t: "open" });
          if (options.onOpen) options.onOpen();
        },
      })
    );
    this.inner.start();
  };

  TabConnection.prototype._heard = function (message) {
    if (this.stopped) return;
    if (this.leading) {
      if (message.t === "hello") {
        this._post({
          t: "welcome",
          to: message.from,
          state: this.state,
          detail: this.detail,
          frames: this.options.welcome(message.lastId || 0),
        });
      }
      return;
    }
    var options = this.options;
    if (message.t === "frame") {
      options.onFrame(message.frame);
    } else if (message.t === "state") {
      this._report(message.state, message.detail);
    } else if (message.t === "open") {
      if (!this.queued) this._queue();
      if (options.onOpen) options.onOpen();
    } else if (message.t === "left") {
      // The leader's page closed, perhaps before its connection could report how it ended: get in
      // line again (a refused connection stops this tab once more, and it steps down as before).
      if (!this.queued) this._queue();
    } else if (message.t === "welcome" && message.to === this.tabId) {
      this._report(message.state, message.detail);
      (message.frames || []).forEach(options.onFrame);
    }
  };

  TabConnection.prototype._post = function (message) {
    if (this.channel && !this.stopped) this.channel.postMessage(message);
  };

  TabConnection.prototype._report = function (state, detail) {
    this.state = state;
    this.detail = detail || {};
    if (this.options.onState) this.options.onState(state, this.detail);
  };

  TabConnection.prototype.stop = function () {
    openConnections.delete(this);
    this._leaving();
    global.removeEventListener("pagehide", this._leaving);
    this.stopped = true;
    if (this.inner) this.inner.stop();
    if (this.channel) this.channel.close();
    if (this.release) this.release();
  };

  TabConnection.prototype.send = function (frame) {
    return this.leading ? this.inner.send(frame) : false;
  };

  TabConnection.prototype.isLive = function () {
    return this.state === "live" || this.state === "fallback";
  };

  // ------------------------------------------------------------------------------------------
  // NotificationStream
  // ------------------------------------------------------------------------------------------

  var SEEN_LIMIT = 500;
  // How many recent notification frames a tab keeps to welcome a tab that starts following it.
  var RECENT_LIMIT = 100;

  /**
   * options: onNotification(frame, {replayed}), onUnread(count), onState(state, detail),
   *          acknowledge (default true; false on pages that do not show notifications),
   *          topics (extra live feeds to subscribe to, e.g. ["dashboard"]), onOther(frame) for
   *          their frames, wsPath, ssePath, ackUrl, readUrl (defaults match the project's URLs),
   *          tabKey (share one socket among this browser's tabs under this name: TabConnection;
   *          not with topics or forceFallback, and only where the browser can), and connection
   *          options.
   */
  function NotificationStream(options) {
    this.options = Object.assign(
      {
        wsPath: "/ws/notifications/",
        ssePath: "/sse/notifications/",
        ackUrl: "/api/notifications/ack/",
        readUrl: "/api/notifications/read/",
        storageKey: "charity.notifications",
      },
      options
    );
    var saved = store.get(this.options.storageKey, {});
    this.lastId = saved.lastId || 0;
    this.seen = saved.seen || [];
    this.seenSet = new Set(this.seen);
    this.shownMax = 0;
    this.ackTimer = null;
    this.synced = false;
    this.unread = 0;
    this.recent = [];
    var self = this;
    var settings = Object.assign({}, DEFAULTS, global.CHARITY_REALTIME_OPTIONS || {}, options);
    var shared =
      settings.tabKey &&
      settings.shareTabs &&
      !settings.forceFallback &&
      !(settings.topics && settings.topics.length) &&
      canShareTabs();
    this.connection = new (shared ? TabConnection : Connection)(
      Object.assign({}, options, {
        wsPath: function () {
          return withQuery(self.options.wsPath, { since: self.lastId || "" });
        },
        ssePath: function () {
          return withQuery(self.options.ssePath, { since: self.lastId || "" });
        },
        onFrame: function (frame) {
          self._onFrame(frame);
        },
        onOpen: function () {
          self.synced = false;
        },
        onState: options.onState,
        // For TabConnection: where this tab is, and what a tab that starts following it missed.
        lastId: function () {
          return self.lastId;
        },
        welcome: function (lastId) {
          return self._welcome(lastId);
        },
      })
    );
  }

  NotificationStream.prototype.start = function () {
    this.connection.start();
    return this;
  };

  NotificationStream.prototype.stop = function () {
    this.connection.stop();
  };

  NotificationStream.prototype._save = function () {
    if (this.seen.length > SEEN_LIMIT) {
      this.seen = this.seen.slice(-SEEN_LIMIT);
      this.seenSet = new Set(this.seen);
    }
    store.set(this.options.storageKey, { lastId: this.lastId, seen: this.seen });
  };

  NotificationStream.prototype._onFrame = function (frame) {
    if (frame.type === "notification") {
      this._queueAck(frame.id);
      if (this.seenSet.has(frame.id)) return;
      this.seen.push(frame.id);
      this.seenSet.add(frame.id);
      this.lastId = Math.max(this.lastId, frame.id);
      this._save();
      this.recent.push(frame);
      if (this.recent.length > RECENT_LIMIT) this.recent.shift();
      if (this.options.onNotification) this.options.onNotification(frame, { replayed: !this.synced });
      // A live one is new and unread; replayed ones are already in synced's count.
      if (this.synced) this._setUnread(this.unread + 1);
    } else if (frame.type === "synced") {
      this.synced = true;
      this.lastId = Math.max(this.lastId, frame.last_id);
      this._save();
      this._setUnread(frame.unread);
      // Extra live feeds (e.g. the staff dashboard) are asked for again on every connection.
      if (this.options.topics && this.options.topics.length) {
        this.connection.send({ type: "subscribe", topics: this.options.topics });
      }
    } else if (frame.type === "unread") {
      this._setUnread(frame.unread);
      // Read on this or another tab or device: ids, or "all" (docs/protocol.md).
      if (frame.read !== undefined && this.options.onRead) this.options.onRead(frame.read);
    } else if (frame.type === "error" && this.options.onError) {
      this.options.onError(frame);
    } else if (this.options.onOther) {
      this.options.onOther(frame);
    }
  };

  /**
   * What a tab that starts following this one is sent (TabConnection): the recent notifications
   * after its last id (none for a new tab, whose socket would replay only unacknowledged ones, and
   * this tab acknowledged what it got), then "synced" with this tab's cursor and count. Nothing
   * before this tab is synced: it will post its own "synced" to every tab when it is.
   */
  NotificationStream.prototype._welcome = function (lastId) {
    if (!this.synced) return [];
    var frames = lastId
      ? this.recent.filter(function (frame) {
          return frame.id > lastId;
        })
      : [];
    return frames.concat([{ type: "synced", last_id: this.lastId, unread: this.unread }]);
  };

  NotificationStream.prototype._setUnread = function (count) {
    this.unread = count;
    if (this.options.onUnread) this.options.onUnread(count);
  };

  NotificationStream.prototype._queueAck = function (id) {
    // A page that does not show notifications (acknowledge: false) must not mark them delivered.
    if (this.options.acknowledge === false) return;
    this.shownMax = Math.max(this.shownMax, id);
    if (this.ackTimer) return;
    var self = this;
    this.ackTimer = setTimeout(function () {
      self.ackTimer = null;
      var frame = { type: "ack", up_to: self.shownMax };
      if (!self.connection.send(frame) && self.connection.mode === "sse") {
        postJson(self.options.ackUrl, { up_to: self.shownMax }).catch(function (error) {
          // Too many writes for now (429): acknowledge again, through the latest, when allowed.
          if (error.status === 429) {
            setTimeout(function () {
              self._queueAck(self.shownMax);
            }, retryDelay(error));
          }
        });
      }
    }, 200);
  };

  /** Mark notifications read; resolves when the server has them. */
  NotificationStream.prototype.markRead = function (ids) {
    if (!ids.length) return Promise.resolve();
    if (this.connection.send({ type: "read", ids: ids })) return Promise.resolve();
    var self = this;
    return postJson(this.options.readUrl, { ids: ids }).catch(function (error) {
      if (error.status !== 429) throw error;
      // Too many writes for now: mark them read when the server says.
      return new Promise(function (resolve) {
        setTimeout(resolve, retryDelay(error));
      }).then(function () {
        return self.markRead(ids);
      });
    });
  };

  /**
   * The page is about to be left for good (the visitors' quick exit, chat/static/chat/exit.js):
   * close every socket and stream, and from now on write nothing to storage, so a message or a
   * frame still in flight cannot put back what the caller is about to wipe.
   */
  function shutdown() {
    shutDown = true;
    openConnections.forEach(function (connection) {
      connection.stop();
    });
  }

  // The clients of the apps' own rooms build on these (chat/static/chat/room.js: ChatRoom).
  global.CharityRealtime = {
    Connection: Connection,
    TabConnection: TabConnection,
    canShareTabs: canShareTabs,
    NotificationStream: NotificationStream,
    backoffDelay: backoffDelay,
    retryDelay: retryDelay,
    postJson: postJson,
    withQuery: withQuery,
    uuid: uuid,
    now: now,
    store: store,
    shutdown: shutdown,
  };
})(window);
