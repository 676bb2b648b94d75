package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server/sink"
)

// The simplest real devices, byte for byte as the classic raw-socket
// tutorial sketches send them, at their pace (Serial/WiFiClient print):
//
//	client.print(analogRead(A0)); client.print(",");  delay(100);
//
// on a listener of their own beside the fleetwire-format one.

// plainServer serves the default listeners plus, for legacy devices, a
// TCP listener "pots" with END ',' (naming by IP), its base-2 twin, a
// raw-downlink one for LEDs, and a UDP one.
func plainServer(t *testing.T, data string, engine ...string) *Server {
	t.Helper()
	return startServer(t, func(c *Config) {
		c.Sink = files(t, data)
		if len(engine) > 0 {
			c.Engine = engine[0]
		}
		for _, spec := range []string{
			"tcp://127.0.0.1:0?name=pots&end=comma",
			"tcp://127.0.0.1:0?name=pots2&end=comma&radix=2&naming=fixed:pot-b2",
			"tcp://127.0.0.1:0?name=leds&end=comma&downlink=raw",
			"udp://127.0.0.1:0?name=plain-udp&naming=ip-port",
		} {
			l, err := ParseListener(spec)
			if err != nil {
				t.Fatal(err)
			}
			c.Listeners = append(c.Listeners, l)
		}
	})
}

// TestPotentiometerComma: a device printing "512," every 100 ms on one
// connection, never a newline, is served while connected: each reading is
// on its device's page within a second of being sent, and all of them are
// in the sink, exactly as printed, once it disconnects. Its base-2 twin
// on a radix-2 listener stores the same decimals.
func TestPotentiometerComma(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) { testPotentiometerComma(t, engine) })
	}
}

func testPotentiometerComma(t *testing.T, engine string) {
	data := t.TempDir()
	srv := plainServer(t, data, engine)
	values := []int{512, 513, 4095, 0, 1, 2048, 77, 3000}
	for _, tc := range []struct {
		listener, device string
		print            func(int) string
	}{
		{"pots", "127.0.0.1", strconv.Itoa},
		{"pots2", "pot-b2", func(v int) string { return strconv.FormatInt(int64(v), 2) }},
	} {
		c, err := net.Dial("tcp", srv.ListenerAddr(tc.listener).String())
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range values {
			sent := time.Now()
			if _, err := c.Write([]byte(tc.print(v) + ",")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, time.Second, fmt.Sprintf("%s's reading %d on its page", tc.device, i), func() bool {
				d, ok := srv.Device(tc.device)
				return ok && d.Readings == uint64(i+1) && d.LastValues[0] == strconv.Itoa(v) && d.Online
			})
			if d := time.Since(sent); d > time.Second {
				t.Fatalf("reading %d of %s took %v", i, tc.device, d)
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.Close()
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	r, err := sink.OpenReader(data)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		row := r.Row()
		rows[string(row.Device)] = append(rows[string(row.Device)], row.Values[0].String())
	}
	want := make([]string, len(values))
	for i, v := range values {
		want[i] = strconv.Itoa(v)
	}
	for _, dev := range []string{"127.0.0.1", "pot-b2"} {
		if got := strings.Join(rows[dev], ","); got != strings.Join(want, ",") {
			t.Fatalf("%s stored %s, want %s", dev, got, strings.Join(want, ","))
		}
	}
}

// TestSilentLED: an LED device reads bytes up to ',' and never sends any.
// Connected and silent, it is listed and online, and a command to it
// arrives as exactly "128,", done when written.
func TestSilentLED(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) { testSilentLED(t, engine) })
	}
}

func testSilentLED(t *testing.T, engine string) {
	srv := plainServer(t, t.TempDir(), engine)
	led, err := net.Dial("tcp", srv.ListenerAddr("leds").String())
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	waitFor(t, 5*time.Second, "the LED listed and online", func() bool {
		devs, _ := srv.Devices(DeviceQuery{})
		return len(devs) == 1 && devs[0].ID == "127.0.0.1" && devs[0].Online
	})
	cmd, err := srv.SubmitCommand("127.0.0.1", []byte("128,"))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 16)
	_ = led.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.ReadAtLeast(led, got, 4)
	if err != nil || string(got[:n]) != "128," {
		t.Fatalf("the LED read %q (%v), want exactly \"128,\"", got[:n], err)
	}
	if c, _ := srv.Command(cmd.ID); c.State != CmdSent || !c.Raw || c.Done.IsZero() {
		t.Fatalf("command %+v: want sent, raw, done", c)
	}
	// An explicit framed command still goes as a #cmd line.
	if _, err := srv.SubmitRaw("127.0.0.1", []byte("LED ON"), false); err != nil {
		t.Fatal(err)
	}
	n, _ = io.ReadAtLeast(led, got, len("#cmd "))
	if !bytes.HasPrefix(got[:n], []byte("#cmd ")) {
		t.Fatalf("framed command read as %q", got[:n])
	}
}

