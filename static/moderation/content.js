// The course's content page folds each week into a <details>: following a link to a part (the jump menu,
// "next flagged", an editor's "back to the course") opens the week around it, so the target is on screen.
(function () {
  "use strict";

  function reveal() {
    var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    if (!target) return;
    for (var node = target; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
    target.scrollIntoView();
  }

  document.addEventListener("DOMContentLoaded", reveal);
  window.addEventListener("hashchange", reveal);
})();
