import { api, subscribe, el, $, labelCells, setText, fmtInt, fmtSI, fmtBytes, fmtPct, initNav, setLive, AuthError } from './common.js';
import { LineChart } from './chart.js';

initNav();

const readingsChart = new LineChart($('#chart-readings'), { series: ['readings/s'], format: (v) => fmtSI(v), label: 'readings per second' });
const lossChart = new LineChart($('#chart-loss'), { series: ['loss'], format: (v) => fmtPct(v), label: 'loss' });

// rows fills a table body; columns from numFrom on are right-aligned.
function rows(tbody, list, numFrom = 1) {
  tbody.replaceChildren(...list.map((cells) => el('tr', {}, cells.map((c, i) =>
    el('td', { class: i >= numFrom ? 'num' : undefined, text: typeof c === 'number' ? fmtInt(c) : c })))));
  labelCells(tbody.closest('table'));
}

function kv(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
}

function byReason(transports, field) {
  const out = [];
  for (const [t, ts] of Object.entries(transports || {})) {
    for (const [reason, n] of Object.entries(ts[field] || {})) out.push([reason, t, n]);
  }
  return out.sort((a, b) => b[2] - a[2]);
}

// sinkDrops lists, as transport 'sink', the drops of the top-level
// dropped that no transport counts: readings the sink accepted and failed
// to write (sink_write_error, a full disk).
function sinkDrops(s) {
  const byTransports = {};
  for (const ts of Object.values(s.transports || {})) {
    for (const [reason, n] of Object.entries(ts.dropped || {})) byTransports[reason] = (byTransports[reason] || 0) + n;
  }
  return Object.entries(s.dropped || {})
    .map(([reason, n]) => [reason, 'sink', n - (byTransports[reason] || 0)])
    .filter((r) => r[2] > 0);
}

function render(s) {
  const r = s.rates || {};
  setText('#node', s.node ? 'node ' + s.node : '');
  setText('#s-devices', fmtInt(s.devices));
  const tr = Object.entries(s.transports || {}).filter(([, t]) => t.devices > 0).map(([n, t]) => `${n} ${fmtInt(t.devices)}`);
  setText('#s-devices-by', tr.join(' · ') || 'none connected');
  setText('#s-connections', fmtInt(s.connections));
  setText('#s-eos', `${fmtInt(s.eos_devices)} ended their stream`);
  setText('#s-readings-rate', fmtSI(r.readings_per_s));
  setText('#s-readings', fmtInt(s.readings));
  setText('#s-rx-rate', fmtBytes(r.rx_bytes_per_s) + '/s');
  setText('#s-payload-rate', fmtBytes(r.payload_bytes_per_s) + '/s');
  setText('#s-bpr', r.bytes_per_reading ? r.bytes_per_reading.toFixed(2) + ' B' : '–');
  setText('#s-bpr-total', s.readings ? (s.payload_bytes / s.readings).toFixed(2) + ' B' : '–');
  setText('#s-loss', fmtPct(r.loss));
  setText('#s-loss-total', s.readings + s.lost ? fmtPct(s.lost / (s.readings + s.lost)) : '–');
  const errTotal = Object.values(s.errors || {}).reduce((a, b) => a + b, 0);
  setText('#s-errors-rate', fmtSI(r.errors_per_s));
  setText('#s-errors', fmtInt(errTotal));
  const lat = s.latency_ms || {};
  setText('#s-p50', lat.count ? lat.p50 + ' ms' : '–');
  setText('#s-p99', lat.count ? lat.p99 + ' ms' : '–');
  setText('#s-max', lat.count ? lat.max + ' ms' : '–');

  rows($('#t-transports tbody'), Object.entries(s.transports || {}).map(([n, t]) =>
    [n, t.devices, t.connections, t.frames, t.readings, fmtBytes(t.payload_bytes), t.lost, t.duplicates, t.reordered]));
  rows($('#t-codecs tbody'), Object.entries(s.codecs || {}).sort((a, b) => b[1].readings - a[1].readings).map(([n, c]) =>
    [n, c.frames, c.readings, fmtBytes(c.payload_bytes), c.readings ? (c.payload_bytes / c.readings).toFixed(2) : '–']));
  const errs = byReason(s.transports, 'errors');
  rows($('#t-errors tbody'), errs, 2);
  $('#no-errors').hidden = errs.length > 0;
  const drops = byReason(s.transports, 'dropped').concat(sinkDrops(s)).sort((a, b) => b[2] - a[2]);
  rows($('#t-dropped tbody'), drops, 2);
  $('#no-dropped').hidden = drops.length > 0;

  kv($('#totals'), [
    ['frames', fmtInt(s.frames)], ['readings', fmtInt(s.readings)], ['payload bytes', fmtBytes(s.payload_bytes)],
    ['bytes read', fmtBytes(s.rx_bytes)], ['datagrams', fmtInt(s.datagrams)], ['control frames', fmtInt(s.controls)],
    ['lost', fmtInt(s.lost)], ['duplicates', fmtInt(s.duplicates)], ['reordered', fmtInt(s.reordered)],
    ['stored (by the sink)', fmtInt(s.stored)], ['uptime', fmtSI(s.uptime_s, 's')], ['engine', s.engine || '–'],
  ]);
  const sk = s.sink || {};
  kv($('#sink'), [
    ['accepted', fmtInt(sk.accepted)], ['stored', fmtInt(sk.stored)], ['fsynced', fmtInt(sk.synced)], ['pending', fmtInt(sk.pending)],
    ['dropped: write errors', fmtInt((sk.dropped || {}).write_error)],
    ['written', fmtBytes(sk.bytes)], ['CSV before compression', fmtBytes(sk.raw_bytes)], ['segments', fmtInt(sk.segments)],
    ['queue', `${fmtInt(sk.queue_chunks)} chunks, ${fmtBytes(sk.queue_bytes)}`], ['write errors', fmtInt(sk.write_errors)],
  ]);
}

