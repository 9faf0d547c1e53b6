// Filters the findings table: a row stays when it matches every chosen value.
(function () {
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var rows = Array.prototype.slice.call(document.querySelectorAll("#findings tbody tr"));
  var shown = document.getElementById("shown");
  function apply() {
    var count = 0;
    rows.forEach(function (row) {
      var keep = selects.every(function (s) { return !s.value || row.dataset[s.dataset.filter] === s.value; });
      row.hidden = !keep;
      if (keep) { count += 1; }
    });
    if (shown) { shown.textContent = String(count); }
  }
  selects.forEach(function (s) { s.addEventListener("change", apply); });
})();
