package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// layoutWidths are the window widths the pages must lay out at: the
// narrowest supported, a laptop, a large screen (the range is 700-2560).
var layoutWidths = []int64{700, 1400, 2560}

// overflowJS lists what spills out of a panel (a card, a chart, a table's
// panel, a key-value list, main itself): an element whose box passes its
// panel's edges, a panel whose content is wider than it, an element that
// clips its own content (overflow hidden: a header cut to its first
// letter), and a page wider than the window. With stress, every number
// cell first shows 13 characters, a fleet's worth of readings, so the
// check does not depend on how little the test's devices sent.
const overflowJS = `((stress) => {
  const px = 1;
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + [...e.classList].map((c) => '.' + c).join('');
  const shown = (e) => e.getClientRects().length > 0;
  if (stress) for (const td of document.querySelectorAll('table.data td.num')) td.textContent = '1,234,567,890';
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > innerWidth + px) out.push('the page is ' + doc.scrollWidth + ' px wide in a ' + innerWidth + ' px window');
  for (const p of document.querySelectorAll('main, main > section, .card, figure, .grid2 > *, .tablewrap, dl.kv, table.data')) {
    if (!shown(p)) continue;
    const r = p.getBoundingClientRect();
    if (p.scrollWidth > p.clientWidth + px) out.push(name(p) + ': content ' + p.scrollWidth + ' px wide in ' + p.clientWidth + ' px');
    for (const d of p.querySelectorAll('*')) {
      if (!shown(d)) continue;
      const b = d.getBoundingClientRect();
      if (b.width === 0 || b.height === 0) continue;
      if (b.left < r.left - px || b.right > r.right + px || b.top < r.top - px || b.bottom > r.bottom + px) {
        out.push(name(d) + ' "' + (d.textContent || '').trim().slice(0, 24) + '" spills out of ' + name(p) +
          ': x ' + Math.round(b.left) + '..' + Math.round(b.right) + ' in ' + Math.round(r.left) + '..' + Math.round(r.right) +
          ', y ' + Math.round(b.top) + '..' + Math.round(b.bottom) + ' in ' + Math.round(r.top) + '..' + Math.round(r.bottom));
      }
      // An ellipsis on a long value or payload is by design (its title
      // has it whole); anything else cut is content lost.
      if (d.clientWidth > 0 && d.scrollWidth > d.clientWidth + px && getComputedStyle(d).overflowX !== 'visible' &&
        !d.matches('td.values, td.payload')) out.push(name(d) + ' "' + (d.textContent || '').trim().slice(0, 24) + '" is clipped: ' + d.scrollWidth + ' px in ' + d.clientWidth);
    }
  }
  return [...new Set(out)];
})(true)`

// fitsAt checks the open page at every layout width, then puts the window
// back to the size the rest of the test expects.
func (b *browser) fitsAt(t *testing.T, page string) {
	t.Helper()
	for _, w := range layoutWidths {
		b.do(t, fmt.Sprintf("resize to %d px", w), chromedp.EmulateViewport(w, 900))
		// Let ResizeObserver redraw the charts and the container queries
		// settle: two animation frames.
		b.wait(t, "two frames", `new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok(true))))`)
		probs, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](overflowJS))
		if err != nil {
			t.Fatalf("%s at %d px: check the layout: %s", page, w, err)
		}
		if len(probs) > 0 {
			if len(probs) > 12 {
				probs = append(probs[:12], fmt.Sprintf("... and %d more", len(probs)-12))
			}
			t.Errorf("%s at %d px wide: content overflows its panel:\n  %s", page, w, strings.Join(probs, "\n  "))
		}
		b.screenshot(t, fmt.Sprintf("%s-%d", page, w))
	}
	b.do(t, "resize back", chromedp.EmulateViewport(1280, 900), chromedp.Sleep(50*time.Millisecond))
}
