// UnifyPort console: live regions that poll with back-off, and the QR countdown.
// Progressive enhancement only: every page works without it (reload to refresh).
(function () {
  "use strict";
  var csrf = function () {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  };

  function reloadMain() {
    if (window.htmx) {
      window.htmx.ajax("GET", window.location.pathname + window.location.search,
        { target: "#main", select: "#main", swap: "outerHTML" });
    } else {
      window.location.reload();
    }
  }

  // <el data-poll="url" data-poll-method="GET|POST" data-poll-min="ms" data-poll-max="ms">:
  // its content is fetched again and again; the wait doubles (up to max) while nothing
  // changes or the server cannot be reached, and drops back to min on a change.
  function poll(el) {
    if (el.__polling) return;
    el.__polling = true;
    var min = +(el.dataset.pollMin || 1000), max = +(el.dataset.pollMax || 15000);
    var delay = min, last = null;
    function tick() {
      if (!el.isConnected) return;
      var method = el.dataset.pollMethod || "GET";
      var body = method === "POST" ? new URLSearchParams({ csrf_token: csrf() }) : undefined;
      fetch(el.dataset.poll, {
        method: method, body: body, credentials: "same-origin", redirect: "manual",
        headers: { "X-CSRF-Token": csrf(), "X-Requested-With": "console" }
      }).then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 401) { window.location.assign("/console/sign-in"); return null; }
        if (!r.ok) throw new Error(r.status);
        if (r.headers.get("X-Console-Reload")) { reloadMain(); return null; }
        return r.text();
      }).then(function (html) {
        if (html === null || html === undefined) { if (el.isConnected) schedule(); return; }
        if (html !== last) {
          el.innerHTML = html;
          last = html;
          if (window.htmx) window.htmx.process(el);
          countdowns(el);
          delay = min;
        } else {
          delay = Math.min(delay * 2, max);
        }
        schedule();
      }).catch(function () { delay = Math.min(delay * 2, max); schedule(); });
    }
    function schedule() { if (el.isConnected) setTimeout(tick, delay); }
    schedule();
  }

  // <span data-expires-at="RFC 3339">: seconds left, updated every second.
  function countdowns(root) {
    root.querySelectorAll("[data-expires-at]").forEach(function (el) {
      if (el.__counting) return;
      el.__counting = true;
      var at = Date.parse(el.dataset.expiresAt);
      (function show() {
        if (!el.isConnected) return;
        var left = Math.max(0, Math.round((at - Date.now()) / 1000));
        el.textContent = left + " s";
        if (left > 0) setTimeout(show, 1000);
      })();
    });
  }

  function scan(root) {
    root.querySelectorAll("[data-poll]").forEach(poll);
    countdowns(root);
  }

  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:load", function (e) { scan(e.target); });
  // htmx sends the session's CSRF token with every request it makes.
  document.addEventListener("htmx:configRequest", function (e) {
    e.detail.headers["X-CSRF-Token"] = csrf();
  });
})();
