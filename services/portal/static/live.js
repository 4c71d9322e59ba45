// Live status push (services/http/live.py): an EventSource on /portal/live keeps every part of the
// page that depends on an invoice's status up to date, without a reload:
//   [data-live-status="<invoice id>"]   the plain-word status, in the page's language
//   [data-live-code="<invoice id>"]     the Chorus Pro status and its reform code
//   [data-live-status-text="<id>"]      the Chorus Pro status described in words (text only)
//   [data-live-region="<invoice id>"]   a part of the page that the server renders from the
//                                       status (the invoice's status, action forms and
//                                       timeline; a row of a list with its buttons): read
//                                       again from data-live-source and put in place, so
//                                       its words, its forms and its status always agree
// The three first are changed at once; the regions follow, read from the server, which words
// the timeline and decides which actions the account may perform. An element may carry
// data-live-version (the version it shows): older pushes leave it alone.
// Pages without such elements (the invoice form) open no stream.
(function () {
  "use strict";
  var SELECTOR = "[data-live-status], [data-live-code], [data-live-region]";
  var TEXT = "data-live-status-text";
  if (!window.EventSource || !document.querySelector(SELECTOR)) {
    return;
  }
  var lang = (document.documentElement.lang || "en").slice(0, 2);
  var applied = {}; // invoice id -> newest version shown since the page loaded
  var sources = {}; // URL -> what is waiting to be read from it

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

  function fail(error) {
    if (window.console) {
      console.error("live update failed, reloading", error);
    }
    window.location.reload();
  }

  // ------------------------------------------------------------ regions

  function refresh(id, version) {
    each("data-live-region", id, function (region) {
      if (stale(region, version)) {
        return;
      }
      var url = region.getAttribute("data-live-source") || window.location.pathname + window.location.search;
      var job = sources[url] || (sources[url] = { ids: {}, timer: null, busy: false });
      job.ids[id] = true;
      schedule(url, job);
    });
  }

  // Pushes arriving together (a batch of the projection) make one request per URL.
  function schedule(url, job) {
    if (job.busy || job.timer) {
      return;
    }
    job.timer = window.setTimeout(function () {
      job.timer = null;
      load(url, job);
    }, 100);
  }

  function load(url, job) {
    var ids = Object.keys(job.ids);
    job.ids = {};
    job.busy = true;
    window
      .fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (response) {
        // Signed out (the login page), or the invoice no longer visible: read it all again.
        if (!response.ok || response.redirected) {
          throw new Error(url + " answered " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        ids.forEach(function (id) {
          swap(id, fresh);
        });
        job.busy = false;
        if (Object.keys(job.ids).length) {
          schedule(url, job);
        }
      })
      .catch(fail);
  }

  // What the user typed in the region's fields, kept across the swap (by element id).
  function typed(region) {
    var values = {};
    Array.prototype.forEach.call(region.querySelectorAll("input[id], textarea[id], select[id]"), function (field) {
      if (field.type === "hidden" || field.type === "file") {
        return;
      }
      if (field.tagName === "SELECT") {
        var chosen = field.options[field.selectedIndex];
        if (chosen && !chosen.defaultSelected) {
          values[field.id] = field.value;
        }
      } else if (field.value !== field.defaultValue) {
        values[field.id] = field.value;
      }
    });
    return values;
  }

  function swap(id, fresh) {
    each("data-live-region", id, function (old) {
      var replacement = old.id ? fresh.getElementById(old.id) : null;
      if (!replacement) {
        // No longer on this page (a list filtered on another status): its buttons are out
        // of date; the status shown was updated in place.
        Array.prototype.forEach.call(old.querySelectorAll("form"), function (form) {
          form.parentNode.removeChild(form);
        });
        return;
      }
      var values = typed(old);
      var focused = document.activeElement && old.contains(document.activeElement) ? document.activeElement.id : "";
      var node = document.importNode(replacement, true);
      old.parentNode.replaceChild(node, old);
      Object.keys(values).forEach(function (fieldId) {
        var field = document.getElementById(fieldId);
        if (field && node.contains(field)) {
          field.value = values[fieldId];
        }
      });
      if (focused) {
        var again = document.getElementById(focused);
        if (again && node.contains(again)) {
          again.focus();
        } else {
          // The control had gone (an action no longer possible): the status says why.
          var current = node.querySelector("[data-live-status]");
          if (current) {
            current.setAttribute("tabindex", "-1");
            current.focus();
          }
        }
      }
      announce(node);
    });
  }

  function announce(region) {
    var announcer = document.getElementById("live-announce");
    var status = region.querySelector("[data-live-status]");
    if (announcer && status) {
      announcer.textContent = announcer.getAttribute("data-template").replace("{status}", status.textContent.trim());
    }
  }

  // ------------------------------------------------------------ in place, at once

  function code(change) {
    return change.status + " \u00b7 " + change.reform_code;
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
    refresh(change.invoice_id, change.version);
  }

  var source = new EventSource("/portal/live");
  source.addEventListener("status", function (event) {
    try {
      apply(JSON.parse(event.data));
    } catch (error) {
      fail(error);
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
