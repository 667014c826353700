// The day's list refreshes itself (htmx, every 2 s, when another desk changed something): what a
// desk has typed into it (a note, a call-back day) and where the cursor was survive the refresh.
(function () {
  "use strict";
  var kept = null;

  function key(el) {
    return el.form && el.form.id ? el.form.id + "\u0000" + el.name : null;
  }

  document.addEventListener("htmx:beforeSwap", function (evt) {
    var list = document.getElementById("list");
    if (!list || evt.detail.target !== list) return;
    kept = {values: {}, focus: null, start: null, end: null};
    list.querySelectorAll("form input[name]:not([type=hidden])").forEach(function (el) {
      var k = key(el);
      if (k && el.value) kept.values[k] = el.value;
    });
    var active = document.activeElement;
    if (active && list.contains(active) && key(active)) {
      kept.focus = key(active);
      try { kept.start = active.selectionStart; kept.end = active.selectionEnd; } catch (e) { /* a date field */ }
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    var list = document.getElementById("list");
    if (!list || !kept) return;
    var was = kept;
    kept = null;
    list.querySelectorAll("form input[name]:not([type=hidden])").forEach(function (el) {
      var k = key(el);
      if (k && Object.prototype.hasOwnProperty.call(was.values, k) && !el.value) el.value = was.values[k];
      if (k && k === was.focus) {
        el.focus();
        try { if (was.start !== null) el.setSelectionRange(was.start, was.end); } catch (e) { /* a date field */ }
      }
    });
  });
})();
