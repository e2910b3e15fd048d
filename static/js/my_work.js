// My work: new contacts appear without a reload, and the tab's title counts those not yet seen.
//
// Every few seconds (data-poll-seconds) and whenever the tab comes back into view, the page asks
// data-poll-url for the contacts given after the newest one it shows (data-after). The server answers
// the rows already rendered from the page's own template, the load and the presence, and the words for
// screen readers, so this file has no markup and no text of its own to translate. No inline script: it
// runs under a Content-Security-Policy that allows only the site's own scripts.
(function () {
  "use strict";

  var list = document.querySelector("[data-poll-url]");
  if (!list) {
    return; // not the first page of contacts: nothing newer is shown on it
  }
  var url = list.getAttribute("data-poll-url");
  var after = list.getAttribute("data-after");
  var every = Math.max(1, Number(list.getAttribute("data-poll-seconds")) || 10) * 1000;
  var title = document.title;
  var unseen = 0;
  var timer = null;
  var busy = false;
  var stopped = false;

  function find(name) {
    return document.querySelector("[" + name + "]");
  }

  function showTitle() {
    document.title = unseen ? "(" + unseen + ") " + title : title;
  }

  // Seen: the tab is in view and the operator is at it (focus, a click or a key on the page).
  function seen() {
    if (document.visibilityState !== "visible" || !unseen) {
      return;
    }
    unseen = 0;
    showTitle();
    list.querySelectorAll(".is-new").forEach(function (row) {
      row.classList.remove("is-new");
    });
  }

  function stop() {
    stopped = true;
    window.clearTimeout(timer);
    var stale = find("data-my-stale");
    if (stale) {
      stale.hidden = false;
    }
  }

  function show(answer) {
    if (answer.count) {
      var holder = document.createElement("ol");
      holder.innerHTML = answer.html;
      var rows = Array.prototype.slice.call(holder.children);
      rows.forEach(function (row) {
        // A contact taken away and given back is new again: one row for it, at the top.
        var shown = list.querySelector('[data-contact-id="' + row.getAttribute("data-contact-id") + '"]');
        if (shown) {
          shown.remove();
        }
        row.classList.add("is-new");
      });
      rows.reverse().forEach(function (row) {
        list.insertBefore(row, list.firstChild);
      });
      after = String(answer.newest);
      unseen += answer.count;
      showTitle();
      var announce = find("data-my-announce");
      if (announce) {
        announce.textContent = answer.announce;
      }
    }
    var empty = find("data-my-empty");
    if (empty) {
      empty.hidden = list.children.length > 0;
    }
    var count = find("data-open-count");
    if (count) {
      count.textContent = answer.open;
    }
    var load = find("data-my-load");
    if (load) {
      load.innerHTML = answer.load;
    }
    var status = find("data-my-status");
    if (status) {
      status.innerHTML = answer.status;
    }
    var shift = find("data-my-shift");
    if (shift) {
      shift.innerHTML = answer.shift;
    }
    document.querySelectorAll("button[data-presence]").forEach(function (button) {
      var reason = button.getAttribute("data-reason");
      var pressed =
        button.getAttribute("data-presence") === answer.presence && (!reason || reason === answer.reason);
      button.setAttribute("aria-pressed", pressed ? "true" : "false");
    });
  }

  function schedule() {
    window.clearTimeout(timer);
    if (!stopped) {
      timer = window.setTimeout(poll, every);
    }
  }

  function poll() {
    if (busy || stopped) {
      return;
    }
    busy = true;
    fetch(url + "?after=" + encodeURIComponent(after), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (response.redirected || response.status === 403) {
          // Signed out, or no longer an operator: the page itself says so.
          window.location.reload();
          return null;
        }
        if (response.status === 400) {
          stop(); // the newest contact shown is no longer the operator's: only a reload tells what is
          return null;
        }
        return response.ok ? response.json() : null; // a server hiccup: the next poll tries again
      })
      .then(function (answer) {
        if (answer && answer.more) {
          window.location.reload(); // more than a page arrived at once: the page shows the newest
        } else if (answer) {
          show(answer);
        }
      })
      .catch(function () {
        // Offline for a moment: the next poll tries again.
      })
      .then(function () {
        busy = false;
        schedule();
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      seen();
      poll();
    }
  });
  window.addEventListener("focus", seen);
  document.addEventListener("click", seen);
  document.addEventListener("keydown", seen);
  schedule();
})();
