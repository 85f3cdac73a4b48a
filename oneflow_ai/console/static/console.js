// The console's small script layer (the CSP allows no inline script): confirmations, copy, history.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A page showing a one-time secret answers a POST: make a reload show the list instead of posting again.
  var replace = document.body.getAttribute("data-replace-url");
  if (replace && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", replace);
  }
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          button.textContent = "Copied";
        });
      }
    });
  });
  // Set up: tests (and anything else) can wait on this instead of on time.
  document.documentElement.setAttribute("data-console-ready", "1");
});
