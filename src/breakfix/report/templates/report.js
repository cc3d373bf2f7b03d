// breakfix report: paginates, filters and expands attempts that travel as data.
// Every value from the run (model output above all) reaches the page through textContent or
// option.text, never through innerHTML, so it is shown as text and can never run.
(function () {
  "use strict";
  var PAGE = 50;
  var indexEl = document.getElementById("bf-index");
  // The detail chunks follow this script in the file; an element still being parsed could be read
  // half-filled, so chunks are read only once the whole document is parsed.
  var parsed = new Promise(function (resolve) {
    if (document.readyState !== "loading") resolve();
    else document.addEventListener("DOMContentLoaded", function () { resolve(); });
  });
  var chunkCache = new Map();
  var idx = null;
  var view = new Int32Array(0);
  var page = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function bytesOf(b64) {
    var bin = atob(b64.trim());
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // A data block is escaped JSON, or gzip+base64 inflated by the browser's DecompressionStream.
  function decode(node) {
    if (node.dataset.mode === "json") return Promise.resolve(JSON.parse(node.textContent));
    var stream = new Blob([bytesOf(node.textContent)]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }

  function chunk(k) {
    if (!chunkCache.has(k)) {
      chunkCache.set(k, parsed.then(function () {
        var node = document.querySelectorAll("script.bf-chunk")[k];
        if (!node) throw new Error("detail chunk " + k + " is missing from the file");
        return decode(node);
      }));
    }
    return chunkCache.get(k);
  }

  function detailOf(pos) {
    var k = Math.floor(pos / idx.chunk);
    return chunk(k).then(function (c) { return c[pos - k * idx.chunk]; });
  }

  var F = {
    label: document.getElementById("f-label"), attack: document.getElementById("f-attack"),
    conv: document.getElementById("f-conv"), target: document.getElementById("f-target"),
    cat: document.getElementById("f-cat"), lang: document.getElementById("f-lang"),
    text: document.getElementById("f-text")
  };

  function fillSelect(sel, values, show) {
    values.forEach(function (v, i) {
      var o = document.createElement("option");
      o.value = String(i);
      o.text = show ? show(v) : v;
      sel.appendChild(o);
    });
  }

  function applyFilters() {
    var want = {};
    ["label", "attack", "conv", "target", "cat", "lang"].forEach(function (k) {
      want[k] = F[k].value === "" ? -1 : parseInt(F[k].value, 10);
    });
    var text = F.text.value.trim().toLowerCase();
    var n = idx.id.length;
    var keep = new Int32Array(n);
    var m = 0;
    for (var i = 0; i < n; i++) {
      if (want.label >= 0 && idx.label[i] !== want.label) continue;
      if (want.attack >= 0 && idx.attack[i] !== want.attack) continue;
      if (want.conv >= 0 && idx.conv[i] !== want.conv) continue;
      if (want.target >= 0 && idx.target[i] !== want.target) continue;
      if (want.cat >= 0 && idx.cat[i] !== want.cat) continue;
      if (want.lang >= 0 && idx.lang[i] !== want.lang) continue;
      if (text && idx.q[i].toLowerCase().indexOf(text) < 0 && idx.r[i].toLowerCase().indexOf(text) < 0 &&
          idx.id[i].toLowerCase().indexOf(text) < 0) continue;
      keep[m++] = i;
    }
    view = keep.subarray(0, m);
    page = 0;
  }

  function pages() { return Math.max(1, Math.ceil(view.length / PAGE)); }

  function badge(label) { return el("span", "badge l-" + label, label); }

  function renderPage() {
    var list = document.getElementById("attempt-list");
    list.replaceChildren();
    var start = page * PAGE, end = Math.min(view.length, start + PAGE);
    for (var j = start; j < end; j++) list.appendChild(row(view[j]));
    document.getElementById("p-info").textContent = view.length
      ? "attempts " + (start + 1) + "–" + end + " of " + view.length + " (page " + (page + 1) + " of " + pages() + ")"
      : "no attempt matches";
    document.getElementById("p-prev").disabled = document.getElementById("p-first").disabled = page === 0;
    document.getElementById("p-next").disabled = document.getElementById("p-last").disabled = page >= pages() - 1;
  }

  function row(pos) {
    var d = el("details", "attempt");
    d.dataset.pos = String(pos);
    d.dataset.id = idx.id[pos];
    var s = el("summary");
    s.appendChild(el("span", "seq", "#" + (pos + 1)));
    var b = el("span");
    b.appendChild(badge(idx.labels[idx.label[pos]]));
    s.appendChild(b);
    var prev = el("span", "prev");
    var conv = idx.values.conv[idx.conv[pos]];
    var what = idx.values.attack[idx.attack[pos]] + (conv ? " + " + conv : "") + " → " +
      idx.values.target[idx.target[pos]] + " · " + (idx.values.cat[idx.cat[pos]] || "–") + " · " +
      (idx.values.lang[idx.lang[pos]] || "–") + (idx.turns[pos] > 1 ? " · " + idx.turns[pos] + " turns" : "") +
      " · " + idx.calls[pos] + " call" + (idx.calls[pos] === 1 ? "" : "s");
    prev.appendChild(el("div", "what", what));
    prev.appendChild(el("div", "q", idx.q[pos]));
    prev.appendChild(el("div", "r", idx.r[pos]));
    s.appendChild(prev);
    s.appendChild(el("span", "lat", idx.lat[pos].toFixed(3) + " s"));
    d.appendChild(s);
    d.addEventListener("toggle", function () {
      if (d.open && !d.dataset.loaded) {
        d.dataset.loaded = "1";
        var body = el("div", "body", "loading…");
        d.appendChild(body);
        detailOf(pos).then(function (det) { fillDetail(body, det); })
          .catch(function (e) { body.textContent = "could not decode this attempt: " + e; });
      }
    });
    return d;
  }

  function textBlock(text, cls) { return el("pre", "text" + (cls ? " " + cls : ""), text); }

  function scoreText(s) {
    if (!s) return "";
    return s.n + (s.v ? " v" + s.v : "") + (s.x === null || s.x === undefined ? "" : " = " + s.x);
  }

  function fillDetail(body, det) {
    body.replaceChildren();
    body.appendChild(el("div", "kv", "attempt " + det.id + " · item " + det.item + " · tokens " +
      (det.pt === null ? "–" : det.pt) + " in / " + (det.ct === null ? "–" : det.ct) + " out · retries " + det.retries));
    body.appendChild(el("h4", null, "Conversation sent"));
    if (!det.msgs.length) body.appendChild(el("div", "kv", "(not recorded)"));
    det.msgs.forEach(function (m) {
      var box = el("div", "msg role-" + (["user", "assistant", "system"].indexOf(m[0]) >= 0 ? m[0] : "other"));
      box.appendChild(el("div", "role", m[0]));
      box.appendChild(textBlock(m[1]));
      body.appendChild(box);
    });
    body.appendChild(el("h4", null, det.err ? "Error" : "Response"));
    body.appendChild(det.err ? textBlock(det.err, "errtext response") : textBlock(det.resp, "response"));
    if (det.scores.length) {
      body.appendChild(el("h4", null, "Scores"));
      var t = el("table", "scores");
      var hr = el("tr");
      ["scorer", "version", "label", "value", "rationale"].forEach(function (h) { hr.appendChild(el("th", null, h)); });
      t.appendChild(hr);
      det.scores.forEach(function (s) {
        var tr = el("tr");
        tr.appendChild(el("td", null, s.n));
        tr.appendChild(el("td", null, s.v));
        var lc = el("td");
        lc.appendChild(badge(s.l));
        tr.appendChild(lc);
        tr.appendChild(el("td", null, s.x === null || s.x === undefined ? "–" : s.x));
        tr.appendChild(el("td", null, s.r));
        t.appendChild(tr);
      });
      body.appendChild(t);
    }
    if (det.turns.length) {
      body.appendChild(el("h4", null, "Conversation tree (" + det.turns.length + " turns; backtracked turns struck through)"));
      body.appendChild(tree(det.turns));
    }
    if (det.md) {
      body.appendChild(el("h4", null, "Metadata"));
      body.appendChild(textBlock(JSON.stringify(det.md, null, 2)));
    }
  }

  // Turns arrive with their parent resolved to a position in the list (or null for a root).
  function tree(turns) {
    var kids = turns.map(function () { return []; });
    var roots = [];
    turns.forEach(function (t, pos) {
      if (t.p === null || t.p === undefined || t.p >= pos) roots.push(pos); else kids[t.p].push(pos);
    });
    function node(pos) {
      var t = turns[pos];
      var li = el("li", "turn" + (t.b ? " backtracked" : ""));
      li.dataset.turn = String(t.i);
      var head = el("div", "turnhead");
      head.appendChild(el("b", null, "turn " + t.i + " "));
      if (t.s) {
        head.appendChild(badge(t.s.l));
        head.appendChild(el("span", "kv", " " + scoreText(t.s)));
      }
      if (t.b) head.appendChild(el("span", "kv", " · backtracked"));
      var notes = Object.keys(t.m || {}).map(function (k) { return k + ": " + t.m[k]; });
      if (notes.length) head.appendChild(el("span", "kv notes", " · " + notes.join(" · ")));
      li.appendChild(head);
      var tb = el("div", "turnbody");
      tb.appendChild(el("div", "role", "attacker → target"));
      tb.appendChild(textBlock(t.q));
      tb.appendChild(el("div", "role", "target"));
      tb.appendChild(textBlock(t.r));
      if (t.s && t.s.r) tb.appendChild(el("div", "kv", "rationale: " + t.s.r));
      li.appendChild(tb);
      if (kids[pos].length) {
        var ul = el("ul", "tree");
        kids[pos].forEach(function (c) { ul.appendChild(node(c)); });
        li.appendChild(ul);
      }
      return li;
    }
    var root = el("ul", "tree root");
    roots.forEach(function (r) { root.appendChild(node(r)); });
    return root;
  }

  function go(p) { page = Math.min(Math.max(0, p), pages() - 1); renderPage(); }

  // "#attempt=ID" (links in the tables above): clear filters, show its page and open it.
  function openFromHash() {
    var m = /^#attempt=(.+)$/.exec(location.hash);
    if (!m || !idx) return;
    var id = decodeURIComponent(m[1]);
    var pos = idx.id.indexOf(id);
    if (pos < 0) return;
    Object.keys(F).forEach(function (k) { F[k].value = ""; });
    applyFilters();
    go(Math.floor(pos / PAGE));
    var d = document.querySelector("details.attempt[data-pos='" + pos + "']");
    if (d) { d.open = true; d.scrollIntoView(); }
  }

  decode(indexEl).then(function (data) {
    idx = data;
    fillSelect(F.label, idx.labels);
    fillSelect(F.attack, idx.values.attack);
    fillSelect(F.conv, idx.values.conv, function (v) { return v || "(none)"; });
    fillSelect(F.target, idx.values.target);
    fillSelect(F.cat, idx.values.cat, function (v) { return v || "(none)"; });
    fillSelect(F.lang, idx.values.lang, function (v) { return v || "(none)"; });
    ["label", "attack", "conv", "target", "cat", "lang"].forEach(function (k) {
      F[k].addEventListener("change", function () { applyFilters(); renderPage(); });
    });
    var timer = null;
    F.text.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { applyFilters(); renderPage(); }, 200);
    });
    document.getElementById("filters").addEventListener("submit", function (e) { e.preventDefault(); });
    document.getElementById("p-first").addEventListener("click", function () { go(0); });
    document.getElementById("p-prev").addEventListener("click", function () { go(page - 1); });
    document.getElementById("p-next").addEventListener("click", function () { go(page + 1); });
    document.getElementById("p-last").addEventListener("click", function () { go(pages() - 1); });
    window.addEventListener("hashchange", openFromHash);
    applyFilters();
    renderPage();
    openFromHash();
    document.documentElement.dataset.readyMs = String(Math.round(performance.now()));
    document.documentElement.dataset.ready = "1";
  }).catch(function (e) {
    document.getElementById("p-info").textContent = "could not read the attempt data: " + e;
    document.documentElement.dataset.ready = "error";
  });
})();
