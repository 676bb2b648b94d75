package netns

import (
	"strings"
	"testing"
)

func TestProfiles_Valid(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Profiles() {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if seen[p.Name] {
			t.Errorf("profile %s twice", p.Name)
		}
		seen[p.Name] = true
		if p.Description == "" || p.Source == "" {
			t.Errorf("%s: no description or source for the report", p.Name)
		}
		got, err := ProfileByName(p.Name)
		if err != nil || got.Name != p.Name {
			t.Errorf("ProfileByName(%q) = %v, %v", p.Name, got.Name, err)
		}
	}
	// The issue names these; the bench refers to them by name.
	for _, name := range []string{"clean", "lossy-wifi", "lte-m", "nbiot", "loss-0.1", "loss-1", "loss-5"} {
		if !seen[name] {
			t.Errorf("no profile %s", name)
		}
	}
	if _, err := ProfileByName("dial-up"); err == nil || !strings.Contains(err.Error(), "nbiot") {
		t.Errorf("unknown profile: %v (want the list of known names)", err)
	}
}

func TestProfile_Validate_Failure(t *testing.T) {
	f := func(p Profile, want string) {
		t.Helper()
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Validate(%+v) = %v, want an error containing %q", p, err, want)
		}
	}
	f(Profile{}, "no name")
	f(Profile{Name: "x", UpKbit: -1}, "negative rate")
	f(Profile{Name: "x", LossPct: 100}, "LossPct")
	f(Profile{Name: "x", LossPct: -0.1}, "LossPct")
	f(Profile{Name: "x", MTU: 67}, "MTU")
	f(Profile{Name: "x", UpKbit: 10, BurstBytes: 1000}, "burst 1000 B is below one frame (1514 B)")
	f(Profile{Name: "x", DownKbit: 10, MTU: 576, QueueBytes: 589}, "queue 589 B is below one frame (590 B)")
	f(Profile{Name: "x", QueueBytes: -1}, "negative burst or queue")
}

func TestProfile_Defaults(t *testing.T) {
	p := Profile{Name: "x", UpKbit: 62.5}
	if p.burst() != 1514 || p.queue() != 64<<10 || p.mtu() != 1500 {
		t.Fatalf("defaults: burst %d queue %d mtu %d", p.burst(), p.queue(), p.mtu())
	}
	if got, want := p.String(), "x up=62.5kbit down=unlimited burst=1514B queue=65536B loss=0% mtu=1500"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

func TestTcRateAndPpm(t *testing.T) {
	f := func(kbit float64, want string) {
		t.Helper()
		if got := tcRate(kbit); got != want {
			t.Fatalf("tcRate(%g) = %q, want %q", kbit, got, want)
		}
	}
	f(62.5, "62500bit")
	f(26, "26000bit")
	f(6500, "6500000bit")
	g := func(pct float64, want int64) {
		t.Helper()
		if got := ppm(pct); got != want {
			t.Fatalf("ppm(%g) = %d, want %d", pct, got, want)
		}
	}
	g(0.1, 1000)
	g(1, 10000)
	g(5, 50000)
	g(0.0001, 1)
}
