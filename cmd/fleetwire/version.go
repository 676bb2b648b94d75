package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version, commit and buildDate are set by `make dist`:
//
//	-ldflags "-X main.version=$(git describe --tags --always --dirty) -X main.commit=... -X main.buildDate=2026-12-06T07:00:00Z"
//
// Without them a binary still tells its commit and the commit's date: Go
// stamps them into the build info of a `go build` in a git clone (not in
// a `git worktree`, whose .git is a file Go does not recognise, nor with
// -buildvcs=false): commit is the fallback for those.
var (
	version   = "dev"
	commit    = ""
	buildDate = ""
)

func init() { subcommands = append(subcommands, newVersionCmd) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date of this binary",
		Long: `Print the version, commit and build date of this binary on one line, as
--version does: the version "make dist" gave it (git describe), else the
module's version Go recorded, else "dev"; the commit and its date from the
build info Go stamps into a build from a git checkout ("modified" when the
checkout had uncommitted changes); the build date when "make dist" set it;
the Go release and platform.`,
		Example: `  fleetwire version
  fleetwire --version`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "fleetwire "+versionLine())
			return err
		},
	}
}

// versionLine is what `fleetwire version` prints after the program's
// name, from this binary's build info.
func versionLine() string {
	bi, _ := debug.ReadBuildInfo() // nil when the binary has none
	return describeBuild(version, commit, buildDate, bi)
}

// describeBuild renders a version line: the version, then in parentheses
// the commit (with "modified" for a dirty tree), the commit's date, the
// build date and the Go release and platform, each when known, e.g.
//
//	v0.3.0-12-gabc1234 (commit abc1234..., committed 2026-12-05T18:00:00Z, built 2026-12-06T07:00:00Z, go1.26.8 linux/amd64)
//
// ver, rev and built are the -X values ("dev", "" and "" when not set);
// the build info's commit wins over rev. bi may be nil.
func describeBuild(ver, rev, built string, bi *debug.BuildInfo) string {
	if bi == nil {
		bi = &debug.BuildInfo{}
	}
	// `go install module@version` and builds in a checkout (pseudo-versions
	// since Go 1.24) record the module's version; "(devel)" means none.
	if ver == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		ver = bi.Main.Version
	}
	var committed string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			committed = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var parts []string
	switch {
	case rev != "" && modified:
		parts = append(parts, "commit "+rev+", modified")
	case rev != "":
		parts = append(parts, "commit "+rev)
	}
	if committed != "" {
		parts = append(parts, "committed "+committed)
	}
	if built != "" {
		parts = append(parts, "built "+built)
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	parts = append(parts, goVersion+" "+runtime.GOOS+"/"+runtime.GOARCH)
	return ver + " (" + strings.Join(parts, ", ") + ")"
}
