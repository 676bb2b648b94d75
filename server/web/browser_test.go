package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/fleetwire/fleetwire/server"
)

const chromium = "/usr/bin/chromium"

// browser starts Debian's headless Chromium with a fresh profile and
// collects what the pages report as errors: script exceptions, console
// errors, CSP violations, failed loads.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newBrowser(t *testing.T, ctx context.Context) *browser {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s not installed (apt-get install chromium): the browser test needs it", chromium)
	}
	actx, cancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	b := &browser{ctx: bctx}
	if err := chromedp.Listen(bctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				msg = "console.error"
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				msg = "log: " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errs = append(b.errs, msg)
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start chromium: %s", err)
	}
	return b
}

// takeErrors returns and forgets the errors reported so far.
func (b *browser) takeErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.errs
	b.errs = nil
	return e
}

func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		t.Fatalf("%s: %s (page errors: %v)", what, err, b.takeErrors())
	}
}

// number reads the integer shown by the element sel ("1,234" is 1234).
func (b *browser) number(t *testing.T, sel string) int64 {
	t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int64](
		fmt.Sprintf(`Number((document.querySelector(%q)?.textContent ?? '').replace(/,/g, '')) || 0`, sel)))
	if err != nil {
		t.Fatalf("read %s: %s", sel, err)
	}
	return n
}