// The Cluster panel: one row per node that publishes its stats to NATS,
// and the totals. Only shown when this node has a cluster view.
function renderCluster(c) {
  const cell = (cls, text) => el('td', { class: 'num ' + cls, text });
  $('#t-cluster tbody').replaceChildren(...c.nodes.map((n) => el('tr', { 'data-node': n.node, 'data-stale': n.stale ? 'true' : 'false' },
    el('td', { class: 'node' }, n.node, n.self ? el('span', { class: 'badge', text: 'this node' }) : null),
    cell('devices', fmtInt(n.devices)),
    cell('connections', fmtInt(n.connections)),
    cell('rate', n.stale ? '–' : fmtSI(n.rates.readings_per_s)),
    cell('readings', fmtInt(n.readings)),
    cell('lost', fmtInt(n.lost)),
    cell('errors', fmtInt(n.errors)),
    cell('dropped', fmtInt(n.dropped)),
    cell('spool', fmtBytes(n.spool_bytes)),
    el('td', { class: 'state ' + (n.stale ? 'stale' : 'live'), text: n.stale ? `stale, ${fmtSI(n.age_s, 's')} ago` : 'live' }),
  )));
  const t = c.total;
  setText('#ct-devices', fmtInt(t.devices));
  setText('#ct-connections', fmtInt(t.connections));
  setText('#ct-rate', fmtSI(t.rates.readings_per_s));
  setText('#ct-readings', fmtInt(t.readings));
  setText('#ct-lost', fmtInt(t.lost));
  setText('#ct-errors', fmtInt(t.errors));
  setText('#ct-dropped', fmtInt(t.dropped));
  setText('#ct-spool', fmtBytes(t.spool_bytes));
  setText('#ct-live', `${t.live} of ${t.nodes} live`);
  labelCells($('#t-cluster'));
  setText('#cluster-sum', c.nodes_omitted ? `(${fmtInt(c.nodes_omitted)} more nodes not shown)` : '');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function pollCluster() {
  for (;;) {
    try {
      const c = await api('/api/cluster');
      $('#cluster').dataset.enabled = c.enabled;
      if (!c.enabled) return; // this node has no cluster view: no panel
      renderCluster(c);
      $('#cluster').hidden = false;
    } catch (e) {
      if (e instanceof AuthError) return; // the token form is open; it reloads the page
    }
    await sleep(1000);
  }
}

async function start() {
  try {
    const h = await api('/api/history');
    readingsChart.set(h.points.map((p) => ({ t: p.t, v: [p.readings_per_s] })));
    lossChart.set(h.points.map((p) => ({ t: p.t, v: [p.loss] })));
  } catch (e) {
    // The stream below retries and reports its state.
  }
  let last = 0;
  subscribe('/api/events', 'stats', (s) => {
    render(s);
    const r = s.rates;
    if (r && r.t > last) {
      last = r.t;
      readingsChart.push(r.t, [r.readings_per_s]);
      lossChart.push(r.t, [r.loss]);
    }
  }, setLive);
}

start();
pollCluster();
