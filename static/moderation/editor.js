// Live preview for the moderation editors: each markdown textarea is rendered by the server's own
// renderer and sanitizer (the staff-only preview endpoint), so the preview is exactly what learners see.
(function () {
  "use strict";

  function attach(form) {
    var url = form.getAttribute("data-preview-url");
    var token = form.querySelector("input[name=csrfmiddlewaretoken]");
    form.querySelectorAll("textarea[data-preview]").forEach(function (textarea) {
      var pane = form.querySelector('[data-preview-for="' + textarea.id + '"]');
      if (!url || !token || !pane) return;
      var timer = null;
      var sent = 0;

      function render() {
        var mine = ++sent;
        var body = new FormData();
        body.append("text", textarea.value);
        fetch(url, {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: { "X-CSRFToken": token.value },
        })
          .then(function (response) {
            if (!response.ok) throw new Error(response.status);
            return response.text();
          })
          .then(function (html) {
            // Only the newest answer wins; the HTML was sanitized on the server.
            if (mine === sent) pane.innerHTML = html;
          })
          .catch(function () {
            if (mine === sent) pane.textContent = "The preview is not available right now.";
          });
      }

      textarea.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(render, 250);
      });
      render();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-preview-url]").forEach(attach);
  });
})();