// TestAnonymousReconnects: a device without a hello that reconnects three
// times (each from a new ephemeral port) is one device.
func TestAnonymousReconnects(t *testing.T) {
	srv := plainServer(t, t.TempDir())
	for i := range 4 {
		c, err := net.Dial("tcp", srv.ListenerAddr("pots").String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "%d,", i)
		c.Close()
		waitFor(t, 5*time.Second, "the reading", func() bool { d, _ := srv.Device("127.0.0.1"); return d.Readings == uint64(i+1) })
	}
	if st := srv.Stats(); st.Devices != 1 {
		t.Fatalf("%d devices after 3 reconnects, want 1", st.Devices)
	}
}

// TestUDPHelloBindsAddress: after "#hello NAME" from an address, bare
// values from it are NAME's; another address's are its own.
func TestUDPHelloBindsAddress(t *testing.T) {
	srv := plainServer(t, t.TempDir())
	addr := srv.ListenerAddr("plain-udp")
	dev := udpFrom(t, "127.0.0.1", addr)
	fmt.Fprintf(dev, "#hello boiler-7\n")
	waitFor(t, 5*time.Second, "boiler-7", func() bool { _, ok := srv.Device("boiler-7"); return ok })
	for _, v := range []string{"61.5", "62", "62.5"} {
		fmt.Fprintf(dev, "%s\n", v)
	}
	waitFor(t, 5*time.Second, "boiler-7's 3 values", func() bool { d, _ := srv.Device("boiler-7"); return d.Readings == 3 })
	other := udpFrom(t, "127.0.0.1", addr)
	fmt.Fprintf(other, "7\n")
	id := strings.ReplaceAll(other.LocalAddr().String(), ":", "_")
	waitFor(t, 5*time.Second, "the other address as its own device", func() bool { d, _ := srv.Device(id); return d.Readings == 1 })
	if d, _ := srv.Device("boiler-7"); d.Readings != 3 {
		t.Fatalf("boiler-7 has %d readings", d.Readings)
	}
}

// TestPlainErrorsOnDevicePage: the tutorial client's greeting is
// not_a_reading (not "non_finite"), counted, and shown on the page of the
// device its connection opened.
func TestPlainErrorsOnDevicePage(t *testing.T) {
	srv := plainServer(t, t.TempDir())
	c, err := net.Dial("tcp", srv.Addr(TCP).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "I am the client sending you a message.\nHello world\n")
	waitFor(t, 5*time.Second, "two not_a_reading", func() bool { return srv.Stats().Errors["not_a_reading"] == 2 })
	d, _ := srv.Device("127.0.0.1")
	if len(d.Errors) != 2 || d.Errors[0].Reason != "not_a_reading" {
		t.Fatalf("device page errors %+v", d.Errors)
	}
}

// TestPlainNC: the nc sessions of PROTOCOL.md for each listener kind, with
// the real nc (CI installs it).
func TestPlainNC(t *testing.T) {
	nc, err := exec.LookPath("nc")
	if err != nil {
		t.Skip("nc is not installed (apt-get install netcat-openbsd)")
	}
	srv := plainServer(t, t.TempDir())
	run := func(input string, args ...string) {
		t.Helper()
		cmd := exec.Command(nc, args...)
		cmd.Stdin = strings.NewReader(input)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nc %v: %v: %s", args, err, out)
		}
	}
	hp := func(name string) []string {
		host, port, _ := net.SplitHostPort(srv.ListenerAddr(name).String())
		return []string{host, port}
	}
	run("512,513,4095,", append([]string{"-N", "-w", "2"}, hp("pots")...)...)
	run("111111111111,1000000000,", append([]string{"-N", "-w", "2"}, hp("pots2")...)...)
	run("#hello boiler-9\n61.5\n", append([]string{"-u", "-w", "1"}, hp("plain-udp")...)...)
	waitFor(t, 10*time.Second, "every reading", func() bool {
		a, _ := srv.Device("127.0.0.1")
		b, _ := srv.Device("pot-b2")
		c, _ := srv.Device("boiler-9")
		return a.Readings == 3 && b.Readings == 2 && c.Readings == 1 && b.LastValues[0] == "512"
	})
}

// TestTextOnlyListener: on a formats=text listener, line noise that looks
// like an envelope with a huge length (a plain device's serial garbage)
// is skipped to the next END, where a fleetwire listener must close the
// connection (it cannot find the next frame).
func TestTextOnlyListener(t *testing.T) {
	for _, tc := range []struct {
		spec   string
		closed bool
	}{
		{"tcp://127.0.0.1:0?name=plain&end=comma&formats=text", false},
		{"tcp://127.0.0.1:0?name=plain&end=comma", true},
	} {
		srv := startServer(t, func(c *Config) {
			l, err := ParseListener(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			c.Listeners = []Listener{l}
		})
		c, err := net.Dial("tcp", srv.ListenerAddr("plain").String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "512,\xb1\xff\xff\xff\x0f,513,")
		c.Close()
		waitFor(t, 5*time.Second, "the stream judged", func() bool {
			st := srv.Stats()
			return st.Errors["unresyncable"] == 1 || st.Readings == 2
		})
		if st := srv.Stats(); (st.Errors["unresyncable"] == 1) != tc.closed {
			t.Fatalf("%s: errors %v, readings %d", tc.spec, st.Errors, st.Readings)
		}
	}
}
