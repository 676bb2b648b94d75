package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// secretKeys may not be written in a configuration file, which is copied,
// versioned and read by many: each says where its secret goes instead.
// A sink URL may carry a password: see checkURLSecret.
var secretKeys = map[string]string{
	"http-token": "http-token-file or $FLEETWIRE_TOKEN",
}

// exclusive are groups of flags of which the command line may give one:
// when it does, the file's others are not applied either, so the command
// line overrides the file instead of clashing with it.
var exclusive = [][]string{{"http-token", "http-token-file"}, {"sink", "sink-file"}}

// sinkFlag returns serve's sink: the content of --sink-file (trimmed),
// else --sink.
func sinkFlag(cmd *cobra.Command) (string, error) {
	value, file := cmd.Flags().Lookup("sink"), cmd.Flags().Lookup("sink-file")
	if !file.Changed {
		return value.Value.String(), nil
	}
	if value.Changed {
		return "", errors.New("--sink-file and --sink: give one of them")
	}
	b, err := os.ReadFile(file.Value.String())
	if err != nil {
		return "", fmt.Errorf("--sink-file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("--sink-file %s: no sink in it", file.Value)
	}
	return s, nil
}

// checkURLSecret refuses a URL that carries credentials (user:password@,
// or a token as the user) as a value of a configuration file.
func checkURLSecret(key, v string) error {
	for _, p := range strings.Split(v, ",") {
		if u, err := url.Parse(p); err == nil && u.User != nil {
			return fmt.Errorf("%s: a URL with credentials does not belong in a configuration file; put the URL in the file sink-file names (cluster-nats defaults to the sink's servers)", key)
		}
	}
	return nil
}
