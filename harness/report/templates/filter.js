"use strict";
// Filter the rows of searchable tables: every word typed must occur in the row (any case).
// A link to report.html#q=WORDS opens the report with the filter already set.
(function () {
  function apply(block, query) {
    var words = query.toLowerCase().split(/\s+/).filter(Boolean);
    var rows = block.querySelectorAll("tbody tr");
    var shown = 0;
    rows.forEach(function (row) {
      var text = row.textContent.toLowerCase();
      var match = words.every(function (w) { return text.indexOf(w) !== -1; });
      row.hidden = !match;
      if (match) { shown += 1; }
    });
    var counter = block.querySelector(".filter-count");
    if (counter) {
      counter.textContent = words.length ? shown + " of " + rows.length + " rows" : rows.length + " rows";
    }
  }
  var initial = "";
  var match = /(?:^#|&)q=([^&]*)/.exec(window.location.hash);
  if (match) {
    try { initial = decodeURIComponent(match[1].replace(/\+/g, " ")); } catch (e) { initial = ""; }
  }
  document.querySelectorAll(".table").forEach(function (block) {
    var input = block.querySelector(".filter-input");
    if (!input) { return; }
    input.addEventListener("input", function () { apply(block, input.value); });
    if (initial) { input.value = initial; apply(block, initial); }
  });
})();
