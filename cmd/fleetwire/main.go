// Command fleetwire ingests sensor readings from device fleets over raw
// TCP, UDP and TLS, and measures what each wire choice costs. Each job is
// a subcommand; this package only parses flags and calls the packages.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "fleetwire:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var logLevel, pprofAddr string
	var pprofInsecure bool
	root := &cobra.Command{
		Use:   "fleetwire",
		Short: "Ingest sensor readings from device fleets and measure what each wire choice costs",
		Long: `fleetwire ingests sensor readings from very large device fleets over raw TCP,
UDP and TLS, and measures what each wire choice (transport x format x batch
size) costs in bytes, lost readings and server CPU.

Wire formats (codec names): text, binary, compact, each optionally with
+zstd, +s2 or +zstd-dict. PROTOCOL.md specifies them byte by byte.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := prepareFlags(cmd); err != nil { // --config, then bounds
				return err
			}
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
			if pprofAddr != "" {
				token, err := httpToken(cmd) // serve's: its profiles are as guarded as its API
				if err != nil {
					return err
				}
				return startPprof(pprofAddr, pprofInsecure, token)
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&pprofAddr, "pprof", "", "serve Go's profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060: CPU with /debug/pprof/profile, heap with /debug/pprof/heap; serve's HTTP token, if any, is required")
	root.PersistentFlags().BoolVar(&pprofInsecure, "pprof-insecure", false, "allow --pprof on a non-loopback address: profiles reveal code paths and stacks and cost CPU to take, and only serve's HTTP token, if set, guards them")
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}

// subcommands are registered by the files of this package, one file per
// subcommand, each in an init function: adding one touches no other file.
var subcommands []func() *cobra.Command
