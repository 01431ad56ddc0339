(function () {
  "use strict";
  var form = document.getElementById("filters");
  if (!form) { return; }
  var select = document.getElementById("filter-verdict");
  var text = document.getElementById("filter-text");
  form.hidden = false;
  function wanted(verdict, want) {
    if (want === "all") { return true; }
    if (want === "problems") { return verdict !== "pass" && verdict !== "not-in-profile"; }
    return verdict === want;
  }
  function apply() {
    var want = select.value;
    var query = text.value.toLowerCase();
    var groups = document.querySelectorAll("#matrix tbody");
    Array.prototype.forEach.call(groups, function (group) {
      var shown = 0;
      Array.prototype.forEach.call(group.querySelectorAll("tr.req"), function (row) {
        var match = wanted(row.getAttribute("data-verdict"), want) &&
          (query === "" || row.textContent.toLowerCase().indexOf(query) !== -1);
        row.hidden = !match;
        if (match) { shown += 1; }
      });
      group.hidden = shown === 0;
    });
  }
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  select.addEventListener("change", apply);
  text.addEventListener("input", apply);
}());
