// The calm web console. Everything on the page comes from this node's HTTP API; every value
// is put into the page with textContent (relation values are whatever clients inserted).
'use strict';

const TOKEN_KEY = 'calm-console-token';
const POLL_MS = 1000;
const MAX_ROWS = 1000;
const MAX_LIVE_ROWS = 1000;
const MAX_EVENT_BYTES = 8 * 1024 * 1024;

const $ = (id) => document.getElementById(id);

/// A refused request: the node wants a (right) token.
class Unauthorized extends Error {}

let polling = null;
let pollBusy = false;
let lastSample = null;
let tickRate = null;
let graphLoaded = false;
let overview = null;
let browsing = null;
let live = null;

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) tr.append(c instanceof Node ? c : el('td', c));
  return tr;
}

function showMessage(text) {
  const m = $('message');
  m.textContent = text || '';
  m.hidden = !text;
}

/// GET `path` with the token; the response if it is a success. A 401 opens the token form
/// and throws Unauthorized; any other failure throws an Error with the node's message.
async function api(path, options = {}) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  let r;
  try {
    r = await fetch(path, { headers, cache: 'no-store', signal: options.signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    if (e instanceof TypeError && t && /[^\x20-\x7e]/.test(t)) {
      askToken('The token holds characters that cannot be sent in an HTTP header.');
      throw new Unauthorized();
    }
    throw new Error('cannot reach the node (' + e.message + ')');
  }
  if (r.status === 401) {
    askToken(t
      ? 'The node refused this token: it is not the one in the node\'s --token-file. Enter it again.'
      : 'This node requires a token (the contents of its --token-file). It is kept in this tab only.');
    throw new Unauthorized();
  }
  if (!r.ok) {
    let text = r.status + ' ' + r.statusText;
    try {
      const body = await r.json();
      if (body && typeof body.error === 'string') text = body.error;
    } catch (_) { /* not JSON */ }
    throw new Error(text);
  }
  return r;
}

function askToken(reason) {
  stopPolling();
  $('state').textContent = 'needs a token';
  $('token-reason').textContent = reason;
  $('token-form').hidden = false;
  $('token-input').value = '';
  $('token-input').focus();
}

/// Shows a failed request's message in `target` (an element id; the banner by default). A
/// refused token has its own form, and an aborted request is no failure.
function handleError(e, where, target) {
  if (e instanceof Unauthorized || e.name === 'AbortError') return;
  const text = where + ': ' + e.message;
  if (!target) {
    showMessage(text);
    return;
  }
  $(target).textContent = text;
  $(target).className = 'error';
}

// ---------------------------------------------------------------- overview

function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return ms + ' ms';
  const s = ms / 1000;
  if (s < 120) return s.toFixed(1) + ' s';
  if (s < 7200) return (s / 60).toFixed(1) + ' min';
  return (s / 3600).toFixed(1) + ' h';
}

function bytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1024 / 1024).toFixed(1) + ' MiB';
}

async function poll() {
  if (pollBusy) return;
  pollBusy = true;
  try {
    const r = await api('/v1/console');
    const o = await r.json();
    overview = o;
    showMessage('');
    $('state').textContent = 'live';
    render(o);
    if (!graphLoaded) loadGraph();
  } catch (e) {
    $('state').textContent = e instanceof Unauthorized ? 'needs a token' : 'unreachable';
    handleError(e, 'status');
  } finally {
    pollBusy = false;
  }
}

