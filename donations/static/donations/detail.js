// A donation's page: the steps follow the donation's notifications (received → processing → confirmed).
(function () {
  var steps = document.getElementById("donation-steps");
  var order = ["received", "processing", "confirmed"];
  function show(status) {
    // Never step backwards: a replayed older notification must not undo a newer one.
    if (order.indexOf(status) < order.indexOf(steps.dataset.status)) return;
    steps.dataset.status = status;
    steps.querySelectorAll("li").forEach(function (li) {
      li.classList.toggle("done", order.indexOf(li.dataset.step) <= order.indexOf(status));
    });
    var label = status.charAt(0).toUpperCase() + status.slice(1);
    var strong = document.querySelector("#donation-status strong");
    strong.textContent = label;
  }
  show(steps.dataset.status);
  document.addEventListener("charity:notification", function (event) {
    var data = event.detail.data || {};
    if (data.donation === steps.dataset.donation && data.status) show(data.status);
  });
})();
