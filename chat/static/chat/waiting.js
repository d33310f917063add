/*
 * waiting.js: the visitor's waiting room above the conversation (templates/chat/_waiting_room.html).
 * chat.js hands it the "wait_estimate" frames (and the one in "history") and the "urgent" flag;
 * docs/chat-protocol.md describes both. Text only (textContent).
 */
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };

  function opening(iso) {
    return new Date(iso).toLocaleString([], { weekday: "long", hour: "2-digit", minute: "2-digit" });
  }

  function waitText(frame) {
    if (!frame.helpers_available) {
      return "Nobody is available right now; your message is saved and someone will answer " +
        (frame.next_opening ? "when the helpline opens (" + opening(frame.next_opening) + ")." : "as soon as a volunteer is free.");
    }
    if (frame.low_minutes === null || frame.high_minutes === null) return "We can't estimate the wait right now.";
    if (frame.low_minutes === 0) return "Estimated wait: less than " + frame.high_minutes + " minutes.";
    return "Estimated wait: about " + frame.low_minutes + " to " + frame.high_minutes + " minutes.";
  }

  /** Show a wait_estimate frame; null hides it (the request left the queue). */
  function showWait(frame) {
    var wait = $("chat-wait");
    var alternatives = $("chat-alternatives");
    if (!wait) return;
    if (!frame) {
      wait.hidden = true;
      wait.textContent = "";
      if (alternatives) alternatives.hidden = true;
      return;
    }
    var text = waitText(frame);
    if (wait.textContent !== text) wait.textContent = text; // a live region: announce changes only
    wait.dataset.queuePosition = frame.queue_position;
    wait.dataset.helpersAvailable = frame.helpers_available;
    wait.hidden = false;
    if (alternatives) alternatives.hidden = frame.helpers_available > 0;
  }

  function showUrgent(urgent) {
    var box = $("chat-urgent");
    if (box) box.hidden = !urgent;
  }

  window.CharityWaiting = { showWait: showWait, showUrgent: showUrgent };

  var initial = $("wait-estimate");
  if (initial) showWait(JSON.parse(initial.textContent));
})();
