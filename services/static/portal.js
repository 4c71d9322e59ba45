/* Supplier portal: adds and removes invoice lines and keeps the totals live, in the browser.
 *
 * The form works without this script (its buttons post it back and the server computes);
 * with it, the amounts are computed here exactly as the server does: decimal arithmetic on
 * integers (BigInt, never floating point), each line's net amount rounded half up to the
 * cent, VAT computed once per (category, rate) on the sum of its lines, rounded half up.
 */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

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

  function money(c) {
    var negative = c < 0n;
    var a = negative ? -c : c;
    var fraction = String(a % 100n);
    return (negative ? "-" : "") + String(a / 100n) + "." + (fraction.length < 2 ? "0" : "") + fraction;
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
      [group.category, group.label + " %", money(group.base), money(tax)].forEach(function (text, i) {
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
})();
