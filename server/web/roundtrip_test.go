package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fleetwire/fleetwire/server"
)

// TestCommandRoundTrip posts a command for a device on TCP and one on
// UDP: each device reads "#cmd <id> LED ON", answers "#ack <id> ok", and
// the API shows the command acked, on both I/O engines.
func TestCommandRoundTrip(t *testing.T) {
	for _, engine := range []string{"gnet", "std"} {
		t.Run(engine, func(t *testing.T) {
			e := newEnv(t, Config{}, server.Config{Engine: engine})
			devs := []*device{
				dialDevice(t, "tcp", e.addr(server.TCP), "dev-1", true),
				dialDevice(t, "udp", e.addr(server.UDP), "dev-2", true),
			}
			for _, d := range devs {
				d.send(2)
			}
			waitFor(t, 5*time.Second, "both devices online", func() bool {
				a, ok1 := e.srv.Device("dev-1")
				b, ok2 := e.srv.Device("dev-2")
				return ok1 && ok2 && a.Online && b.Online
			})
			for i, d := range devs {
				code, _, body := e.do(t, "POST", "/api/devices/"+d.id+"/commands", "", "application/json", `{"payload":"LED ON"}`)
				if code != http.StatusAccepted {
					t.Fatalf("POST command to %s: %d %s", d.id, code, body)
				}
				var c Command
				if err := json.Unmarshal([]byte(body), &c); err != nil {
					t.Fatal(err)
				}
				want := fmt.Sprintf("%d LED ON", c.ID)
				waitFor(t, 5*time.Second, d.id+" to receive the command", func() bool {
					cmds := d.commands()
					return len(cmds) == 1 && cmds[0] == want
				})
				var got Command
				waitFor(t, 5*time.Second, d.id+"'s command to be acked", func() bool {
					e.getJSON(t, fmt.Sprintf("/api/commands/%d", c.ID), "", &got)
					return got.State == server.CmdAcked
				})
				wantVia := []string{"tcp", "udp"}[i]
				if got.Ack != "ok" || got.Via != wantVia || got.Sent.IsZero() || got.Done.Before(got.Sent) {
					t.Errorf("%s: command %+v, want acked ok via %s", d.id, got, wantVia)
				}
				d.mu.Lock()
				led := d.led
				d.mu.Unlock()
				if !led {
					t.Errorf("%s: LED is off after LED ON", d.id)
				}
				// The device's page data lists the command with its state.
				var dev struct{ Commands []Command }
				e.getJSON(t, "/api/devices/"+d.id, "", &dev)
				if len(dev.Commands) != 1 || dev.Commands[0].State != server.CmdAcked || !strings.EqualFold(dev.Commands[0].Payload, "led on") {
					t.Errorf("%s: device commands %+v", d.id, dev.Commands)
				}
			}
		})
	}
}