// wait polls a JavaScript predicate until it is truthy.
func (b *browser) wait(t *testing.T, what, predicate string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := chromedp.Run(b.ctx, chromedp.Poll[any](predicate,
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		// A navigation replaces the page's JavaScript context under the
		// poll ("context" errors, or CDP's -32000 "Inspected target
		// navigated or closed" when it lands mid-call): try again in the
		// new one.
		navigated := strings.Contains(err.Error(), "context") || strings.Contains(err.Error(), "Inspected target navigated")
		if time.Now().After(deadline) || !navigated || b.ctx.Err() != nil {
			t.Fatalf("wait for %s: %s (page errors: %v)", what, err, b.takeErrors())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// grows checks that the number shown by sel goes up within a few seconds.
func (b *browser) grows(t *testing.T, sel string) {
	t.Helper()
	b.wait(t, sel+" to show a number", fmt.Sprintf(`Number((document.querySelector(%q)?.textContent ?? '').replace(/,/g, '')) > 0`, sel))
	first := b.number(t, sel)
	b.wait(t, sel+" to grow past "+fmt.Sprint(first), fmt.Sprintf(`Number(document.querySelector(%q).textContent.replace(/,/g, '')) > %d`, sel, first))
}

// screenshot saves the page as PNG when FLEETWIRE_SCREENSHOTS names a
// directory (for looking at the pages, not for asserting).
func (b *browser) screenshot(t *testing.T, name string) {
	dir := os.Getenv("FLEETWIRE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
	if err != nil {
		t.Logf("screenshot %s: %s", name, err)
	}
}

// TestBrowser loads every page in headless Chromium against a server fed
// by simulated devices, checks that the live numbers move, and sends a
// command from the device page's form through to an acknowledgement.
func TestBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 55*time.Second)
	defer cancel()
	b := newBrowser(t, ctx)

	e := newEnv(t, Config{Interval: 500 * time.Millisecond}, server.Config{})
	devs := []*device{
		dialDevice(t, "tcp", e.addr(server.TCP), "dev-tcp-1", true),
		dialDevice(t, "tcp", e.addr(server.TCP), "dev-tcp-2", true),
		dialDevice(t, "udp", e.addr(server.UDP), "dev-udp-1", true),
		dialDevice(t, "udp", e.addr(server.UDP), "dev-udp-2", true),
	}
	stop := make(chan struct{})
	defer close(stop)
	go feed(devs, 50*time.Millisecond, stop)
	waitFor(t, 5*time.Second, "4 devices", func() bool { _, n := e.srv.Devices(server.DeviceQuery{}); return n == 4 })

	// The fleet page: totals and rates move, the chart draws.
	b.do(t, "open /", chromedp.Navigate(e.ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#s-readings")))
	b.grows(t, "#s-readings")
	b.wait(t, "4 devices on /", `document.querySelector('#s-devices').textContent === '4'`)
	b.wait(t, "the live badge", `document.querySelector('#live').dataset.state === 'live'`)
	b.wait(t, "the readings chart", `document.querySelector('#chart-readings svg path.line') !== null`)
	b.wait(t, "transports table", `[...document.querySelectorAll('#t-transports td')].some(td => td.textContent === 'udp')`)
	b.screenshot(t, "fleet")
	b.fitsAt(t, "fleet")

	// The devices page: a row per device, live counters, sorting, filtering.
	b.do(t, "open /devices", chromedp.Navigate(e.ts.URL+"/devices"))
	b.wait(t, "4 rows", `document.querySelectorAll('#devices tbody tr').length === 4`)
	b.grows(t, `#devices tr[data-id="dev-udp-1"] td.readings`)
	b.do(t, "sort by id descending", chromedp.Click(chromedp.CSS(`button[data-sort="id"]`)))
	b.wait(t, "descending order", `document.querySelector('#devices tbody tr').dataset.id === 'dev-udp-2'`)
	b.do(t, "filter", chromedp.SendKeys(chromedp.CSS("#f-q"), "tcp-2"))
	b.wait(t, "one row", `document.querySelectorAll('#devices tbody tr').length === 1 && location.search.includes('q=tcp-2')`)
	b.fitsAt(t, "devices")
	b.screenshot(t, "devices")

	// A device page: counters move, a command from the form is acked.
	b.do(t, "open the device", chromedp.Click(chromedp.CSS(`#devices tr[data-id="dev-tcp-2"] a`)))
	b.wait(t, "the device page", `location.pathname === '/devices/dev-tcp-2' && document.querySelector('#dev-id').textContent === 'dev-tcp-2'`)
	b.grows(t, "#c-readings")
	b.wait(t, "channel charts", `document.querySelectorAll('#channels svg').length === 2`)
	b.wait(t, "channels named as the CSV names them", `[...document.querySelectorAll('#channels figcaption')].map((e) => e.textContent).join() === 'ch1,ch2' &&
		document.querySelector('#values .value').title === 'ch1'`)
	b.wait(t, "one state", `document.querySelector('#dev-online').dataset.state === 'online' && document.querySelector('#dev-online').textContent === 'online'`)
	b.do(t, "send LED ON",
		chromedp.SendKeys(chromedp.CSS("#cmd-payload"), "LED ON"),
		chromedp.Click(chromedp.CSS("#cmd-send")))
	b.wait(t, "the command acked on the page", `document.querySelector('#commands tbody tr[data-state="acked"] .payload')?.textContent === 'LED ON'`)
	b.wait(t, "the LED shown on", `document.querySelector('#c-led').textContent === 'on'`)
	if cmds := devs[1].commands(); len(cmds) != 1 || !strings.HasSuffix(cmds[0], " LED ON") {
		t.Errorf("dev-tcp-2 received %q, want one LED ON", cmds)
	}
	b.screenshot(t, "device")
	b.fitsAt(t, "device")

	// Opened again, the page draws the minutes before it was opened (the
	// server's history), not only the samples that arrive after.
	b.do(t, "open the device page again", chromedp.Navigate(e.ts.URL+"/devices/dev-tcp-2"))
	b.wait(t, "points from before the page was opened", `(() => {
		const s = document.querySelector('#channels svg');
		return s !== null && Number(s.dataset.points) >= 4 && Number(s.dataset.from) < performance.timeOrigin - 2000;
	})()`)
	if errs := b.takeErrors(); len(errs) > 0 {
		t.Errorf("the pages reported errors: %v", errs)
	}

	// With a token: the page asks for it once, then works.
	et := newEnv(t, Config{Token: "tok-123", Interval: 500 * time.Millisecond}, server.Config{})
	b.do(t, "open / with a token",
		chromedp.Navigate(et.ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-token")),
		chromedp.SendKeys(chromedp.CSS("#login-token"), "tok-123\n"))
	b.wait(t, "live with the token", `document.querySelector('#live').dataset.state === 'live' && document.querySelector('#s-devices').textContent === '0'`)
	for _, err := range b.takeErrors() {
		if !strings.Contains(err, "401") {
			t.Errorf("page error besides the expected 401: %s", err)
		}
	}
}
