// resplay report: draws every section from the JSON in #resplay-data.
// No library, no network: the page must open from file:// (docs/report.md
// says why the charts are drawn by hand). Text from the cassette only ever
// goes in through textContent, never as markup.
(function () {
  'use strict';
  const D = JSON.parse(document.getElementById('resplay-data').textContent);
  const $ = (sel, root) => (root || document).querySelector(sel);
  const SVG = 'http://www.w3.org/2000/svg';

  /** An element with attributes (`text` sets textContent) and children. */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }
  const num = (n) => Number(n).toLocaleString('en-US');
  function us(v) {
    if (v < 1000) return v + ' µs';
    if (v < 1e6) return (v / 1e3).toFixed(v < 1e4 ? 2 : 1) + ' ms';
    return (v / 1e6).toFixed(2) + ' s';
  }
  const msText = (v) => (v < 1000 ? v.toFixed(v < 10 ? 2 : 0) + ' ms' : (v / 1000).toFixed(2) + ' s');
  function bytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KB';
    return (n / 1048576).toFixed(1) + ' MB';
  }
  /** A link that focuses mark `e` on the timeline. */
  const markLink = (e, text) => el('a', { href: '#timeline', 'data-e': e, class: 'mark-link', text });
  function table(root, head, rows) {
    const t = $('table', root) || root;
    t.replaceChildren(el('thead', {}, el('tr', {}, ...head.map(([h, cls]) => el('th', { text: h, class: cls })))));
    const body = el('tbody');
    for (const r of rows) body.append(r);
    t.append(body);
  }
  const td = (text, cls) => el('td', { text: String(text), class: cls });
  const tdn = (text) => td(text, 'num');
  const code = (text) => el('td', {}, el('code', { text }));

  // ---- Summary ----------------------------------------------------------
  $('#file').textContent = D.file;
  const S = D.summary;
  const stats = [
    ['file', 'Cassette', D.file],
    ['created', 'Created', D.created || '(not recorded)'],
    ['connections', 'Connections', num(S.connections)],
    ['interactions', 'Interactions', num(S.interactions)],
    ['duration', 'Duration', msText(S.duration_ms)],
    ['databases', 'Databases', S.databases.map(([db, n]) => 'db ' + db + ': ' + num(n)).join(', ') || 'none'],
    ['resp2', 'RESP2 connections', num(S.resp2)],
    ['resp3', 'RESP3 connections', num(S.resp3)],
    ['errors', 'Error replies', num(S.errors)],
    ['blocking', 'Blocking commands', num(S.blocking)],
    ['pushes', 'Pushes', num(S.pushes)],
    ['closed-by-server', 'Closed by the server', num(S.closed_by_server)],
    ['server-version', 'Server version', D.server_version || 'unknown'],
    ['upstream', 'Upstream', D.upstream || 'unknown'],
    ['cluster-nodes', 'Cluster nodes', D.cluster.length ? num(D.cluster.length) : 'not a cluster'],
  ];
  const R = D.replay;
  if (R) {
    stats.push(['served', 'Served (replay)', num(R.served)], ['repeated', 'Repeated', num(R.repeated)],
      ['missed', 'Missed', num(R.missed)], ['unused', 'Unused recordings', num(R.unused)],
      ['passed-through', 'Passed through', num(R.passed_through)],
      ['live-connections', 'Live connections', num(R.connections)]);
  }
  const dl = $('#summary .stats');
  for (const [key, label, value] of stats) {
    dl.append(el('div', { 'data-stat': key }, el('dt', { text: label }), el('dd', { text: value })));
  }
  $('[data-stat=resp3] dt').title = 'A connection is RESP3 when HELLO 3 got a non-error reply, or, since ' +
    'HELLO is not recorded unless it failed or --record-trivial-calls, when a reply had a type only RESP3 has.';
  if (D.cluster.length) {
    $('#cluster').append(el('table'));
    table($('#cluster table'), [['Node'], ['Role'], ['Slots']],
      D.cluster.map((n) => el('tr', {}, code(n.addr), td(n.role), td(n.slots || '-'))));
  }

  // ---- Timeline ---------------------------------------------------------
  const ROW = 18, GUTTER = 120, PAD = 8;
  const lanes = D.lanes;
  const laneOf = new Map(lanes.map((l, i) => [l.c, i]));
  const perLane = lanes.map(() => []);
  const byE = new Map();
  for (const m of D.marks) {
    byE.set(m.e, m);
    const i = laneOf.get(m.c);
    if (i !== undefined) perLane[i].push(m);
  }
  // Per lane: marks by start time, and the longest, to find those in view.
  const longest = perLane.map((ms) => {
    ms.sort((a, b) => a.t - b.t);
    return ms.reduce((w, m) => Math.max(w, m.d / 1000), 0);
  });
  let end = Math.max(1, S.duration_ms);
  for (const l of lanes) end = Math.max(end, l.close || 0);
  for (const m of D.marks) end = Math.max(end, m.t + m.d / 1000);

  const laneBox = $('#lanes');
  laneBox.style.height = lanes.length * ROW + 'px';
  for (const l of lanes) {
    const what = ['conn ' + l.c, l.node, 'RESP' + l.proto, num(l.n) + ' interactions',
      l.open != null ? 'opened +' + l.open + ' ms' : 'open before recording',
      l.close != null ? 'closed +' + l.close + ' ms' + (l.by_server ? ' by the server' : ' by the client') : 'still open at the end'];
    laneBox.append(el('div', {
      class: 'lane', 'data-conn': l.c, 'data-closed-by': l.close == null ? 'none' : l.by_server ? 'server' : 'client',
      title: what.filter(Boolean).join(' · '), text: 'conn ' + l.c + (l.node ? ' ' + l.node : ''),
    }));
  }

  const samp = D.sampling;
  const sampNote = $('#sampling');
  const sampled = samp.drawn < samp.events;
  sampNote.dataset.sampled = String(sampled);
  sampNote.textContent = sampled
    ? 'Sampled: the timeline draws ' + num(samp.drawn) + ' of ' + num(samp.events) + ' events. Always drawn: ' +
      'error replies, blocking commands, pushes' + (R ? ', unused recordings' : '') + ' (the first ' + num(samp.kind_max) +
      ' of each) and every row the tables below link to; of the other interactions, ' +
      (samp.stride > 1 ? 'every ' + num(samp.stride) + 'th (at most ' + num(samp.sampled_max) + ').' : 'all.')
    : 'All ' + num(samp.events) + ' interactions and pushes are drawn.';
  if (samp.lanes_hidden) {
    sampNote.textContent += ' ' + num(samp.lanes_hidden) + ' connections past the first ' + num(samp.lanes_max) + ' are not drawn.';
  }

  const legend = $('#legend');
  const kinds = R ? [['served', 'served'], ['repeated', 'repeated'], ['unused', 'unused'], ['err', 'error (outline)'], ['push', 'push']]
    : [['cmd', 'command'], ['err', 'error'], ['block', 'blocking'], ['push', 'push']];
  for (const [k, label] of kinds) legend.append(el('span', {}, el('i', { style: 'background:var(--' + k + ')' }), label));

  const scroller = $('#timeline-scroll');
  const canvas = $('#timeline-canvas');
  const ctx = canvas.getContext('2d');
  let v0 = 0, v1 = end, selected = null, hover = null, colors = {};
  function readColors() {
    const cs = getComputedStyle(document.documentElement);
    for (const k of ['fg', 'muted', 'line', 'cmd', 'err', 'block', 'push', 'served', 'repeated', 'unused', 'hl', 'bg']) {
      colors[k] = cs.getPropertyValue('--' + k).trim();
    }
  }
  function size() {
    const w = scroller.clientWidth, h = Math.min(lanes.length * ROW, scroller.clientHeight || lanes.length * ROW) || ROW;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    canvas.style.width = w + 'px';
    canvas.style.height = h + 'px';
    canvas.style.marginBottom = -h + 'px';
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    draw();
  }
  const span = () => canvas.clientWidth - GUTTER - PAD;
  const x = (t) => GUTTER + ((t - v0) / (v1 - v0)) * span();
  const tAt = (px) => v0 + ((px - GUTTER) / span()) * (v1 - v0);
  function fill(m) {
    if (R && m.o) return colors[m.o];
    return colors[m.k];
  }
  /** The marks of lane `i` that overlap the view, in start order. */
  function* visible(i) {
    const ms = perLane[i];
    let lo = 0, hi = ms.length;
    const from = v0 - longest[i];
    while (lo < hi) { const mid = (lo + hi) >> 1; if (ms[mid].t < from) lo = mid + 1; else hi = mid; }
    for (let k = lo; k < ms.length && ms[k].t <= v1; k++) {
      if (ms[k].t + ms[k].d / 1000 >= v0) yield ms[k];
    }
  }
  function draw() {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    ctx.clearRect(0, 0, w, h);
    ctx.save();
    ctx.beginPath();
    ctx.rect(GUTTER, 0, w - GUTTER, h);
    ctx.clip();
    const top = scroller.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW)), last = Math.min(lanes.length, Math.ceil((top + h) / ROW));
    for (let i = first; i < last; i++) {
      const l = lanes[i], y = i * ROW - top + ROW / 2;
      const a = x(l.open != null ? l.open : 0), b = x(l.close != null ? l.close : end);
      ctx.strokeStyle = colors.line;
      ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(a, y); ctx.lineTo(b, y); ctx.stroke();
      if (l.open != null) { ctx.fillStyle = colors.muted; ctx.fillRect(a - 1, y - 6, 2, 12); }
      if (l.close != null) { ctx.fillStyle = l.by_server ? colors.err : colors.muted; ctx.fillRect(b - 1, y - 6, l.by_server ? 3 : 2, 12); }
      for (const m of visible(i)) {
        const x0 = x(m.t), x1 = Math.max(x(m.t + m.d / 1000), x0 + 2);
        ctx.fillStyle = fill(m);
        if (m.k === 'push') {
          ctx.beginPath(); ctx.moveTo(x0, y - 6); ctx.lineTo(x0 + 4, y); ctx.lineTo(x0, y + 6); ctx.lineTo(x0 - 4, y); ctx.fill();
        } else {
          ctx.fillRect(x0, y - 5, x1 - x0, 10);
          if (R && m.k === 'err') { ctx.strokeStyle = colors.err; ctx.lineWidth = 1.5; ctx.strokeRect(x0, y - 5, x1 - x0, 10); }
        }
        if (m === selected || m === hover) {
          ctx.strokeStyle = colors.hl; ctx.lineWidth = 2;
          ctx.strokeRect(x0 - 3, y - 8, x1 - x0 + 6, 16);
        }
      }
    }
    ctx.restore();
    $('#view-range').textContent = 'showing +' + msText(Math.max(0, v0)) + ' to +' + msText(v1) + ' of ' + msText(end);
  }
  /** Shows [a, b] ms: no narrower than 10 µs (the finest a duration
   *  goes), no wider than the recording and a margin, its centre inside
   *  the recording (so any mark can be centred). */
  function setView(a, b) {
    const widest = end * 1.1, narrowest = 0.01;
    let c = (a + b) / 2, w = Math.min(Math.max(b - a, narrowest), widest);
    c = Math.min(Math.max(c, 0), end);
    v0 = c - w / 2; v1 = c + w / 2;
    draw();
  }
  const fit = () => setView(-end * 0.02, end * 1.02);
  function zoom(factor, px) {
    const c = px == null ? (v0 + v1) / 2 : tAt(px);
    setView(c - (c - v0) * factor, c + (v1 - c) * factor);
  }
  /** The mark under canvas point (px, py), if any. */
  function hit(px, py) {
    const i = Math.floor((py + scroller.scrollTop) / ROW);
    if (i < 0 || i >= lanes.length || px < GUTTER) return null;
    let best = null, bestD = 5;
    for (const m of visible(i)) {
      const x0 = x(m.t), x1 = Math.max(x(m.t + m.d / 1000), x0 + 2);
      const d = px < x0 ? x0 - px : px > x1 ? px - x1 : 0;
      if (d <= bestD) { best = m; bestD = d; }
    }
    return best;
  }
  function markTitle(m) {
    const parts = ['conn ' + m.c, '+' + m.t + ' ms'];
    if (m.k !== 'push') parts.push(us(m.d));
    return parts.join(' · ');
  }
  function tags(m) {
    const out = [el('span', { class: 'tag ' + m.k, text: { cmd: 'command', err: 'error', block: 'blocking', push: 'push' }[m.k] })];
    if (m.o) out.push(' ', el('span', { class: 'tag ' + m.o, text: m.o }));
    return out;
  }
  function showDetail(m) {
    const d = $('#detail');
    d.dataset.e = m.e;
    d.replaceChildren(el('h3', {}, markTitle(m) + ' ', ...tags(m)), el('pre', { text: m.x }));
  }
  const tip = $('#tooltip');
  let drag = null;
  canvas.addEventListener('pointerdown', (ev) => {
    drag = { x: ev.clientX, y: ev.clientY, v0, v1, top: scroller.scrollTop, moved: false };
    canvas.setPointerCapture(ev.pointerId);
  });
  canvas.addEventListener('pointermove', (ev) => {
    const r = canvas.getBoundingClientRect();
    if (drag) {
      const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.moved) {
        canvas.classList.add('dragging');
        const dt = (dx / span()) * (drag.v1 - drag.v0);
        scroller.scrollTop = drag.top - dy;
        setView(drag.v0 - dt, drag.v1 - dt);
        tip.hidden = true;
        return;
      }
    }
    const m = hit(ev.clientX - r.left, ev.clientY - r.top);
    if (m !== hover) { hover = m; draw(); }
    if (m) {
      tip.replaceChildren(el('div', {}, markTitle(m) + ' ', ...tags(m)), el('pre', { text: m.x }));
      tip.hidden = false;
      const left = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
      const topPx = ev.clientY + 14 + tip.offsetHeight > window.innerHeight ? ev.clientY - tip.offsetHeight - 10 : ev.clientY + 14;
      tip.style.left = Math.max(4, left) + 'px';
      tip.style.top = Math.max(4, topPx) + 'px';
    } else {
      tip.hidden = true;
    }
  });
  canvas.addEventListener('pointerup', (ev) => {
    const r = canvas.getBoundingClientRect();
    if (drag && !drag.moved) {
      const m = hit(ev.clientX - r.left, ev.clientY - r.top);
      if (m) select(m);
    }
    drag = null;
    canvas.classList.remove('dragging');
  });
  canvas.addEventListener('pointerleave', () => { tip.hidden = true; if (hover) { hover = null; draw(); } });
  canvas.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    zoom(Math.exp(ev.deltaY * 0.0015), ev.clientX - canvas.getBoundingClientRect().left);
  }, { passive: false });
  scroller.addEventListener('scroll', draw);
  $('#zoom-in').addEventListener('click', () => zoom(0.5));
  $('#zoom-out').addEventListener('click', () => zoom(2));
  $('#zoom-reset').addEventListener('click', fit);
  window.addEventListener('resize', size);
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { readColors(); draw(); });

  function select(m) {
    selected = m;
    for (const l of laneBox.querySelectorAll('.lane.hl')) l.classList.remove('hl');
    const i = laneOf.get(m.c);
    if (i !== undefined) laneBox.children[i].classList.add('hl');
    showDetail(m);
    draw();
  }
  /** Shows mark `e`: zooms the timeline to it, scrolls its lane into view, selects it. */
  function focus(e) {
    const m = byE.get(e);
    if (!m) return;
    const i = laneOf.get(m.c);
    $('#timeline').scrollIntoView({ block: 'start' });
    if (i !== undefined) {
      // The mark in the middle third of the view.
      const w = Math.max(m.d / 1000 * 3, 2), c = m.t + m.d / 2000;
      setView(c - w / 2, c + w / 2);
      scroller.scrollTop = Math.max(0, i * ROW - scroller.clientHeight / 2);
    }
    select(m);
  }
  document.addEventListener('click', (ev) => {
    const a = ev.target.closest('a[data-e]');
    if (!a) return;
    ev.preventDefault();
    focus(Number(a.dataset.e));
  });

  // ---- Latency ----------------------------------------------------------
  /** A bar chart of a histogram's octaves (log-scale x: a bar per power of two). */
  function bars(octaves, w, h, labelled) {
    const s = document.createElementNS(SVG, 'svg');
    const lh = labelled ? 14 : 0;
    s.setAttribute('class', 'bars');
    s.setAttribute('width', w);
    s.setAttribute('height', h + lh);
    s.setAttribute('role', 'img');
    const max = Math.max(1, ...octaves.map((o) => o[1]));
    const bw = Math.min(w / Math.max(1, octaves.length), 48);
    octaves.forEach(([lo, n], k) => {
      const r = document.createElementNS(SVG, 'rect');
      const bh = n ? Math.max(1, (n / max) * h) : 0;
      r.setAttribute('x', k * bw + 0.5);
      r.setAttribute('y', h - bh);
      r.setAttribute('width', Math.max(1, bw - 1));
      r.setAttribute('height', bh);
      const t = document.createElementNS(SVG, 'title');
      t.textContent = us(lo) + ' to ' + us(lo ? lo * 2 - 1 : 1) + ': ' + num(n);
      r.append(t);
      s.append(r);
      if (labelled && (k % Math.ceil(octaves.length / 8) === 0)) {
        const tx = document.createElementNS(SVG, 'text');
        tx.setAttribute('x', k * bw);
        tx.setAttribute('y', h + 11);
        tx.textContent = us(lo);
        s.append(tx);
      }
    });
    return s;
  }
  $('#precision').textContent = 'Took: from the request to the last reply byte. ' + D.latency.precision + '. Histograms: a bar per power of two.';
  const all = D.latency.all;
  $('#latency-all').append(el('p', { class: 'note', text: 'All ' + num(all.count) + ' interactions: p50 ' + us(all.p50) +
    ', p90 ' + us(all.p90) + ', p99 ' + us(all.p99) + ', max ' + us(all.max) + ', mean ' + us(all.mean) }), bars(all.octaves, 480, 80, true));
  table($('#latency-table'), [['Command'], ['Count', 'num'], ['p50', 'num'], ['p90', 'num'], ['p99', 'num'], ['Max', 'num'], ['Histogram']],
    D.latency.commands.map((c) => el('tr', { 'data-command': c.name }, code(c.name), tdn(num(c.count)), tdn(us(c.p50)),
      tdn(us(c.p90)), tdn(us(c.p99)), tdn(us(c.max)), el('td', {}, bars(c.octaves, 160, 18, false)))));

  // ---- Slowest, mix, keys, biggest ----------------------------------------
  table($('#slowest'), [['#'], ['Took', 'num'], ['Command'], ['Conn', 'num'], ['At', 'num']],
    D.slowest.map((r, k) => el('tr', { 'data-e': r.e }, tdn(k + 1), tdn(us(r.took_us)),
      el('td', {}, markLink(r.e, r.cmd)), tdn(r.conn), tdn('+' + r.at_ms + ' ms'))));
  const total = Math.max(1, S.interactions);
  table($('#mix'), [['Command'], ['Count', 'num'], ['Share', 'num']],
    D.mix.map((c) => el('tr', { 'data-command': c.name }, code(c.name), tdn(num(c.count)), tdn((100 * c.count / total).toFixed(1) + '%'))));
  const K = D.keys;
  $('#keys .note').textContent = 'Keys found where each command\'s key specs say (COMMAND INFO), ' + num(K.total) + ' in all. ' +
    (K.error_bound ? 'Too many distinct keys to count each: a count may be up to ' + num(K.error_bound) + ' below the truth.' : 'Counts are exact.');
  table($('#keys'), [['Key'], ['Count', 'num']], K.top.map((k) => el('tr', {}, code(k.name), tdn(num(k.count)))));
  table($('#biggest'), [['Reply', 'num'], ['Command'], ['Conn', 'num'], ['Took', 'num']],
    D.biggest.map((r) => el('tr', { 'data-e': r.e }, tdn(bytes(r.bytes)), el('td', {}, markLink(r.e, r.cmd)), tdn(r.conn), tdn(us(r.took_us)))));

  // ---- Errors -------------------------------------------------------------
  const E = D.errors;
  if (E.groups.length) {
    table($('#errors'), [['Count', 'num'], ['Error'], ['First command']],
      E.groups.map((g) => el('tr', { class: 'error-group', 'data-e': g.e }, tdn(num(g.count)), code(g.text), el('td', {}, markLink(g.e, g.first)))));
  } else {
    $('#errors table').replaceWith(el('p', { class: 'note', text: 'No error replies.' }));
  }
  if (E.ungrouped) $('#errors').append(el('p', { class: 'note', text: num(E.ungrouped) + ' more errors with other texts (past the group limit).' }));

  // ---- Misses -------------------------------------------------------------
  if (R) {
    $('#misses').hidden = false;
    $('#nav-misses').hidden = false;
    const note = $('#misses .note');
    note.textContent = R.missed ? num(R.missed) + ' commands missed' +
      (R.missed > R.misses.length ? ' (the first ' + num(R.misses.length) + ' are listed)' : '') + '.' : 'No misses: every command was answered.';
    if (R.mismatch) $('#misses').prepend(el('p', { class: 'note', id: 'mismatch', text: 'Warning: ' + R.mismatch }));
    table($('#misses'), [['Live conn'], ['At', 'num'], ['Command'], ['Closest recorded'], ['Why']],
      R.misses.map((m) => el('tr', { class: 'miss' },
        td(m.live_conn + (m.bound_to != null ? ' (as conn ' + m.bound_to + ')' : '')),
        tdn('+' + m.at_ms + ' ms'), code(m.command),
        el('td', { class: 'closest' }, m.closest == null ? '(none)' : m.e == null ? el('code', { text: m.closest }) : markLink(m.e, m.closest)),
        td(m.why))));
  }

  readColors();
  fit();
  size();
})();
