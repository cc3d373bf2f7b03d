// breakfix annotation app: keyboard labelling, drafts, the rationale check, adjudication helpers
// and the owner's live agreement table. Loaded as a static file because the Content-Security-Policy
// forbids inline script. It never inserts HTML: text from the server is written with textContent.
(function () {
  "use strict";

  function isTyping(el) {
    if (!el) return false;
    const tag = el.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && el.type !== "radio" && el.type !== "checkbox");
  }
  function announce(text) {
    const live = document.getElementById("announce");
    if (live) { live.textContent = ""; window.setTimeout(function () { live.textContent = text; }, 30); }
  }

  // ------------------------------------------------------------------ drafts
  // Choices are sent to the server as they change (debounced), before n/p navigation, and when the
  // page is left, so nothing chosen is lost. The server keeps one draft per rater and item.
  function setupDrafts(form) {
    const url = form.dataset.draftUrl;
    const state = document.getElementById("draft-state");
    let dirty = false, timer = null, pending = null;
    function send(beacon) {
      if (!dirty) return pending || Promise.resolve();
      dirty = false;
      const body = new FormData(form);
      if (beacon && navigator.sendBeacon) { navigator.sendBeacon(url, body); return Promise.resolve(); }
      pending = fetch(url, { method: "POST", body: body, credentials: "same-origin", keepalive: true })
        .then(function (r) { if (state && r.ok) state.textContent = "Draft kept"; })
        .catch(function () { dirty = true; })
        .finally(function () { pending = null; });
      return pending;
    }
    function changed() {
      dirty = true;
      if (state) state.textContent = "";
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { send(false); }, 400);
    }
    form.addEventListener("change", changed);
    form.addEventListener("input", changed);
    form.addEventListener("submit", function () { dirty = false; window.clearTimeout(timer); });
    window.addEventListener("pagehide", function () { if (dirty) send(true); });
    return { flush: function () { window.clearTimeout(timer); return send(false); } };
  }

  // ------------------------------------------------------------------ labelling
  function setupLabelling(form) {
    const factors = Array.from(form.querySelectorAll("fieldset.factor"));
    const rationale = form.querySelector("textarea[name=rationale]");
    const reasons = document.getElementById("quick-reasons");
    const reasonBoxes = reasons ? Array.from(reasons.querySelectorAll("input[type=checkbox]")) : [];
    const drafts = setupDrafts(form);
    if (!factors.length) return;
    let current = 0;
    let onReasons = false;

    function needRationale() { return rationale && rationale.dataset.need === "required"; }
    function hasRationale() {
      return (rationale && rationale.value.trim() !== "") || reasonBoxes.some(function (b) { return b.checked; });
    }
    function mark() {
      factors.forEach(function (f, i) { f.classList.toggle("active", !onReasons && i === current); });
    }
    function radios(i) { return Array.from(factors[i].querySelectorAll("input[type=radio]")); }
    // Focus goes to the factor's group, not to a radio: a focused radio looked like a chosen answer.
    function focusFactor(i) {
      onReasons = false;
      current = Math.max(0, Math.min(factors.length - 1, i));
      const checked = radios(current).find(function (r) { return r.checked; });
      (checked || factors[current]).focus({ preventScroll: true });
      factors[current].scrollIntoView({ block: "nearest" });
      mark();
    }
    function focusReasons() {
      onReasons = true;
      reasons.focus({ preventScroll: true });
      reasons.scrollIntoView({ block: "nearest" });
      mark();
    }
    function afterLastFactor() {
      if (needRationale() && !hasRationale()) {
        if (reasons) focusReasons(); else rationale.focus();
      }
    }
    function choose(value) {
      const r = radios(current).find(function (x) { return Number(x.value) === value; });
      if (!r) return false;
      r.checked = true;
      r.dispatchEvent(new Event("change", { bubbles: true }));
      announce(factors[current].querySelector("legend").textContent + ": " + value);
      if (current + 1 < factors.length) focusFactor(current + 1); else afterLastFactor();
      return true;
    }
    function toggleReason(k) {
      const box = reasonBoxes[k - 1];
      if (!box) return false;
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
      announce(box.parentElement.textContent.trim() + (box.checked ? " ticked" : " unticked"));
      return true;
    }
    function step(delta) {
      const rs = radios(current);
      let idx = rs.findIndex(function (r) { return r.checked; });
      idx = idx < 0 ? (delta > 0 ? 0 : rs.length - 1) : Math.max(0, Math.min(rs.length - 1, idx + delta));
      rs[idx].checked = true;
      rs[idx].dispatchEvent(new Event("change", { bubbles: true }));
      rs[idx].focus();
    }
    function go(id) {
      const link = document.getElementById(id);
      if (link) drafts.flush().then(function () { window.location.assign(link.href); });
    }
    function showError(el, text) {
      el.textContent = text; el.hidden = false;
    }
    // Checked before the form is sent: a message on the page (announced), never only a tooltip.
    function validate() {
      const client = document.getElementById("client-error");
      const missing = factors.filter(function (f) { return !f.querySelector("input:checked"); });
      if (missing.length) {
        showError(client, "Choose a value for: " + missing.map(function (f) { return f.querySelector("legend").textContent; }).join(", "));
        focusFactor(factors.indexOf(missing[0]));
        return false;
      }
      client.hidden = true;
      const rerr = document.getElementById("rationale-error");
      if (needRationale() && !hasRationale()) {
        rerr.hidden = false;
        if (reasons) focusReasons(); else rationale.focus();
        return false;
      }
      if (rerr) rerr.hidden = true;
      return true;
    }
    form.addEventListener("submit", function (e) { if (!validate()) e.preventDefault(); });

    factors.forEach(function (f, i) {
      f.addEventListener("focusin", function () { current = i; onReasons = false; mark(); });
      f.addEventListener("click", function () { current = i; onReasons = false; mark(); });
    });
    if (reasons) reasons.addEventListener("focusin", function () { onReasons = true; mark(); });
    document.querySelectorAll("#prev-link, #next-link").forEach(function (a) {
      a.addEventListener("click", function (e) { e.preventDefault(); go(a.id); });
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
        const done = onReasons ? toggleReason(Number(e.key)) : choose(Number(e.key));
        if (done) e.preventDefault();
      } else if (e.key === "ArrowDown") {
        e.preventDefault();
        if (!onReasons && current + 1 >= factors.length && reasons) focusReasons(); else focusFactor(onReasons ? current : current + 1);
      } else if (e.key === "ArrowUp") {
        e.preventDefault(); focusFactor(onReasons ? factors.length - 1 : current - 1);
      } else if (e.key === "ArrowRight" && !onReasons) {
        e.preventDefault(); step(1);
      } else if (e.key === "ArrowLeft" && !onReasons) {
        e.preventDefault(); step(-1);
      } else if (e.key === "Enter") {
        if (t && (t.tagName === "A" || t.tagName === "SUMMARY" || (t.tagName === "BUTTON" && t.form !== form))) return;
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
    window.scrollTo(0, 0);
    const err = document.getElementById("form-error");
    if (err && /Rationale/.test(err.textContent)) { if (reasons) focusReasons(); else if (rationale) rationale.focus(); }
  }

  // ------------------------------------------------------------------ adjudication: take a rater's values
  function setupTake() {
    document.querySelectorAll("button[data-take]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        const values = JSON.parse(btn.dataset.take);
        const form = btn.closest("form");
        Object.keys(values).forEach(function (fid) {
          const r = form.querySelector('input[name="f_' + CSS.escape(fid) + '"][value="' + String(Number(values[fid])) + '"]');
          if (r) r.checked = true;
        });
        announce(btn.textContent.trim() + ": values copied");
      });
    });
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
    // On a phone the guidance starts folded: the scales should start near the reply.
    const guidance = document.getElementById("guidance");
    if (guidance && window.matchMedia("(max-width: 900px)").matches) guidance.open = false;
    if (form) setupLabelling(form);
    setupTake();
    const live = document.getElementById("live");
    if (live) setupLive(live);
    const saved = document.getElementById("saved");
    if (saved) announce(saved.textContent);
  });
})();
