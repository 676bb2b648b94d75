package main

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribeBuild(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	f := func(ver, rev, built string, bi *debug.BuildInfo, want string) {
		t.Helper()
		if got := describeBuild(ver, rev, built, bi); got != want {
			t.Fatalf("describeBuild(%q, %q, %q) =\n  %s\nwant\n  %s", ver, rev, built, got, want)
		}
	}
	vcs := func(mainVersion string, kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/fleetwire/fleetwire", Version: mainVersion}}
		for i := 0; i < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	const rev = "abc1234def5678abc1234def5678abc1234def56"
	// make dist: the version and build date from -ldflags, the commit from the build info.
	f("v0.3.0-12-gabc1234", rev, "2026-12-06T07:00:00Z",
		vcs("(devel)", "vcs", "git", "vcs.revision", rev, "vcs.time", "2026-12-05T18:00:00Z", "vcs.modified", "false"),
		"v0.3.0-12-gabc1234 (commit "+rev+", committed 2026-12-05T18:00:00Z, built 2026-12-06T07:00:00Z, go1.26.8 "+platform+")")
	// go build in a dirty checkout: no ldflags, Go's pseudo-version.
	f("dev", "", "",
		vcs("v0.0.0-20261205180000-abc1234def56+dirty", "vcs.revision", rev, "vcs.time", "2026-12-05T18:00:00Z", "vcs.modified", "true"),
		"v0.0.0-20261205180000-abc1234def56+dirty (commit "+rev+", modified, committed 2026-12-05T18:00:00Z, go1.26.8 "+platform+")")
	// make dist in a git worktree: Go stamps no commit, -X main.commit does.
	f("v0.3.0-dirty", rev, "2026-12-06T07:00:00Z", vcs("(devel)"),
		"v0.3.0-dirty (commit "+rev+", built 2026-12-06T07:00:00Z, go1.26.8 "+platform+")")
	// go test, go run, -buildvcs=false: nothing but "dev" and Go.
	f("dev", "", "", vcs("(devel)"), "dev (go1.26.8 "+platform+")")
	f("dev", "", "", nil, "dev ("+runtime.Version()+" "+platform+")")
}

// `fleetwire version` and `fleetwire --version` print the same line.
func TestVersionCommand(t *testing.T) {
	run := func(args ...string) string {
		t.Helper()
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	want := "fleetwire " + versionLine() + "\n"
	if !strings.HasPrefix(want, "fleetwire dev (go1.") {
		t.Fatalf("a test binary has no version nor commit: %q", want)
	}
	if got := run("version"); got != want {
		t.Fatalf("version: %q, want %q", got, want)
	}
	if got := run("--version"); got != want {
		t.Fatalf("--version: %q, want %q", got, want)
	}
}