function render(o) {
  $('node-name').textContent = o.name;
  $('program').textContent = o.program;
  document.title = 'calm ' + o.name;
  const now = performance.now();
  if (lastSample && now - lastSample.at >= 900) {
    tickRate = (o.tick - lastSample.tick) / ((now - lastSample.at) / 1000);
    lastSample = { tick: o.tick, at: now };
  } else if (!lastSample) {
    lastSample = { tick: o.tick, at: now };
  }
  $('tick').textContent = o.tick;
  $('tick-rate').textContent = tickRate === null ? '—' : tickRate.toFixed(1) + ' /s';
  $('last-tick').textContent = o.last_tick_ago_ms === null ? 'none yet' : duration(o.last_tick_ago_ms) + ' ago';
  $('tick-time').textContent = o.tick_seconds_total.toFixed(3) + ' s';
  $('unacked').textContent = o.unacked;
  $('queue').textContent = o.queue_depth;
  $('uptime').textContent = duration(o.uptime_ms);

  const peers = new Map(o.peers.map((p) => [p.name, p]));
  const members = $('members').tBodies[0];
  const mrows = [];
  for (const m of o.members) {
    const p = peers.get(m);
    let tr;
    if (m === o.name) {
      tr = row([el('td', m), el('td', 'this node', 'self'), '', '', '', '', '']);
    } else if (p) {
      const link = p.connected ? 'connected' : 'not connected';
      const extra = p.overflowed ? ' (backlog over budget)' : '';
      tr = row([
        el('td', m),
        el('td', link + extra, p.connected ? 'up' : 'down'),
        el('td', p.addr),
        el('td', p.unacked, 'num'),
        el('td', bytes(p.outbox_bytes), 'num'),
        el('td', p.last_frame_ago_ms === null ? 'never' : duration(p.last_frame_ago_ms) + ' ago'),
        el('td', p.history_facts + ' facts', 'num'),
      ]);
    } else {
      tr = row([el('td', m), el('td', 'unknown'), '', '', '', '', '']);
    }
    tr.dataset.member = m;
    mrows.push(tr);
  }
  members.replaceChildren(...mrows);

  $('warnings').replaceChildren(...o.warnings.map((w) => el('li', w, 'warning')));

  const rels = $('relations').tBodies[0];
  const rrows = [];
  for (const rel of o.relations) {
    const kind = [];
    if (rel.input) kind.push('input');
    if (rel.output) kind.push('output');
    if (rel.persist) kind.push('persist');
    if (rel.builtin) kind.push('built-in');
    const name = el('button', rel.name, 'link');
    name.type = 'button';
    name.addEventListener('click', () => browse(rel.name));
    const nameCell = el('td');
    nameCell.append(name);
    const tr = row([nameCell, el('td', rel.size, 'num size'), el('td', kind.join(', '), 'muted')]);
    tr.dataset.relation = rel.name;
    if (browsing === rel.name) tr.className = 'selected';
    rrows.push(tr);
  }
  rels.replaceChildren(...rrows);

  const select = $('live-relation');
  const outputs = o.relations.filter((r) => r.output).map((r) => r.name);
  const have = [...select.options].map((x) => x.value);
  if (have.join('\n') !== outputs.join('\n')) {
    select.replaceChildren(...outputs.map((n) => new Option(n, n)));
    if (outputs.length === 0) select.append(new Option('(no .output relation)', ''));
  }
}

function startPolling() {
  stopPolling();
  poll();
  polling = setInterval(poll, POLL_MS);
}

function stopPolling() {
  if (polling !== null) clearInterval(polling);
  polling = null;
}

// ---------------------------------------------------------------- browser

function relationInfo(name) {
  return overview && overview.relations.find((r) => r.name === name);
}

function browse(name) {
  const rel = relationInfo(name);
  if (!rel) return;
  browsing = name;
  for (const tr of $('relations').tBodies[0].rows) {
    tr.className = tr.dataset.relation === name ? 'selected' : '';
  }
  $('browse-name').textContent = name;
  $('browse-name').className = '';
  const filters = rel.columns.map((c, i) => {
    const label = el('label', c + ' ');
    const input = document.createElement('input');
    input.name = c;
    input.placeholder = rel.types[i] === 'number' ? 'number' : 'equals';
    input.dataset.column = c;
    label.append(input);
    return label;
  });
  $('filters').replaceChildren(...filters);
  $('browse-run').disabled = false;
  const head = document.createElement('tr');
  for (const c of rel.columns) head.append(el('th', c));
  $('rows').tHead.replaceChildren(head);
  runQuery();
}

async function runQuery() {
  const name = browsing;
  if (!name) return;
  const params = new URLSearchParams();
  for (const input of $('filters').querySelectorAll('input')) {
    if (input.value !== '') params.append(input.dataset.column, input.value);
  }
  const q = params.toString();
  $('browse-info').textContent = 'querying…';
  $('browse-info').className = 'muted';
  try {
    const r = await api('/v1/relations/' + encodeURIComponent(name) + (q ? '?' + q : ''));
    const body = await r.json();
    if (browsing !== name) return;
    const shown = body.rows.slice(0, MAX_ROWS);
    $('rows').tBodies[0].replaceChildren(...shown.map((values) => valueRow(values)));
    let info = body.rows.length + ' row' + (body.rows.length === 1 ? '' : 's');
    if (q) info += ' matching the filters';
    if (shown.length < body.rows.length) info += ', the first ' + shown.length + ' shown';
    $('browse-info').textContent = info;
  } catch (e) {
    $('browse-info').textContent = '';
    handleError(e, 'query of ' + name, 'browse-info');
  }
}

