// A small SVG line chart: time on x, one or more series on y, gridlines
// with labels. Colours come from the stylesheet (.s0, .s1, ...), so the
// chart needs no inline style and works under a strict CSP.

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// niceStep picks a round gridline step so that about `ticks` lines cover span.
function niceStep(span, ticks) {
  const raw = span / ticks;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

export class LineChart {
  // opts: series: [names], format: y label formatter, windowMs: x span,
  // height, min (lowest y, default 0).
  constructor(container, opts) {
    this.opts = Object.assign({ height: 180, windowMs: 10 * 60 * 1000, format: String, min: 0 }, opts);
    this.points = []; // {t, v: [..]}
    this.root = svg('svg', { class: 'chart', role: 'img', preserveAspectRatio: 'none' });
    if (opts.label) this.root.setAttribute('aria-label', opts.label);
    container.append(this.root);
    if (this.opts.series.length > 1) {
      const legend = document.createElement('div');
      legend.className = 'legend';
      this.opts.series.forEach((name, i) => {
        const k = document.createElement('span');
        k.className = 'key s' + i;
        k.textContent = name;
        legend.append(k);
      });
      container.append(legend);
    }
    new ResizeObserver(() => this.draw()).observe(container);
  }

  set(points) { this.points = points.slice(); this.draw(); }

  // push adds a point after the last; one not after it (a sample the
  // history already had) is dropped.
  push(t, values) {
    if (this.points.length && t <= this.points[this.points.length - 1].t) return;
    this.points.push({ t, v: values });
    const cut = t - this.opts.windowMs;
    while (this.points.length && this.points[0].t < cut) this.points.shift();
    this.draw();
  }

  draw() {
    const W = Math.max(200, this.root.parentElement ? this.root.parentElement.clientWidth : 600);
    const H = this.opts.height;
    const L = 56, R = 8, T = 8, B = 22;
    const root = this.root;
    root.setAttribute('viewBox', `0 0 ${W} ${H}`);
    root.setAttribute('width', W);
    root.setAttribute('height', H);
    root.replaceChildren();
    const pts = this.points;
    // What the chart holds, for tests and for reading off in devtools.
    root.dataset.points = pts.length;
    root.dataset.from = pts.length ? pts[0].t : '';
    const now = pts.length ? pts[pts.length - 1].t : Date.now();
    const t0 = now - this.opts.windowMs;
    let lo = this.opts.min, hi = -Infinity;
    for (const p of pts) for (const v of p.v) if (isFinite(v)) { hi = Math.max(hi, v); lo = Math.min(lo, v); }
    if (!isFinite(lo)) lo = 0;
    if (!isFinite(hi) || hi <= lo) hi = lo + 1;
    const step = niceStep(hi - lo, 4);
    lo = Math.floor(lo / step) * step;
    hi = Math.ceil(hi / step) * step;
    const x = (t) => L + ((t - t0) / this.opts.windowMs) * (W - L - R);
    const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
    const grid = svg('g', { class: 'grid' });
    for (let v = lo; v <= hi + step / 2; v += step) {
      grid.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      grid.append(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, this.opts.format(v)));
    }
    const minutes = this.opts.windowMs / 60000;
    const every = minutes > 5 ? 2 : minutes > 2 ? 1 : 0.5;
    for (let m = 0; m <= minutes; m += every) {
      const t = now - m * 60000;
      grid.append(svg('text', { x: x(t), y: H - 6, 'text-anchor': m === 0 ? 'end' : 'middle' }, m === 0 ? 'now' : `-${m}m`));
    }
    root.append(grid);
    this.opts.series.forEach((_, i) => {
      let d = '';
      let gap = true;
      for (const p of pts) {
        const v = p.v[i];
        if (!isFinite(v)) { gap = true; continue; }
        d += (gap ? 'M' : 'L') + x(p.t).toFixed(1) + ' ' + y(v).toFixed(1);
        gap = false;
      }
      if (d) root.append(svg('path', { d, class: 'line s' + i }));
    });
  }
}
