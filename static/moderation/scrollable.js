// Admin pages: a box that scrolls sideways (an inline table on a phone) must be reachable by keyboard, or its
// hidden columns cannot be read without a mouse. Such a box gets a tab stop and a name while it overflows.
(function () {
  "use strict";

  function label(box) {
    var heading = box.querySelector("h2, h3, caption");
    return heading ? heading.textContent.trim() : "Scrollable table";
  }

  function update() {
    document.querySelectorAll(".inline-group, .results").forEach(function (box) {
      var overflows = box.scrollWidth > box.clientWidth || box.scrollHeight > box.clientHeight;
      if (overflows && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", label(box));
      } else if (!overflows && box.getAttribute("tabindex") === "0") {
        ["tabindex", "role", "aria-label"].forEach(function (name) { box.removeAttribute(name); });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", update);
  window.addEventListener("resize", update);
})();
