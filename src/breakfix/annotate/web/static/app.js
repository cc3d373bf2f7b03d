// breakfix annotation app: keyboard labelling and the owner's live agreement table.
// Loaded as a static file because the Content-Security-Policy forbids inline script.
// It never inserts HTML: text from the server is written with textContent only.
(function () {
  "use strict";

  function isTyping(el) {
    if (!el) return false;
    const tag = el.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && el.type !== "radio" && el.type !== "checkbox");
  }

  // ------------------------------------------------------------------ labelling
  function setupLabelling(form) {
    const factors = Array.from(form.querySelectorAll("fieldset.factor"));
    const rationale = form.querySelector("textarea[name=rationale]");
    if (!factors.length) return;
    let current = 0;

    function mark() {
      factors.forEach(function (f, i) { f.classList.toggle("active", i === current); });
    }
    function radios(i) { return Array.from(factors[i].querySelectorAll("input[type=radio]")); }
    function focusFactor(i) {
      current = Math.max(0, Math.min(factors.length - 1, i));
      const rs = radios(current);
      const target = rs.find(function (r) { return r.checked; }) || rs[0];
      if (target) target.focus({ preventScroll: false });
      mark();
    }
    function choose(value) {
      const r = radios(current).find(function (x) { return Number(x.value) === value; });
      if (!r) return false;
      r.checked = true;
      if (current + 1 < factors.length) {
        focusFactor(current + 1);
      } else if (rationale && !rationale.value.trim() && rationale.required) {
        rationale.focus();
      } else {
        r.focus();
      }
      return true;
    }
    function step(delta) {
      const rs = radios(current);
      let idx = rs.findIndex(function (r) { return r.checked; });
      idx = idx < 0 ? (delta > 0 ? 0 : rs.length - 1) : Math.max(0, Math.min(rs.length - 1, idx + delta));
      rs[idx].checked = true;
      rs[idx].focus();
    }
    function go(id) {
      const link = document.getElementById(id);
      if (link) window.location.assign(link.href);
    }

    factors.forEach(function (f, i) {
      f.addEventListener("focusin", function () { current = i; mark(); });
      f.addEventListener("click", function () { current = i; mark(); });
    });

    document.addEventListener("keydown", function (e) {
      const t = e.target;
      if (isTyping(t)) {
        if (t === rationale && e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          form.requestSubmit();
        } else if (e.key === "Escape") {
          e.preventDefault();
          t.blur();
          focusFactor(current);
        }
        return;
      }
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (t && t.form && t.form !== form) return;  // e.g. the log-out button
      if (/^[0-9]$/.test(e.key)) {
        if (choose(Number(e.key))) e.preventDefault();
      } else if (e.key === "ArrowDown") {
        e.preventDefault(); focusFactor(current + 1);
      } else if (e.key === "ArrowUp") {
        e.preventDefault(); focusFactor(current - 1);
      } else if (e.key === "ArrowRight") {
        e.preventDefault(); step(1);
      } else if (e.key === "ArrowLeft") {
        e.preventDefault(); step(-1);
      } else if (e.key === "Enter") {
        if (t && (t.tagName === "A" || (t.tagName === "BUTTON" && t.form !== form))) return;
        e.preventDefault();
        form.requestSubmit();
      } else if (e.key === "n") {
        e.preventDefault(); go("next-link");
      } else if (e.key === "p") {
        e.preventDefault(); go("prev-link");
      } else if (e.key === "r" && rationale) {
        e.preventDefault(); rationale.focus();
      }
    });

    const firstEmpty = factors.findIndex(function (f) { return !f.querySelector("input:checked"); });
    focusFactor(firstEmpty < 0 ? 0 : firstEmpty);
  }

  // ------------------------------------------------------------------ owner: live agreement
  function fmt(x) { return x === null || x === undefined ? "—" : Number(x).toFixed(3); }
  function pct(x) { return x === null || x === undefined ? "—" : (100 * Number(x)).toFixed(1) + " %"; }

  function setupLive(badge) {
    const table = document.getElementById("agreement");
    const src = badge.dataset.src;
    if (!table || !src) return;
    function refresh() {
      fetch(src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data || !data.agreement || !data.agreement.available) return;
          data.agreement.factors.forEach(function (f) {
            const row = table.querySelector('tr[data-factor="' + CSS.escape(f.factor) + '"]');
            if (!row) return;
            const cell = function (k) { return row.querySelector('[data-k="' + k + '"]'); };
            cell("n_units").textContent = String(f.n_units);
            cell("alpha").textContent = fmt(f.alpha);
            cell("alpha").dataset.value = f.alpha === null ? "" : String(f.alpha);
            cell("alpha_ci").textContent = fmt(f.alpha_ci[0]) + " – " + fmt(f.alpha_ci[1]);
            cell("icc").textContent = fmt(f.icc) + (f.icc_form ? " " + f.icc_form : "");
            cell("icc").dataset.value = f.icc === null ? "" : String(f.icc);
            cell("icc_ci").textContent = fmt(f.icc_ci[0]) + " – " + fmt(f.icc_ci[1]);
            cell("percent_agreement").textContent = pct(f.percent_agreement);
            cell("percent_agreement").dataset.value = f.percent_agreement === null ? "" : String(f.percent_agreement);
          });
          (data.progress || []).forEach(function (p) {
            const row = document.querySelector('#progress-table tr[data-rater="' + CSS.escape(p.rater) + '"]');
            if (!row) return;
            row.querySelector(".done").textContent = String(p.done);
            row.querySelector("progress").value = p.done;
          });
        })
        .catch(function () { /* offline for a moment: try again at the next tick */ });
    }
    window.setInterval(refresh, 10000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("label-form");
    if (form) setupLabelling(form);
    const live = document.getElementById("live");
    if (live) setupLive(live);
  });
})();
