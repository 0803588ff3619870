// Semester's only script. Every page works without it; it saves the reader from reloading pages that wait
// for something (a course being written, a PDF being made). Same-origin requests only (but for the tutor's
// answer streams, from the site's stream server), no dependencies.
(function () {
  "use strict";

  var WRITING_EVERY_MS = 1500;
  var PDF_EVERY_MS = 1000;
  // The tutor's answer as it is written: often until its first words are on screen (within half a second of
  // the model's first token), then at reading pace, so fifty learners reading answers do not crowd the site.
  var ANSWER_FIRST_MS = 200;
  var ANSWER_EVERY_MS = 750;

  function later(fn, ms) {
    // Poll slowly in a background tab; the state is in the database, so nothing is lost meanwhile.
    window.setTimeout(fn, document.hidden ? ms * 4 : ms);
  }

  function get(url, accept) {
    return fetch(url, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": accept, "X-Requested-With": "fetch" }
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return accept === "application/json" ? response.json() : response.text();
    });
  }

  // Ask `url` every `every` ms while `handle(answer)` returns true; back off (up to 30 s) while requests fail.
  function poll(url, accept, every, handle) {
    var errors = 0;
    function tick() {
      get(url, accept).then(function (answer) {
        errors = 0;
        if (handle(answer)) { later(tick, every); }
      }).catch(function () {
        errors += 1;
        later(tick, Math.min(30000, every * Math.pow(2, errors)));
      });
    }
    later(tick, every);
  }

  // The "being written" page: swap in the progress fragment until the course is ready or has failed.
  function watchWriting(box) {
    poll(box.dataset.pollUrl, "text/html", WRITING_EVERY_MS, function (html) {
      // Leave the fragment alone while a keyboard user is on one of its buttons.
      if (!box.contains(document.activeElement)) { box.innerHTML = html; }
      var section = box.querySelector("[data-state]");
      var state = section ? section.dataset.state : "";
      if (state === "ready") {
        window.setTimeout(function () { window.location.assign(box.dataset.readyUrl); }, 800);
      }
      return state !== "ready" && state !== "failed" && state !== "incomplete" && state !== "outlined";
    });
  }

  // The "preparing your PDF" page: follow the render, then start the download.
  function watchPdf(box) {
    var stage = box.querySelector(".pdf-stage");
    poll(box.dataset.statusUrl, "application/json", PDF_EVERY_MS, function (state) {
      if (state.state === "ready") {
        box.innerHTML = '<p class="notice success">Your PDF is ready. The download starts now; if it does not, ' +
          '<a href="' + box.dataset.downloadUrl + '">download it here</a>.</p>';
        window.location.assign(box.dataset.downloadUrl);
        return false;
      }
      if (state.state === "failed") {
        window.location.reload();  // the server shows the failure and a "try again" button
        return false;
      }
      if (stage && state.stage) { stage.textContent = state.stage + "…"; }
      return true;
    });
  }

  // "Report a problem": quote the passage the reader selected in the lesson, so they need not paste it.
  // Read at mousedown (and focus, for the keyboard), before clicking the link collapses the selection.
  function quoteSelection(link) {
    var prose = document.querySelector(".lesson .prose");
    var selection = window.getSelection ? window.getSelection() : null;
    var text = "";
    if (prose && selection && selection.rangeCount && prose.contains(selection.anchorNode)) {
      text = selection.toString().replace(/\s+/g, " ").trim().slice(0, 2000);
    }
    link.href = link.href.split("?")[0] + (text ? "?quote=" + encodeURIComponent(text) : "");
  }

  var report = document.querySelector("[data-report-link]");
  if (report) {
    report.addEventListener("mousedown", function () { quoteSelection(report); });
    report.addEventListener("focus", function () { quoteSelection(report); });
  }

  // The tutor: follow an answer being written, appending each new piece, until it has ended. Pushed by the
  // stream server where the page names one (data-stream-url); polled otherwise, or once the stream fails.
  function watchAnswer(box) {
    var text = box.querySelector("[data-live-text]");
    var status = box.querySelector("[data-live-status]");
    var next = 0;
    if (text) { text.textContent = ""; }  // the page's copy is re-read from the start, as plain text
    // Show one state ({"text", "next", "ended"}); true while the answer is still being written.
    function show(state) {
      if (state.text && text) { text.textContent += state.text; }
      next = state.next;
      if (state.ended) {
        box.innerHTML = '<div class="prose">' + state.ended.html + "</div>" +
          (state.ended.notice ? '<p class="notice error"></p>' : "");
        if (state.ended.notice) { box.querySelector(".notice").textContent = state.ended.notice; }
        box.removeAttribute("data-live-url");
        return false;
      }
      if (status) { status.textContent = "The tutor is writing…"; }
      return true;
    }
    function tick() {
      get(box.dataset.liveUrl + "?from=" + next, "application/json").then(function (state) {
        if (show(state)) { later(tick, next ? ANSWER_EVERY_MS : ANSWER_FIRST_MS); }
      }).catch(function () { later(tick, ANSWER_EVERY_MS * 4); });
    }
    if (box.dataset.streamUrl && window.EventSource) {
      var source = new EventSource(box.dataset.streamUrl + "?from=0");
      source.onmessage = function (message) {
        if (!show(JSON.parse(message.data))) { source.close(); }
      };
      source.onerror = function () { source.close(); tick(); };  // polls take over from where it stopped
      return;
    }
    tick();
  }

  // The tutor's question box: ask without leaving the page, then watch the answer arrive.
  function askTutor(form) {
    var list = document.querySelector("[data-tutor-messages]");
    var error = form.querySelector("[data-tutor-error]");
    form.addEventListener("submit", function (event) {
      if (!window.fetch || !list) { return; }  // the plain form post works too
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { "Accept": "application/json", "X-Requested-With": "fetch" }
      }).then(function (response) {
        return response.json().then(function (answer) { return { ok: response.ok, answer: answer }; });
      }).then(function (result) {
        button.disabled = false;
        if (!result.ok) {
          error.textContent = result.answer.error || "The question could not be sent.";
          error.hidden = false;
          return;
        }
        error.hidden = true;
        form.querySelector("textarea").value = "";
        list.insertAdjacentHTML("beforeend", result.answer.html);
        var box = list.lastElementChild.querySelector("[data-live-url]");
        if (box) { watchAnswer(box); }
      }).catch(function () { button.disabled = false; form.submit(); });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-live-url]"), watchAnswer);
  var tutorForm = document.querySelector("[data-tutor-form]");
  if (tutorForm) { askTutor(tutorForm); }

  var writing = document.getElementById("writing-progress");
  var initial = writing && writing.querySelector("[data-state]");
  if (initial && ["failed", "incomplete", "outlined"].indexOf(initial.dataset.state) < 0) { watchWriting(writing); }
  var pdf = document.getElementById("pdf-progress");
  if (pdf && pdf.dataset.statusUrl && pdf.querySelector("progress")) { watchPdf(pdf); }
})();
