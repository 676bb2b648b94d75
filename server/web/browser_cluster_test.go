package web

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fleetwire/fleetwire/server"
)

// TestBrowserCluster opens node-a's dashboard in headless Chromium while
// two nodes with NATS sinks ingest: the Cluster panel shows a row per node
// with its own devices, the totals over both, live rates, and node-b
// turning stale when it stops. A node without a cluster view hides the
// panel.
func TestBrowserCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	b := newBrowser(t, ctx)

	c := newClusterEnv(t, Config{Interval: 250 * time.Millisecond})
	devs := c.fleet(t)
	stop := make(chan struct{})
	defer close(stop)
	go feed(devs, 50*time.Millisecond, stop)

	row := func(node, cell string) string { return `#t-cluster tbody tr[data-node="` + node + `"] td.` + cell }
	b.do(t, "open node-a's /", chromedp.Navigate(c.ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#t-cluster")))
	b.wait(t, "a row per node", `[...document.querySelectorAll('#t-cluster tbody tr')].map(r => r.dataset.node).join() === 'node-a,node-b'`)
	b.wait(t, "node-a's own devices", `document.querySelector('`+row("node-a", "devices")+`').textContent === '2'`)
	b.wait(t, "node-b's devices", `document.querySelector('`+row("node-b", "devices")+`').textContent === '3'`)
	b.wait(t, "the total", `document.querySelector('#ct-devices').textContent === '5' && document.querySelector('#ct-live').textContent === '2 of 2 live'`)
	b.wait(t, "this node marked", `document.querySelector('#t-cluster tr[data-node="node-a"] .badge')?.textContent === 'this node' && !document.querySelector('#t-cluster tr[data-node="node-b"] .badge')`)
	b.grows(t, row("node-b", "readings"))
	b.grows(t, "#ct-readings")
	b.wait(t, "node-b's rate", `parseFloat(document.querySelector('`+row("node-b", "rate")+`').textContent) > 0`)
	b.wait(t, "both live", `[...document.querySelectorAll('#t-cluster td.state')].every(td => td.textContent === 'live')`)
	// The sum shown is the sum of the rows shown.
	b.wait(t, "total readings = the rows' sum", `(() => {
		const n = (sel) => Number(document.querySelector(sel).textContent.replace(/,/g, ''));
		return n('#ct-readings') === n('`+row("node-a", "readings")+`') + n('`+row("node-b", "readings")+`');
	})()`)
	b.screenshot(t, "cluster")

	c.stopB()
	b.wait(t, "node-b stale", `document.querySelector('#t-cluster tr[data-node="node-b"]').dataset.stale === 'true' && document.querySelector('`+row("node-b", "state")+`').textContent.startsWith('stale')`)
	b.wait(t, "one of two live", `document.querySelector('#ct-live').textContent === '1 of 2 live' && document.querySelector('#t-cluster tr[data-node="node-a"]').dataset.stale === 'false'`)
	b.screenshot(t, "cluster-stale")
	if errs := b.takeErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors: %v", errs)
	}

	// A node without a cluster view: no panel, no error.
	e := newEnv(t, Config{Interval: 250 * time.Millisecond}, server.Config{})
	b.do(t, "open a lone node's /", chromedp.Navigate(e.ts.URL+"/"))
	b.wait(t, "live", `document.querySelector('#live').dataset.state === 'live'`)
	b.wait(t, "no cluster panel", `document.querySelector('#cluster').dataset.enabled === 'false' && document.querySelector('#cluster').hidden`)
	if errs := b.takeErrors(); len(errs) > 0 {
		t.Errorf("the lone node's page reported errors: %v", errs)
	}
}
