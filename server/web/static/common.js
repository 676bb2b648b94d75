// Shared by every page: API calls with the optional bearer token, server-
// sent events over fetch (EventSource cannot send an Authorization
// header), DOM building from nodes and text only, number formatting.

const TOKEN_KEY = 'fleetwire.token';

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

function headers(extra) {
  const h = Object.assign({}, extra);
  const t = token();
  if (t) h['Authorization'] = 'Bearer ' + t;
  return h;
}

export class AuthError extends Error {}

// api fetches a JSON route; a 401 opens the token form.
export async function api(path, opts = {}) {
  const res = await fetch(path, Object.assign({}, opts, { headers: headers(opts.headers), cache: 'no-store' }));
  if (res.status === 401) {
    showLogin();
    throw new AuthError('a token is required');
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = new Error(body.error || res.statusText);
    e.status = res.status;
    throw e;
  }
  return body;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// subscribe reads a text/event-stream and calls onData with the parsed
// JSON of each `event` event; onState('live' | 'retrying' | 'missing').
// It reconnects with backoff and returns a function that stops it.
export function subscribe(path, event, onData, onState = () => {}) {
  let stopped = false;
  let ctrl = null;
  (async () => {
    let backoff = 1000;
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const res = await fetch(path, { headers: headers({ Accept: 'text/event-stream' }), signal: ctrl.signal, cache: 'no-store' });
        if (res.status === 401) { showLogin(); onState('retrying'); return; }
        if (res.status === 404) { onState('missing'); throw new Error('not found'); }
        if (!res.ok || !res.body) throw new Error(res.statusText);
        onState('live');
        backoff = 1000;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let ev = 'message';
            const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) ev = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
            }
            if (ev === event && data.length) onData(JSON.parse(data.join('\n')));
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      if (stopped) return;
      onState('retrying');
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 15000);
    }
  })();
  return () => { stopped = true; if (ctrl) ctrl.abort(); };
}

// el builds an element. attrs: 'class', 'text' (textContent), 'on<event>'
// handlers, anything else via setAttribute. Children: nodes or strings,
// which become text nodes: data never reaches the HTML parser.
// labelCells gives every body and footer cell of table its column's
// header text as data-label: a panel too narrow for the table stacks its
// cells and shows that label above each (app.css, stack-*).
export function labelCells(table) {
  const heads = table.tHead ? [...table.tHead.rows[0].cells].map((th) => th.textContent.trim()) : [];
  for (const sec of [...table.tBodies, table.tFoot]) {
    if (!sec) continue;
    for (const tr of sec.rows) {
      [...tr.cells].forEach((c, i) => { if (heads[i] && c.dataset.label !== heads[i]) c.dataset.label = heads[i]; });
    }
  }
}

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export const $ = (sel) => document.querySelector(sel);

export function setText(sel, v) {
  const e = typeof sel === 'string' ? $(sel) : sel;
  if (e && e.textContent !== String(v)) e.textContent = v;
}

// A device id as the server accepts it (codec.ValidID).
export const validID = (id) => /^[A-Za-z0-9._-]{1,64}$/.test(id);

export function deviceHref(id) { return '/devices/' + encodeURIComponent(id); }

const nf = new Intl.NumberFormat('en-US');
export function fmtInt(n) { return n === undefined || n === null ? '–' : nf.format(n); }

export function fmtSI(n, unit = '') {
  if (n === undefined || n === null || !isFinite(n)) return '–';
  const a = Math.abs(n);
  const [d, s] = a >= 1e9 ? [1e9, 'G'] : a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'k'] : [1, ''];
  const v = n / d;
  const digits = Math.abs(v) >= 100 || (d === 1 && Number.isInteger(v)) ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return v.toFixed(digits) + (s || unit ? ' ' : '') + s + unit;
}

export function fmtBytes(n) {
  if (n === undefined || n === null || !isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2)) + ' ' + units[i];
}

export function fmtPct(x) {
  if (x === undefined || x === null || !isFinite(x)) return '–';
  if (x === 0) return '0 %';
  const p = x * 100;
  return (p < 0.01 ? p.toExponential(1) : p < 10 ? p.toFixed(2) : p.toFixed(1)) + ' %';
}

export function fmtAgo(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (!t || t < 86400000) return 'never';
  const s = Math.max(0, (now - t) / 1000);
  if (s < 1) return 'now';
  if (s < 60) return Math.floor(s) + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  return new Date(t).toISOString().slice(0, 16).replace('T', ' ');
}

export function fmtTime(iso) {
  const t = Date.parse(iso);
  return t ? new Date(t).toLocaleTimeString() : '–';
}

// showLogin asks for the API token once per tab (sessionStorage) and
// reloads the page with it.
let loginShown = false;
export function showLogin() {
  if (loginShown) return;
  loginShown = true;
  const input = el('input', { type: 'password', id: 'login-token', autocomplete: 'current-password', required: true, placeholder: 'token' });
  const dlg = el('dialog', { class: 'login', id: 'login' },
    el('form', {
      method: 'dialog',
      onsubmit: (ev) => {
        ev.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        location.reload();
      },
    },
    el('h2', { text: 'API token' }),
    el('p', { text: 'This server protects its API with a token (fleetwire serve --http-token). It is kept in this tab only.' }),
    input,
    el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary', text: 'Sign in' }))));
  document.body.append(dlg);
  dlg.showModal();
}

// initNav marks the current page and offers to forget a stored token.
export function initNav() {
  const path = location.pathname;
  for (const a of document.querySelectorAll('nav a[data-nav]')) {
    const here = a.dataset.nav === '/' ? path === '/' : path.startsWith(a.dataset.nav);
    if (here) a.setAttribute('aria-current', 'page');
  }
  const out = $('#logout');
  if (out && token()) {
    out.hidden = false;
    out.addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); });
  }
}

// setLive shows the state of the page's event stream in the header.
export function setLive(state) {
  const e = $('#live');
  if (!e) return;
  e.dataset.state = state;
  e.textContent = state === 'live' ? 'live' : state === 'missing' ? 'not found' : 'reconnecting…';
}
