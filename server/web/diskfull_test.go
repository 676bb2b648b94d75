package web

import (
	"context"
	"fmt"
	"github.com/fleetwire/fleetwire/server/sink"
	"net"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fleetwire/fleetwire/internal/tmpfs"
	"github.com/fleetwire/fleetwire/server"
)

// TestSinkWriteErrorsShown fills the file sink's disk (a 128 KiB tmpfs)
// and checks that the readings it could not write are visible: on
// /metrics as dropped with transport "sink", and on the dashboard's drops
// table (when Chromium is installed).
func TestSinkWriteErrorsShown(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	dir := tmpfs.Mount(t, 128<<10)
	fs, err := sink.OpenFiles(sink.FileConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{TCPAddr: "127.0.0.1:0", Sink: fs})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	e := serveEnv(t, srv, Config{Interval: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", e.addr(server.TCP))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	var buf []byte
	for seq := 0; srv.Stats().Dropped[server.DropSinkWriteError] == 0; {
		if ctx.Err() != nil {
			t.Fatalf("no write error before the deadline: %+v", srv.Stats().Sink)
		}
		buf = buf[:0]
		for ; len(buf) < 32<<10; seq++ {
			buf = fmt.Appendf(buf, "mote-%d;%d;%d.%02d\n", seq%20, seq/20, seq*7%1000, seq%97)
		}
		if _, err := conn.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the snapshot to show the drops", func() bool {
		smp, _ := e.web.rec.current()
		return smp.Dropped[server.DropSinkWriteError] > 0
	})
	fams := scrape(t, e)
	got := value(t, fams, "fleetwire_dropped_readings_total", "transport", "sink", "reason", server.DropSinkWriteError)
	sinkGot := value(t, fams, "fleetwire_sink_dropped_readings_total", "reason", "write_error")
	if got == 0 || got != sinkGot {
		t.Fatalf("/metrics: dropped{transport=sink,reason=sink_write_error} %v, sink_dropped{reason=write_error} %v; want equal and not 0", got, sinkGot)
	}

	if _, err := os.Stat(chromium); err != nil {
		t.Logf("dashboard not checked: %s not installed (apt-get install chromium)", chromium)
		return
	}
	b := newBrowser(t, ctx)
	b.do(t, "open /", chromedp.Navigate(e.ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#s-readings")))
	b.wait(t, "a sink_write_error row in the drops table", `[...document.querySelectorAll('#t-dropped tbody tr')].some(tr => {
		const td = tr.querySelectorAll('td');
		return td[0].textContent === 'sink_write_error' && td[1].textContent === 'sink' && Number(td[2].textContent.replace(/,/g, '')) > 0;
	}) && document.querySelector('#no-dropped').hidden`)
	b.wait(t, "write-error drops in the sink panel", `(() => {
		const dt = [...document.querySelectorAll('#sink dt')].find(dt => dt.textContent === 'dropped: write errors');
		return dt && Number(dt.nextElementSibling.textContent.replace(/,/g, '')) > 0;
	})()`)
	b.screenshot(t, "disk-full")
	if errs := b.takeErrors(); len(errs) > 0 {
		t.Errorf("the page reported errors: %v", errs)
	}
}
