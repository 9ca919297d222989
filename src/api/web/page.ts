/**
 * The live view's page (decision 0034): self-contained HTML, its script and
 * style inline (no CDN, nothing fetched but this daemon's /berth/live and
 * /containers/{id}/json). The layout is plain and deterministic: one row
 * per network with its bridge in the row's head (host and none have no
 * links to draw and no row) and a card per container
 * endpoint under it; links no endpoint explains, and whatever the graph
 * marks leaked, missing or mismatched, in red; the problems listed below.
 * Every name is set as text (textContent), never parsed as HTML.
 *
 * The script is plain browser JavaScript in a string (it runs in the page,
 * not in Node); the CSP allows exactly it by hash (live.ts).
 */

export const PAGE_STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #f6f7f9; }
header { padding: 8px 16px; background: #1f3a5f; color: #fff; display: flex; gap: 16px; align-items: baseline; }
header h1 { font-size: 16px; margin: 0; }
header .state { margin-left: auto; font-size: 12px; opacity: .85; }
main { display: flex; align-items: flex-start; gap: 16px; padding: 16px; }
#topology { flex: 1; display: flex; flex-direction: column; gap: 12px; min-width: 0; }
.net { background: #fff; border: 2px solid #7a8ca3; border-radius: 6px; padding: 8px; }
.net > .head { font-weight: 600; margin-bottom: 6px; }
.net > .head .sub { font-weight: 400; color: #555; margin-left: 8px; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; min-height: 24px; }
.card { border: 1px solid #9aa8b8; border-radius: 4px; padding: 4px 8px; background: #eef3f8; min-width: 150px; }
.card.container { cursor: pointer; }
.card.container:hover, .card.selected { border-color: #1f3a5f; background: #dce8f5; }
.card.link { background: #fff; border-style: dashed; }
.card .name { font-weight: 600; }
.card .line { font-size: 12px; color: #444; font-family: ui-monospace, monospace; }
.bad, .card.bad { border-color: #c00 !important; color: #c00; background: #fdeaea; }
.net.bad > .head { color: #c00; }
#problems-box { padding: 0 16px 16px; }
#problems { color: #c00; }
#problems li { margin: 2px 0; }
aside { width: 420px; flex: none; background: #fff; border: 1px solid #9aa8b8; border-radius: 6px; padding: 8px; }
aside h2 { font-size: 15px; margin: 0 0 6px; }
aside dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 8px; margin: 0 0 8px; }
aside dt { color: #555; }
aside dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }
aside pre { font-size: 11px; max-height: 60vh; overflow: auto; background: #f3f3f3; padding: 6px; }
`;

export const PAGE_SCRIPT = `
'use strict';
var graph = null;
var selected = null;
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function line(parent, text) { if (text) parent.appendChild(el('div', 'line', text)); }
function bad(n, flagged) {
  return n.state === 'leak' || n.state === 'missing' || n.state === 'mismatch' || flagged.has(n.id);
}
function render(g) {
  var nodes = new Map(g.nodes.map(function (n) { return [n.id, n]; }));
  var flagged = new Set(g.problems.map(function (p) { return p.node; }).filter(Boolean));
  var into = new Map(), from = new Map();
  g.edges.forEach(function (e) {
    if (!into.has(e.to)) into.set(e.to, []);
    into.get(e.to).push(e);
    if (!from.has(e.from)) from.set(e.from, []);
    from.get(e.from).push(e);
  });
  var placed = new Set();
  var top = document.getElementById('topology');
  top.textContent = '';
  g.networks.forEach(function (net) {
    if (net.driver === 'host' || net.driver === 'null') return;
    var br = net.bridge ? nodes.get(net.bridge) : undefined;
    var sec = el('section', 'net');
    sec.dataset.network = net.name;
    var head = el('div', 'head', br ? br.name : net.name);
    if (br) {
      placed.add(br.id);
      sec.dataset.bridge = br.name;
      if (bad(br, flagged)) sec.classList.add('bad');
    }
    var sub = 'network ' + net.name + ' (' + net.driver + ') ' + net.subnets.join(' ');
    if (br && br.addresses && br.addresses.length) sub += ' gateway ' + br.addresses.join(' ');
    if (br && br.notes && br.notes.length) sub += ' [' + br.notes.join(', ') + ']';
    head.appendChild(el('span', 'sub', sub));
    sec.appendChild(head);
    var cards = el('div', 'cards');
    var ifaces = g.nodes.filter(function (n) { return n.kind === 'interface' && n.network === net.name; });
    ifaces.forEach(function (i) {
      var inEdge = (from.get(i.id) || []).find(function (e) { return e.kind === 'in'; });
      var c = inEdge ? nodes.get(inEdge.to) : undefined;
      var pairEdge = (into.get(i.id) || []).find(function (e) { return e.kind === 'pair'; });
      var veth = pairEdge ? nodes.get(pairEdge.from) : undefined;
      var card = el('div', 'card container');
      var id = c ? c.id.replace(/^container:/, '') : '';
      card.dataset.id = id;
      card.dataset.name = c ? c.name : '';
      card.appendChild(el('div', 'name', c ? c.name : '(unknown container)'));
      line(card, i.name + ' ' + (i.addresses || []).join(' '));
      line(card, i.mac);
      if (veth) line(card, 'veth ' + veth.name + (veth.ifindex !== undefined ? ' [' + veth.ifindex + ']' : ''));
      (into.get(i.id) || []).forEach(function (e) {
        var p = nodes.get(e.from);
        if (e.kind === 'dnat' && p) { placed.add(p.id); line(card, 'published ' + p.name); }
      });
      [i, c, veth, pairEdge].forEach(function (x) {
        if (x && (bad(x, flagged) || x.state === 'missing' || x.state === 'mismatch')) card.classList.add('bad');
      });
      [i, c, veth].forEach(function (x) { if (x) placed.add(x.id); });
      if (id && id === selected) card.classList.add('selected');
      if (id) card.addEventListener('click', function () { show(id); });
      cards.appendChild(card);
    });
    g.nodes.forEach(function (n) {
      if (placed.has(n.id) || n.network !== net.name) return;
      if (n.kind !== 'veth' && n.kind !== 'link' && n.kind !== 'dns' && n.kind !== 'vxlan') return;
      placed.add(n.id);
      var card = el('div', 'card link ' + n.kind, undefined);
      card.dataset.link = n.name;
      if (bad(n, flagged)) card.classList.add('bad');
      card.appendChild(el('div', 'name', n.name + (n.ifindex !== undefined ? ' [' + n.ifindex + ']' : '')));
      line(card, n.kind + ' ' + n.state);
      (n.notes || []).forEach(function (t) { line(card, t); });
      cards.appendChild(card);
    });
    sec.appendChild(cards);
    top.appendChild(sec);
  });
  var rest = g.nodes.filter(function (n) {
    return !placed.has(n.id) && n.kind !== 'uplink' && n.kind !== 'container' && (bad(n, flagged) || n.kind === 'bridge' || n.kind === 'remote-host');
  });
  if (rest.length) {
    var sec = el('section', 'net other');
    sec.appendChild(el('div', 'head', 'not in any network'));
    var cards = el('div', 'cards');
    rest.forEach(function (n) {
      var card = el('div', 'card link');
      card.dataset.link = n.name;
      if (bad(n, flagged)) card.classList.add('bad');
      card.appendChild(el('div', 'name', n.name + (n.ifindex !== undefined ? ' [' + n.ifindex + ']' : '')));
      line(card, n.kind + ' ' + n.state + ' ' + (n.notes || []).join(', '));
      cards.appendChild(card);
    });
    sec.appendChild(cards);
    top.appendChild(sec);
  }
  var up = g.nodes.filter(function (n) { return n.kind === 'uplink'; });
  document.getElementById('host').textContent = 'host ' + g.host.name +
    up.map(function (n) { return ' \\u2014 uplink ' + n.name + ' ' + (n.addresses || []).join(' '); }).join('');
  var ul = document.getElementById('problems');
  ul.textContent = '';
  g.problems.forEach(function (p) { ul.appendChild(el('li', 'problem ' + p.kind, p.kind + ': ' + p.message)); });
  document.getElementById('problems-head').hidden = g.problems.length === 0;
}
function field(dl, k, v) {
  if (v === undefined || v === null || v === '') return;
  dl.appendChild(el('dt', '', k));
  dl.appendChild(el('dd', '', String(v)));
}
function show(id) {
  selected = id;
  document.querySelectorAll('.card.container').forEach(function (c) {
    c.classList.toggle('selected', c.dataset.id === id);
  });
  var aside = document.getElementById('inspect');
  aside.hidden = false;
  aside.dataset.id = id;
  aside.dataset.loaded = '';
  fetch('containers/' + encodeURIComponent(id) + '/json').then(function (r) {
    return r.json().then(function (j) { return { ok: r.ok, j: j }; });
  }).then(function (x) {
    if (selected !== id) return;
    aside.textContent = '';
    if (!x.ok) { aside.appendChild(el('p', 'bad', x.j.message || 'failed')); return; }
    var c = x.j;
    aside.appendChild(el('h2', '', (c.Name || '').replace(/^\\//, '')));
    var dl = el('dl', 'summary');
    field(dl, 'ID', c.Id);
    field(dl, 'Image', c.Config && c.Config.Image);
    field(dl, 'State', c.State && c.State.Status);
    field(dl, 'Started', c.State && c.State.StartedAt);
    var nets = (c.NetworkSettings && c.NetworkSettings.Networks) || {};
    Object.keys(nets).forEach(function (n) {
      var e = nets[n];
      field(dl, n, [e.IPAddress, e.GlobalIPv6Address, e.MacAddress].filter(Boolean).join(' '));
    });
    aside.appendChild(dl);
    aside.appendChild(el('pre', 'raw', JSON.stringify(c, null, 2)));
    aside.dataset.loaded = 'true';
  }).catch(function (e) { aside.textContent = String(e); });
}
function connect() {
  var state = document.getElementById('state');
  var es = new EventSource('berth/live');
  es.addEventListener('open', function () { document.body.dataset.live = 'open'; });
  es.addEventListener('graph', function (ev) {
    graph = JSON.parse(ev.data);
    render(graph);
    document.body.dataset.updated = String(Date.now());
    state.textContent = 'live, updated ' + new Date().toLocaleTimeString();
  });
  es.addEventListener('failure', function (ev) {
    state.textContent = 'the daemon could not read the graph: ' + JSON.parse(ev.data).message;
  });
  es.addEventListener('error', function () {
    document.body.dataset.live = 'lost';
    state.textContent = 'connection lost, retrying';
  });
}
connect();
`;

/** The whole page. */
export function pageHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Berth live view</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<header><h1>Berth</h1><span id="host"></span><span class="state" id="state">connecting</span></header>
<main>
<div id="topology"></div>
<aside id="inspect" hidden></aside>
</main>
<div id="problems-box"><h2 id="problems-head" hidden>Problems</h2><ul id="problems"></ul></div>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
