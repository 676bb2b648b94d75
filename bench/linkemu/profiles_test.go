package linkemu

import (
	"testing"
	"time"
)

func TestProfiles(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Profiles() {
		if err := p.Config.Validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if p.Config.Name != p.Name || seen[p.Name] || len(p.Sources) == 0 || len(p.Judgments) == 0 || p.Description == "" {
			t.Errorf("%s: name, description, sources or judgments missing or duplicated", p.Name)
		}
		seen[p.Name] = true
		for _, d := range []Dir{p.Config.Up, p.Config.Down} {
			if d.Delay == 0 || d.RateKbit == 0 || d.Loss.MeanPct() == 0 {
				t.Errorf("%s: every profile has delay, rate and loss each way: %s", p.Name, d)
			}
		}
		t.Logf("%s: up %s; down %s; RTT %v", p.Name, p.Config.Up, p.Config.Down, p.Config.Up.Delay+p.Config.Down.Delay)
	}
	for _, name := range []string{"nbiot-emu", "ltem-emu", "lte-emu", "3g-emu", "geo-emu"} {
		if _, err := ProfileByName(name); err != nil {
			t.Error(err)
		}
	}
	if _, err := ProfileByName("nope"); err == nil {
		t.Error("unknown profile accepted")
	}
	if p, _ := ProfileByName("geo-emu"); p.Config.Up.Delay+p.Config.Down.Delay != 600*time.Millisecond {
		t.Errorf("geo-emu round trip %v", p.Config.Up.Delay+p.Config.Down.Delay)
	}
}
