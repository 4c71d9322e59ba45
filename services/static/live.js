// Live status push (services/live.py): an EventSource on /portal/live updates, without a
// reload, every element of the page that shows an invoice's current status:
//   [data-live-status="<invoice id>"]   the plain-word status, in the page's language
//   [data-live-code="<invoice id>"]     the Chorus Pro status and its reform code
//   [data-live-status-text="<id>"]      the Chorus Pro status described in words (text only)
//   tbody[data-live-timeline="<id>"]    the invoice's timeline: one row per new event
// An element may carry data-live-version (the version it shows): older pushes leave it alone.
// The timeline holds one row per version, 1 to n, so its rows tell which version it shows.
// Pages without such elements (the invoice form) open no stream.
(function () {
  "use strict";
  var SELECTOR = "[data-live-status], [data-live-code], [data-live-timeline]";
  var TEXT = "data-live-status-text";
  if (!window.EventSource || !document.querySelector(SELECTOR)) {
    return;
  }
  var lang = (document.documentElement.lang || "en").slice(0, 2);
  var applied = {}; // invoice id -> newest version shown since the page loaded

  function escapeId(id) {
    return window.CSS && CSS.escape ? CSS.escape(id) : id.replace(/["\\]/g, "");
  }

  function each(attribute, id, apply) {
    var found = document.querySelectorAll("[" + attribute + '="' + escapeId(id) + '"]');
    Array.prototype.forEach.call(found, apply);
  }

  // True when the element already shows this version or a newer one.
  function stale(element, version) {
    var shown = parseInt(element.getAttribute("data-live-version"), 10);
    return !isNaN(shown) && shown >= version;
  }

  function shown(element, version) {
    element.setAttribute("data-live-version", String(version));
    element.classList.add("live-updated");
  }

  function code(change) {
    return change.status + " \u00b7 " + change.reform_code;
  }

  function when(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) {
      return iso;
    }
    return date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  function cell(row, text) {
    var td = document.createElement("td");
    if (text !== undefined) {
      td.textContent = text;
    }
    row.appendChild(td);
    return td;
  }

  function lastVersion(tbody) {
    var version = parseInt(tbody.getAttribute("data-live-version"), 10);
    if (!isNaN(version)) {
      return version;
    }
    var rows = tbody.querySelectorAll("tr[data-version]");
    if (rows.length) {
      return parseInt(rows[rows.length - 1].getAttribute("data-version"), 10);
    }
    return tbody.rows.length;
  }

  function addRow(tbody, change, label) {
    var last = lastVersion(tbody);
    if (!isNaN(last) && change.version <= last) {
      return;
    }
    if (!isNaN(last) && change.version > last + 1) {
      // Several steps in one push (the projection folds a batch): read them all.
      window.location.reload();
      return;
    }
    var row = document.createElement("tr");
    row.setAttribute("data-version", String(change.version));
    row.className = "live-new";
    cell(row, when(change.occurred_at));
    var status = cell(row, label + " ");
    var hint = document.createElement("span");
    hint.className = "hint";
    var chorus = document.createElement("code");
    chorus.textContent = code(change);
    hint.appendChild(chorus);
    status.appendChild(hint);
    cell(row, change.event_type);
    cell(row, change.actor);
    var reason = cell(row);
    if (change.reason_code) {
      var reasonCode = document.createElement("strong");
      reasonCode.textContent = change.reason_code;
      reason.appendChild(reasonCode);
      reason.appendChild(document.createTextNode(" "));
    }
    reason.appendChild(document.createTextNode((change.reason || "") + (change.comment || "")));
    tbody.appendChild(row);
    tbody.setAttribute("data-live-version", String(change.version));
  }

  function apply(change) {
    var labels = change.labels || {};
    var label = labels[lang] || labels.en || change.summary;
    if ((applied[change.invoice_id] || 0) >= change.version) {
      return; // a redelivery, or older than what this page already shows
    }
    applied[change.invoice_id] = change.version;
    each("data-live-status", change.invoice_id, function (element) {
      if (!stale(element, change.version)) {
        element.textContent = label;
        // The status-<summary> class colours the status: follow it.
        Array.prototype.slice.call(element.classList).forEach(function (name) {
          if (name.indexOf("status-") === 0) {
            element.classList.remove(name);
          }
        });
        element.classList.add("status-" + change.summary.replace(/ /g, "-"));
        shown(element, change.version);
      }
    });
    each("data-live-code", change.invoice_id, function (element) {
      if (!stale(element, change.version)) {
        element.textContent = code(change);
        shown(element, change.version);
      }
    });
    var described = (change.status_labels || {})[lang];
    each(TEXT, change.invoice_id, function (element) {
      if (described && !stale(element, change.version)) {
        element.textContent = described;
        shown(element, change.version);
      }
    });
    each("data-live-timeline", change.invoice_id, function (tbody) {
      addRow(tbody, change, label);
    });
  }

  var source = new EventSource("/portal/live");
  source.addEventListener("status", function (event) {
    try {
      apply(JSON.parse(event.data));
    } catch (error) {
      if (window.console) {
        console.error("live update failed, reloading", error);
      }
      window.location.reload();
    }
  });
  // The server could not tell what this page missed: read it again.
  source.addEventListener("reload", function () {
    source.close();
    window.location.reload();
  });
  document.documentElement.setAttribute("data-live", "connecting");
  source.addEventListener("open", function () {
    document.documentElement.setAttribute("data-live", "on");
  });
  source.addEventListener("error", function () {
    // The browser retries by itself (with Last-Event-ID) unless the stream was refused.
    document.documentElement.setAttribute(
      "data-live",
      source.readyState === EventSource.CLOSED ? "off" : "connecting"
    );
  });
})();
