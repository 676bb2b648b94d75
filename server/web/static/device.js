import { api, subscribe, el, $, labelCells, setText, fmtInt, fmtBytes, fmtAgo, fmtTime, validID, initNav, setLive, AuthError } from './common.js';
import { LineChart } from './chart.js';

initNav();

// The id comes from the URL, is checked like the server checks it, and
// only ever reaches the page as text.
const id = decodeURIComponent(location.pathname.slice('/devices/'.length));
const enc = encodeURIComponent(id);
setText('#dev-id', id);
document.title = id + ' · fleetwire';

// The server keeps each device's last 5 minutes of its first 8 channels
// (GET /api/devices/{id}/history); the page draws those, then goes on
// with the live samples.
const WINDOW = 5 * 60 * 1000;
const MAX_CHARTS = 8;
let charts = [];

// Channels are named as the CSV export names its columns: ch1, ch2, ...
const chName = (i) => 'ch' + (i + 1);

function ensureCharts(n) {
  n = Math.min(n, MAX_CHARTS);
  if (charts.length === n) return;
  const box = $('#channels');
  box.replaceChildren();
  charts = [];
  for (let i = 0; i < n; i++) {
    const holder = el('div', { class: 'chartbox' });
    box.append(el('figure', { 'data-channel': chName(i) }, el('figcaption', { text: chName(i) }), holder));
    charts.push(new LineChart(holder, { series: [chName(i)], format: (v) => String(+v.toPrecision(4)), min: Infinity, windowMs: WINDOW, height: 140, label: chName(i) }));
  }
}

// loadHistory draws the last minutes the server kept; the live samples
// that follow add to them.
async function loadHistory() {
  try {
    const h = await api('/api/devices/' + enc + '/history');
    if (!h.channels.length) return;
    ensureCharts(h.channels.length);
    charts.forEach((c, i) => c.set(h.points.map((p) => ({ t: p.t, v: [p.v[i] ?? NaN] }))));
  } catch (e) {
    // Unknown yet, or no token: the stream below says so.
  }
}

const STATES = { online: ['on', 'online'], ended: ['ended', 'stream ended'], offline: ['off', 'offline'] };

// led works out the LED from acknowledged LED commands, oldest first;
// a TOGGLE with no known state before it leaves it unknown.
function led(commands) {
  let on = null;
  for (const c of [...commands].reverse()) {
    if (c.state !== 'acked' || c.ack !== 'ok') continue;
    const p = c.payload.trim().toUpperCase();
    if (p === 'LED ON') on = true;
    else if (p === 'LED OFF') on = false;
    else if (p === 'LED TOGGLE') on = on === null ? null : !on;
  }
  return on;
}

let lastSeen = '';
function render(d) {
  $('#dev-missing').hidden = true;
  // One state of three, never two: ended from the device's end-of-stream
  // until it sends again, else online or offline.
  const badge = $('#dev-online');
  const [cls, label] = STATES[d.state] || STATES.offline;
  badge.className = 'badge ' + cls;
  badge.dataset.state = d.state;
  setText(badge, label);
  const meta = [d.transport, d.codec || 'no frames yet', d.address ? 'from ' + d.address : ''].filter(Boolean);
  setText('#dev-meta', meta.join(' · '));
  setText('#c-readings', fmtInt(d.readings));
  setText('#c-frames', fmtInt(d.frames));
  setText('#c-bytes', fmtBytes(d.payload_bytes));
  setText('#c-bpr', d.readings ? (d.payload_bytes / d.readings).toFixed(2) + ' B' : '–');
  setText('#c-lost', fmtInt(d.lost));
  setText('#c-dups', fmtInt(d.duplicates));
  setText('#c-reordered', fmtInt(d.reordered));
  setText('#c-seen', fmtAgo(d.last_seen));
  setText('#c-next', fmtInt(d.next_seq));
  setText('#c-restarts', fmtInt(d.restarts));
  const on = led(d.commands || []);
  const ledEl = $('#c-led');
  setText(ledEl, on === null ? 'unknown' : on ? 'on' : 'off');
  ledEl.dataset.led = on === null ? 'unknown' : on ? 'on' : 'off';

  const vals = d.last_values || [];
  $('#values').replaceChildren(...vals.map((v, i) => el('span', { class: 'value', title: chName(i), text: v })));
  if (d.last_seen !== lastSeen && vals.length) {
    // One point per new sample the server saw, at its receive time.
    lastSeen = d.last_seen;
    ensureCharts(vals.length);
    const t = Date.parse(d.last_seen);
    charts.forEach((c, i) => c.push(t, [parseFloat(vals[i])]));
  }

  $('#commands tbody').replaceChildren(...(d.commands || []).map((c) => el('tr', { 'data-cmd': c.id, 'data-state': c.state },
    el('td', { class: 'num', text: c.id }),
    el('td', { class: 'payload', text: c.payload, title: 'hex ' + c.payload_hex }),
    el('td', {}, el('span', { class: 'state ' + c.state, text: c.state })),
    el('td', { text: c.ack || '' }),
    el('td', { text: c.via || '' }),
    el('td', { text: c.sent ? fmtTime(c.sent) : '' }),
    el('td', { class: 'muted', text: c.detail || '' }))));

  const errs = [...(d.recent_errors || [])].reverse();
  $('#errors tbody').replaceChildren(...errs.map((e) => el('tr', {},
    el('td', { text: fmtTime(e.at) }), el('td', { text: e.reason }), el('td', { class: 'num', text: e.offset }))));
  $('#no-errors').hidden = errs.length > 0;
  labelCells($('#commands'));
  labelCells($('#errors'));
}

async function send(payload) {
  const out = $('#cmd-result');
  out.className = 'muted';
  setText(out, 'sending…');
  try {
    const c = await api('/api/devices/' + enc + '/commands', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ payload }),
    });
    setText(out, `command ${c.id} ${c.state}: its state follows in the table`);
    const d = await api('/api/devices/' + enc);
    render(d);
  } catch (e) {
    if (e instanceof AuthError) return;
    out.className = 'error';
    setText(out, 'not sent: ' + e.message);
  }
}

if (!validID(id)) {
  $('#dev-missing').hidden = false;
  setText('#dev-missing', 'Not a valid device id.');
} else {
  $('#cmd-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const p = $('#cmd-payload').value;
    if (p) send(p);
  });
  for (const b of document.querySelectorAll('button[data-cmd]')) b.addEventListener('click', () => send(b.dataset.cmd));
  loadHistory().then(() => subscribe('/api/devices/' + enc + '/events', 'device', render, (st) => {
    setLive(st);
    if (st === 'missing') $('#dev-missing').hidden = false;
  }));
}
