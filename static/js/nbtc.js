/* The platform's one script (served from 'self', so the Content Security Policy allows it).

   After a failed submit the focus moves to the form's error summary, so a screen reader reads
   it and a keyboard user starts from it (GOV.UK Design System, error summary:
   https://design-system.service.gov.uk/components/error-summary/); a link in the summary moves
   the focus to its field, not only the scroll position. */
(function () {
  "use strict";

  function focusErrorSummary(root) {
    var summary = root.querySelector(".error-summary");
    if (summary) {
      summary.focus();
    }
    return summary;
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (focusErrorSummary(document) && window.location.hash) {
      // A form posted from a URL with a fragment (after the skip link, #main) comes back
      // with it, and the browser would move the focus to that fragment's target instead.
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
  });
  window.addEventListener("load", function () {
    focusErrorSummary(document);
  });

  // A form swapped in by htmx after its submit (not while typing in a live search) gets
  // the same.
  document.addEventListener("htmx:afterSettle", function (event) {
    var config = event.detail && event.detail.requestConfig;
    var trigger = config && config.triggeringEvent;
    if (trigger && trigger.type === "submit" && event.detail.target) {
      focusErrorSummary(event.detail.target);
    }
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".error-summary a[href^='#']");
    if (!link) {
      return;
    }
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (field) {
      event.preventDefault();
      field.focus();
      field.scrollIntoView({ block: "center" });
    }
  });
})();
