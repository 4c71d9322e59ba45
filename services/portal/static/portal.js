/* The invoice form: adds and removes invoice lines and keeps the totals live, in the
 * browser, and makes the buyer search a typeahead.
 *
 * The form works without this script (its buttons post it back and the server computes or
 * searches); with it, the amounts are computed here exactly as the server does: decimal
 * arithmetic on integers (BigInt, never floating point), each line's net amount rounded half
 * up to the cent, VAT computed once per (category, rate) on the sum of its lines, rounded
 * half up; and written as the page's language writes them (services/portal/formats.py).
 */
(function () {
  "use strict";

  document.documentElement.classList.add("js");
  var french = (document.documentElement.lang || "en").slice(0, 2) === "fr";

  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }

  var form = document.getElementById("invoice-form");
  var rows = document.getElementById("line-rows");
  var template = document.getElementById("line-template");
  if (!form || !rows || !template) {
    return;
  }

  // ------------------------------------------------------------ decimals

  // "1 234,50" -> {m: 123450n, s: 2}; null when not a number the server would take.
  function parse(text, maxScale, allowNegative) {
    var t = text.replace(/[\s\u00a0\u202f]/g, "").replace(/,/g, ".");
    var match = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(t);
    if (!match || (match[2] === "" && !match[3])) {
      return null;
    }
    var fraction = match[3] || "";
    if (fraction.length > maxScale) {
      return null;
    }
    var m = BigInt((match[2] || "0") + fraction);
    if (match[1] === "-") {
      if (!allowNegative && m !== 0n) {
        return null;
      }
      m = -m;
    }
    return { m: m, s: fraction.length };
  }

  function pow10(n) {
    return 10n ** BigInt(n);
  }

  // The value m x 10^-s in cents, rounded half up (away from zero on a tie, as Python's
  // ROUND_HALF_UP).
  function cents(m, s) {
    if (s <= 2) {
      return m * pow10(2 - s);
    }
    var d = pow10(s - 2);
    var negative = m < 0n;
    var a = negative ? -m : m;
    var q = a / d;
    if ((a % d) * 2n >= d) {
      q += 1n;
    }
    return negative ? -q : q;
  }

  // "1 234,50" (narrow no-break spaces) in French, "1,234.50" in English.
  function money(c) {
    var negative = c < 0n;
    var a = negative ? -c : c;
    var fraction = String(a % 100n);
    var whole = String(a / 100n).replace(/\B(?=(\d{3})+(?!\d))/g, french ? "\u202f" : ",");
    return (negative ? "-" : "") + whole + (french ? "," : ".") + (fraction.length < 2 ? "0" : "") + fraction;
  }

  function rateLabel(text) {
    return french ? text.replace(".", ",") : text;
  }

  // ------------------------------------------------------------ totals

  function field(row, name) {
    return row.querySelector('[name$="-' + name + '"]');
  }

  function compute() {
    var groups = [];
    var byKey = {};
    var leftOut = [];
    var lineTotal = 0n;
    Array.prototype.forEach.call(rows.querySelectorAll("tr[data-line]"), function (row, index) {
      var quantity = parse(field(row, "quantity").value, 4, true);
      var price = parse(field(row, "unit_price").value, 4, false);
      var vat = /^([A-Z]+):(\d+(?:\.\d+)?)$/.exec(field(row, "vat").value);
      var output = row.querySelector("[data-net]");
      if (!quantity || !price || !vat) {
        output.textContent = "\u2014";
        leftOut.push(index + 1);
        return;
      }
      var net = cents(quantity.m * price.m, quantity.s + price.s);
      output.textContent = money(net);
      lineTotal += net;
      var rate = parse(vat[2], 2, false);
      var key = vat[1] + ":" + String(cents(rate.m, rate.s));
      if (!byKey[key]) {
        byKey[key] = { category: vat[1], label: vat[2], rate: rate, base: 0n };
        groups.push(byKey[key]);
      }
      byKey[key].base += net;
    });
    var breakdown = document.getElementById("vat-breakdown");
    while (breakdown.firstChild) {
      breakdown.removeChild(breakdown.firstChild);
    }
    var vatTotal = 0n;
    groups.forEach(function (group) {
      // base (cents) x rate / 100: scale 2 + rate's scale + 2
      var tax = cents(group.base * group.rate.m, 2 + group.rate.s + 2);
      vatTotal += tax;
      var tr = document.createElement("tr");
      [group.category, rateLabel(group.label) + " %", money(group.base), money(tax)].forEach(function (text, i) {
        var td = document.createElement("td");
        td.textContent = text;
        if (i > 1) {
          td.className = "amount";
        }
        tr.appendChild(td);
      });
      breakdown.appendChild(tr);
    });
    var gross = lineTotal + vatTotal;
    document.getElementById("total-net").textContent = money(lineTotal);
    document.getElementById("total-vat").textContent = money(vatTotal);
    document.getElementById("total-gross").textContent = money(gross);
    document.getElementById("total-payable").textContent = money(gross);
    var note = document.getElementById("totals-note");
    note.textContent = leftOut.length
      ? note.getAttribute("data-left-out") + " " + leftOut.join(", ") + "."
      : "";
    var currency = document.getElementById("currency").value.trim().toUpperCase();
    Array.prototype.forEach.call(document.querySelectorAll("[data-currency]"), function (span) {
      span.textContent = currency;
    });
  }

  // ------------------------------------------------------------ lines

  // Rows are numbered 0..n-1 in their names and ids (lines-0-name...), 1..n for people.
  function renumber() {
    Array.prototype.forEach.call(rows.querySelectorAll("tr[data-line]"), function (row, i) {
      var n = String(i + 1);
      ["id", "name", "for", "aria-describedby"].forEach(function (attribute) {
        Array.prototype.forEach.call(row.querySelectorAll("[" + attribute + "]"), function (el) {
          el.setAttribute(attribute, el.getAttribute(attribute).replace(/lines-\d+-/g, "lines-" + i + "-"));
        });
      });
      Array.prototype.forEach.call(row.querySelectorAll("label"), function (label) {
        // The page's own words (its language), with "#" for the line's number.
        label.textContent = rows.getAttribute("data-line-label").replace("#", n) + label.getAttribute("data-suffix");
      });
      row.querySelector("[data-number]").textContent = n;
      var remove = row.querySelector("[data-remove]");
      remove.value = "remove-" + i;
      remove.textContent = rows.getAttribute("data-remove-label").replace("#", n);
    });
  }

  function addLine() {
    var count = rows.querySelectorAll("tr[data-line]").length;
    var max = parseInt(rows.getAttribute("data-max"), 10);
    if (count >= max) {
      return null;
    }
    var html = template.innerHTML.replace(/__i__/g, String(count)).replace(/__n__/g, String(count + 1));
    rows.insertAdjacentHTML("beforeend", html);
    var row = rows.querySelectorAll("tr[data-line]")[count];
    renumber();
    return row;
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[name=action]");
    if (!button) {
      return;
    }
    if (button.value === "add-line") {
      event.preventDefault();
      var added = addLine();
      if (added) {
        field(added, "name").focus();
      }
      compute();
    } else if (button.hasAttribute("data-remove")) {
      event.preventDefault();
      var row = button.closest("tr[data-line]");
      var next = row.nextElementSibling || row.previousElementSibling;
      row.parentNode.removeChild(row);
      if (!rows.querySelector("tr[data-line]")) {
        next = addLine();
      }
      renumber();
      compute();
      (next ? field(next, "name") : document.getElementById("add-line")).focus();
    }
  });

  form.addEventListener("input", compute);
  form.addEventListener("change", compute);
  compute();

  // ------------------------------------------------------------ buyer search (typeahead)

  // The search field becomes a combobox (WAI-ARIA pattern): results as a listbox under it,
  // arrows to move, Enter to choose, Escape to close. Choosing fills the recipient's SIRET
  // and service code, as the server's result buttons do without JavaScript.
  var search = document.getElementById("buyer_q");
  if (search && window.fetch) {
    buyerSearch(search);
  }

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : all;
    });
  }

  function buyerSearch(input) {
    var results = document.getElementById("buyer-results");
    var picked = document.getElementById("buyer-picked");
    var button = document.getElementById("buyer-search-button");
    var siret = document.getElementById("recipient_siret");
    var service = document.getElementById("service_code");
    var listId = "buyer-listbox";
    var timer = null;
    var controller = null;
    var found = [];
    var active = -1;
    var said = document.createElement("p");
    said.className = "hint";
    said.setAttribute("aria-live", "polite");
    results.parentNode.insertBefore(said, results);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listId);

    function text(name) {
      return input.getAttribute("data-" + name) || "";
    }

    function close() {
      while (results.firstChild) {
        results.removeChild(results.firstChild);
      }
      found = [];
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function show(query, matches) {
      close();
      if (!matches.length) {
        said.textContent = fill(text("none"), { q: query });
        return;
      }
      said.textContent = fill(text("count"), { n: String(matches.length) });
      var list = document.createElement("ul");
      list.id = listId;
      list.setAttribute("role", "listbox");
      list.setAttribute("aria-label", text("results-label"));
      matches.forEach(function (match, i) {
        var option = document.createElement("li");
        option.id = listId + "-" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        var name = document.createElement("strong");
        name.textContent = match.name;
        option.appendChild(name);
        option.appendChild(document.createTextNode(" \u2014 " + (match.service_name || text("whole")) + " "));
        var detail = document.createElement("small");
        detail.className = "hint";
        detail.textContent = "SIRET " + match.siret
          + (match.service_code ? " \u00b7 " + match.service_code : "")
          + (match.order_reference_required ? " \u00b7 " + text("ej") : "");
        option.appendChild(detail);
        // mousedown would take the focus from the field: the choice is made on click.
        option.addEventListener("mousedown", function (event) {
          event.preventDefault();
        });
        option.addEventListener("click", function () {
          choose(i);
        });
        list.appendChild(option);
      });
      results.appendChild(list);
      found = matches;
      input.setAttribute("aria-expanded", "true");
    }

    function move(step) {
      if (!found.length) {
        return;
      }
      active = (active + step + found.length) % found.length;
      Array.prototype.forEach.call(results.querySelectorAll("[role=option]"), function (option, i) {
        option.setAttribute("aria-selected", i === active ? "true" : "false");
        if (i === active) {
          option.scrollIntoView({ block: "nearest" });
        }
      });
      input.setAttribute("aria-activedescendant", listId + "-" + active);
    }

    function choose(i) {
      var match = found[i];
      siret.value = match.siret;
      service.value = match.service_code;
      var detail = match.service_code ? fill(text("picked-service"), { code: match.service_code }) : "";
      picked.textContent = fill(text("picked"), { name: match.name, siret: match.siret, service: detail });
      picked.hidden = false;
      close();
      said.textContent = "";
      input.value = match.name;
    }

    function run(query) {
      window.clearTimeout(timer);
      if (controller) {
        controller.abort();
      }
      if (query.replace(/\s/g, "").length < 2) {
        close();
        said.textContent = "";
        return;
      }
      controller = window.AbortController ? new AbortController() : null;
      window
        .fetch(text("search") + "?q=" + encodeURIComponent(query), {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
          signal: controller ? controller.signal : undefined,
        })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("search answered " + response.status);
          }
          return response.json();
        })
        .then(function (answer) {
          if (input.value === query) {
            show(query, answer.results || []);
          }
        })
        .catch(function (error) {
          if (error.name !== "AbortError" && window.console) {
            console.error("buyer search failed", error); // the Search button still works
          }
        });
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      var query = input.value;
      timer = window.setTimeout(function () {
        run(query);
      }, 200);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (found.length) {
          move(1);
        } else {
          run(input.value);
        }
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        move(-1);
      } else if (event.key === "Enter") {
        event.preventDefault(); // not the form's first button
        if (active >= 0) {
          choose(active);
        } else {
          run(input.value);
        }
      } else if (event.key === "Escape" && found.length) {
        event.preventDefault();
        close();
      }
    });
    button.addEventListener("click", function (event) {
      event.preventDefault();
      run(input.value);
      input.focus();
    });
  }
})();
