// Live updates for a push's page: poll its state; when another reviewer decides (the
// version changes), reload so the page shows the decision. No inline script: strict CSP.
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-state-url");
  var version = body.getAttribute("data-version");
  if (!url || !version) { return; }
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && data.version !== version) {
          document.getElementById("updated").hidden = false;
          window.location.replace(window.location.pathname);
          return;
        }
        window.setTimeout(poll, 3000);
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }
  window.setTimeout(poll, 3000);
})();
