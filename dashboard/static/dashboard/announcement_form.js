// The announcement form: "Sending to N people" follows the chosen audience.
document.addEventListener("DOMContentLoaded", function () {
  var select = document.getElementById("id_audience");
  var count = document.getElementById("audience-count");
  function update() {
    var item = document.querySelector('[data-audience="' + select.value + '"]');
    if (item) count.textContent = item.dataset.size;
  }
  if (select) { select.addEventListener("change", update); update(); }
});
