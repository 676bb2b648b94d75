import { api, el, $, labelCells, setText, fmtInt, fmtAgo, deviceHref, initNav, setLive, AuthError } from './common.js';

initNav();

// The view's state lives in the URL, so a filtered, sorted page can be
// bookmarked or shared.
const params = new URLSearchParams(location.search);
const state = {
  q: params.get('q') || '',
  transport: params.get('transport') || '',
  sort: params.get('sort') || 'id',
  limit: Number(params.get('limit')) || 100,
  offset: Number(params.get('offset')) || 0,
};
let total = 0;

$('#f-q').value = state.q;
$('#f-transport').value = state.transport;
$('#f-limit').value = String(state.limit);

function syncURL() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) if (v && !(k === 'sort' && v === 'id') && !(k === 'limit' && v === 100)) p.set(k, v);
  const qs = p.toString();
  history.replaceState(null, '', qs ? '?' + qs : location.pathname);
}

function row(d) {
  return el('tr', { 'data-id': d.id },
    el('td', { class: 'id' }, el('a', { href: deviceHref(d.id), text: d.id })),
    el('td', { text: d.transport }),
    el('td', { text: d.codec || '–' }),
    el('td', {}, el('span', { class: 'badge ' + ({ online: 'on', ended: 'ended' }[d.state] || 'off'), 'data-state': d.state, text: d.state === 'ended' ? 'stream ended' : d.state })),
    el('td', { class: 'num readings', text: fmtInt(d.readings) }),
    el('td', { class: 'num', text: fmtInt(d.lost) }),
    el('td', { class: 'num', text: fmtInt(d.duplicates) }),
    el('td', { class: 'num', text: fmtInt(d.reordered) }),
    el('td', { text: fmtAgo(d.last_seen), title: d.last_seen }),
    el('td', { class: 'values', text: (d.last_values || []).join(' · ') }));
}

let inflight = false;
async function load() {
  if (inflight) return;
  inflight = true;
  const p = new URLSearchParams({ offset: state.offset, limit: state.limit, sort: state.sort });
  if (state.q) p.set('q', state.q);
  if (state.transport) p.set('transport', state.transport);
  try {
    const page = await api('/api/devices?' + p);
    total = page.total;
    if (state.offset >= total && total > 0) {
      state.offset = Math.floor((total - 1) / state.limit) * state.limit;
      inflight = false;
      return load();
    }
    $('#devices tbody').replaceChildren(...page.devices.map(row));
    labelCells($('#devices'));
    $('#no-devices').hidden = page.devices.length > 0;
    setText('#count', `(${fmtInt(total)})`);
    const from = total ? state.offset + 1 : 0;
    setText('#range', `${fmtInt(from)}–${fmtInt(state.offset + page.devices.length)} of ${fmtInt(total)}`);
    $('#prev').disabled = state.offset === 0;
    $('#next').disabled = state.offset + state.limit >= total;
    setText('#updated', 'updated ' + new Date().toLocaleTimeString());
    setLive('live');
  } catch (e) {
    if (!(e instanceof AuthError)) setLive('retrying');
    if (e.status === 400) setText('#updated', e.message);
  } finally {
    inflight = false;
  }
}

function markSort() {
  const key = state.sort.replace(/^-/, '');
  for (const b of document.querySelectorAll('button.sort')) {
    const on = b.dataset.sort === key;
    b.closest('th').setAttribute('aria-sort', on ? (state.sort.startsWith('-') ? 'descending' : 'ascending') : 'none');
  }
}

function changed() { syncURL(); markSort(); load(); }

for (const b of document.querySelectorAll('button.sort')) {
  b.addEventListener('click', () => {
    const key = b.dataset.sort;
    // Counters sort biggest first on the first click; names A to Z.
    const descFirst = !['id', 'transport'].includes(key);
    if (state.sort === key) state.sort = '-' + key;
    else if (state.sort === '-' + key) state.sort = key;
    else state.sort = descFirst ? '-' + key : key;
    state.offset = 0;
    changed();
  });
}

let typing;
$('#f-q').addEventListener('input', (e) => {
  clearTimeout(typing);
  typing = setTimeout(() => {
    const v = e.target.value.trim();
    if (!/^[A-Za-z0-9._-]*$/.test(v)) return;
    state.q = v;
    state.offset = 0;
    changed();
  }, 250);
});
$('#f-transport').addEventListener('change', (e) => { state.transport = e.target.value; state.offset = 0; changed(); });
$('#f-limit').addEventListener('change', (e) => { state.limit = Number(e.target.value); state.offset = 0; changed(); });
$('#filters').addEventListener('submit', (e) => e.preventDefault());
$('#prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - state.limit); changed(); });
$('#next').addEventListener('click', () => { if (state.offset + state.limit < total) { state.offset += state.limit; changed(); } });

markSort();
load();
// Live: refresh the page of devices every 2 s while the tab is visible.
setInterval(() => { if (!document.hidden) load(); }, 2000);
document.addEventListener('visibilitychange', () => { if (!document.hidden) load(); });