function valueRow(values, before) {
  const tr = document.createElement('tr');
  if (before !== undefined) tr.append(el('td', before, 'muted'));
  for (const v of values) tr.append(el('td', v, typeof v === 'number' ? 'num' : ''));
  return tr;
}

// ---------------------------------------------------------------- live view

function stopLive(note) {
  if (live) live.abort.abort();
  live = null;
  $('live-toggle').textContent = 'Watch';
  if (note) {
    $('live-info').textContent = note;
    $('live-info').className = 'muted';
  }
}

async function startLive(name) {
  stopLive();
  const rel = relationInfo(name);
  if (!rel) return;
  const abort = new AbortController();
  const state = { abort, name, seen: new Set(), rows: 0 };
  live = state;
  $('live-toggle').textContent = 'Stop';
  const head = document.createElement('tr');
  head.append(el('th', 'tick'));
  for (const c of rel.columns) head.append(el('th', c));
  $('live').tHead.replaceChildren(head);
  $('live').tBodies[0].replaceChildren();
  $('live-info').textContent = 'watching ' + name + '…';
  $('live-info').className = 'muted';
  try {
    // Subscribe first, then read what the relation holds: nothing falls between the two.
    const stream = await api('/v1/subscribe/' + encodeURIComponent(name), { signal: abort.signal });
    const now = await api('/v1/relations/' + encodeURIComponent(name), { signal: abort.signal });
    const body = await now.json();
    if (live !== state) return;
    addLive(state, body.rows, 'now');
    $('live-info').textContent = 'watching ' + name + ': the rows it held when the view opened, then the rows each tick adds';
    await readEvents(stream, abort.signal, (data) => {
      if (live === state) addLive(state, data.rows, data.tick);
    });
    if (live === state) stopLive('the node closed the stream of ' + name);
  } catch (e) {
    if (live === state) stopLive();
    handleError(e, 'live view of ' + name, 'live-info');
  }
}

function addLive(state, rows, tick) {
  const body = $('live').tBodies[0];
  const fresh = [];
  for (const values of rows) {
    const key = JSON.stringify(values);
    if (state.seen.has(key)) continue;
    state.seen.add(key);
    fresh.push(valueRow(values, tick));
  }
  // Newest first, at most MAX_LIVE_ROWS shown.
  body.prepend(...fresh.reverse());
  while (body.rows.length > MAX_LIVE_ROWS) body.deleteRow(-1);
  state.rows += fresh.length;
}

/// Reads server-sent events from a fetch response (EventSource cannot send the token), calling
/// `onFacts` with the JSON of each `facts` event.
async function readEvents(response, signal, onFacts) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done || signal.aborted) return;
    buffer += decoder.decode(value, { stream: true });
    // Line ends may be CRLF or CR; a CR at the end may be the first half of a CRLF.
    const tail = buffer.endsWith('\r') ? '\r' : '';
    buffer = buffer.slice(0, buffer.length - tail.length).replace(/\r\n?/g, '\n') + tail;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (event === 'facts' && data.length > 0) onFacts(JSON.parse(data.join('\n')));
    }
    if (buffer.length > MAX_EVENT_BYTES) throw new Error('an event of the stream is too large');
  }
}

// ---------------------------------------------------------------- graph

async function loadGraph() {
  graphLoaded = true;
  try {
    const r = await api('/v1/graph.svg');
    const blob = await r.blob();
    const img = $('graph');
    if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(blob);
    $('graph-info').textContent = '';
  } catch (e) {
    graphLoaded = false;
    if (!(e instanceof Unauthorized)) $('graph-info').textContent = 'cannot draw the graph: ' + e.message;
  }
}

// ---------------------------------------------------------------- start

function init() {
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token-input').value.trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
    $('token-form').hidden = true;
    showMessage('');
    startPolling();
  });
  $('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    stopLive();
    $('token-input').value = '';
    startPolling();
  });
  $('token-button').addEventListener('click', () => {
    $('token-form').hidden = !$('token-form').hidden;
    $('token-reason').textContent = token()
      ? 'A token is set for this tab. Enter another one, or forget it.'
      : 'No token is set for this tab.';
  });
  $('browse-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    runQuery();
  });
  $('live-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (live) stopLive('stopped');
    else if ($('live-relation').value) startLive($('live-relation').value);
  });
  startPolling();
}

init();
