package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

func init() { subcommands = append(subcommands, newConfigCmd) }

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check a configuration file of serve, or print one with every key and its default",
		Long: `A configuration file (serve --config FILE) is a YAML mapping of serve's flag
names to their values: max-conns: 50000, http-token-file: /etc/fleetwire/token.
Flags given on the command line override it. docs/config.md describes it,
and what SIGHUP reloads.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file as serve would, starting nothing",
		Example: `  fleetwire config check /etc/fleetwire/fleetwire.yaml
  FLEETWIRE_TOKEN=... fleetwire config check fleetwire.yaml   # the environment serve will have`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := loadServeConfig(args[0]); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "config %s: ok\n", args[0])
			return err
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "example",
		Short: "Print a configuration file of every key of serve, each with its default and what it does",
		Example: `  fleetwire config example > /etc/fleetwire/fleetwire.yaml
  fleetwire serve --config /etc/fleetwire/fleetwire.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			serve, err := freshServeCmd()
			if err != nil {
				return err
			}
			return writeExample(cmd.OutOrStdout(), serve.Flags())
		},
	})
	return cmd
}

// freshServeCmd returns serve's command, under a root of its own, with
// its flags (the root's persistent ones included) at their defaults.
func freshServeCmd(args ...string) (*cobra.Command, error) {
	serve, _, err := newRootCmd().Find([]string{"serve"})
	if err != nil {
		return nil, err
	}
	return serve, serve.ParseFlags(args)
}

// loadServeConfig returns serve's command with the configuration file at
// path applied and checked as serve checks it before it opens anything.
func loadServeConfig(path string, args ...string) (*cobra.Command, error) {
	serve, err := freshServeCmd(append(args, "--"+configFlag, path)...)
	if err != nil {
		return nil, err
	}
	if err := prepareFlags(serve); err != nil {
		return nil, err
	}
	if err := checkRootFlags(serve.Flags()); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := serve.PreRunE(serve, nil); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return serve, nil
}

// checkRootFlags checks the root's flags a configuration file may set, as
// the root checks them before a command runs.
func checkRootFlags(fs *pflag.FlagSet) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(fs.Lookup("log-level").Value.String())); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	insecure := fs.Lookup("pprof-insecure").Value.String() == "true"
	return checkPprofAddr(fs.Lookup("pprof").Value.String(), insecure)
}

// exampleHeader opens the file config example writes.
const exampleHeader = `# fleetwire serve configuration: fleetwire serve --config FILE.
#
# Every key is a flag of "fleetwire serve" (see its --help), shown with its
# default; delete the keys you do not change. Flags given on the command line
# override this file. SIGHUP reloads it: limits, the HTTP token and the TLS
# certificate change at once; other keys need a restart (docs/config.md).
# "fleetwire config check FILE" validates a file as serve would.
`

// writeExample writes a configuration file of every flag of fs at its
// default, each after its usage as a comment. A secret's key is written
// commented out, with where the secret goes instead.
func writeExample(w io.Writer, fs *pflag.FlagSet) error {
	var b strings.Builder
	b.WriteString(exampleHeader)
	var err error
	fs.SortFlags = false // in serve's order: listeners, HTTP, sink, limits
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Name == configFlag || f.Name == "help" {
			return
		}
		b.WriteString("\n")
		for _, line := range wrap(f.Usage, 76) {
			b.WriteString("# " + line + "\n")
		}
		if where, secret := secretKeys[f.Name]; secret {
			fmt.Fprintf(&b, "# %s: not in this file: use %s\n", f.Name, where)
			return
		}
		var v string
		if v, err = exampleValue(f); err == nil {
			fmt.Fprintf(&b, "%s: %s\n", f.Name, v)
		}
		if f.Name == "listen" {
			b.WriteString("#   - tcp://0.0.0.0:7072?name=pots&end=comma&radix=2&naming=ip&downlink=raw\n")
			b.WriteString("#   - {transport: udp, addr: 0.0.0.0:7073, naming: ip-port, policy: open}\n")
		}
	})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// exampleValue writes a flag's default as YAML that sets it back: a
// number, bool or duration as it is, a string quoted where YAML would read
// it otherwise, a list in YAML's flow form.
func exampleValue(f *pflag.Flag) (string, error) {
	quote := func(s string) (string, error) {
		if ok, _, _ := numericFlag(f); ok || f.Value.Type() == "bool" {
			return s, nil
		}
		out, err := yaml.Marshal(s)
		if err != nil {
			return "", fmt.Errorf("config example: %s: %w", f.Name, err)
		}
		return strings.TrimSuffix(string(out), "\n"), nil
	}
	sv, ok := f.Value.(pflag.SliceValue)
	if !ok {
		return quote(f.Value.String())
	}
	var items []string
	for _, it := range sv.GetSlice() {
		q, err := quote(it)
		if err != nil {
			return "", err
		}
		items = append(items, q)
	}
	return "[" + strings.Join(items, ", ") + "]", nil
}

// wrap cuts s into lines of at most width bytes at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
