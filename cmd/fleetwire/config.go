package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/fleetwire/fleetwire/server"
)

// A configuration file holds serve's flags: its keys are the flag names
// and its values what the command line would say, so every flag is a key
// and the two cannot drift apart; the flags' own parsing and bounds check
// the file's values. Flags given on the command line override the file.

// configFlag names the flag of a command that reads a configuration file.
const configFlag = "config"

// cliFlagsKey annotates a command with the flags its command line gave,
// which override its configuration file on each reload too.
const cliFlagsKey = "fleetwire/cli-flags"

// maxConfigSize bounds what is read of a configuration file: a file of
// every key with its comment is under 16 KiB.
const maxConfigSize = 1 << 20

// addConfigFlags gives serve --config, and --sink-file: the file form of
// a --sink URL that carries credentials.
func addConfigFlags(f *pflag.FlagSet) {
	f.String(configFlag, "", "YAML file of these flags, keyed by their names (fleetwire config example); flags given here override it; SIGHUP reloads it")
	f.String("sink-file", "", "file holding the --sink value (its content, trimmed): a nats:// URL with a user and password stays out of ps and of --config")
}

// prepareFlags completes cmd's flags before it runs: the values of its
// --config file where the command line set none, then every numeric flag
// checked against its bound.
func prepareFlags(cmd *cobra.Command) error {
	f := cmd.Flags().Lookup(configFlag)
	if f == nil {
		return checkFlags(cmd)
	}
	var given []string
	cmd.Flags().Visit(func(f *pflag.Flag) { given = append(given, f.Name) })
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[cliFlagsKey] = strings.Join(given, ",") // for a reload
	if path := f.Value.String(); path != "" {
		if err := applyConfigFile(cmd, path); err != nil {
			return err
		}
	}
	return checkFlags(cmd)
}

// applyConfigFile reads path and sets cmd's flags from it, skipping those
// the command line set.
func applyConfigFile(cmd *cobra.Command, path string) error {
	settings, err := readConfig(path, cmd.Flags())
	if err != nil {
		return err
	}
	return applyConfig(cmd, path, settings)
}

// setting is one key of a configuration file, with its values in flag
// syntax (several for a list) and its line, for errors.
type setting struct {
	flag   *pflag.Flag
	values []string
	lines  []int // of each value
	line   int   // of the key
}

// readConfig reads and parses the configuration file at path against the
// flags of fs.
func readConfig(path string, fs *pflag.FlagSet) ([]setting, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("config %s: larger than %d bytes", path, maxConfigSize)
	}
	return parseConfig(path, data, fs)
}

// yamlLine finds the line yaml.v3 puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlError writes a syntax error as config FILE:LINE: what.
func yamlError(path string, err error) error {
	if m := yamlLine.FindStringSubmatchIndex(err.Error()); m != nil {
		msg := err.Error()
		return fmt.Errorf("config %s:%s: %s", path, msg[m[2]:m[3]], msg[m[1]:])
	}
	return fmt.Errorf("config %s: %w", path, err)
}

// configError is an error at a line of a configuration file.
func configError(path string, line int, format string, args ...any) error {
	return fmt.Errorf("config %s:%d: %s", path, line, fmt.Sprintf(format, args...))
}

// parseConfig parses a configuration file: one YAML mapping of flag
// names to values. An unknown key, a value of the wrong shape, a key given
// twice or a secret are errors with the line they are on.
func parseConfig(path string, data []byte, fs *pflag.FlagSet) ([]setting, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // an empty file sets nothing
		}
		return nil, yamlError(path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, configError(path, extra.Line, "one YAML document only")
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil // only comments
	}
	if root.Kind != yaml.MappingNode {
		return nil, configError(path, root.Line, "want a mapping of flag names to values, e.g. max-conns: 50000")
	}
	var out []setting
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, configError(path, k.Line, "a key must be a flag name")
		}
		name := k.Value
		if first, dup := seen[name]; dup {
			return nil, configError(path, k.Line, "%s given twice (first at line %d)", name, first)
		}
		seen[name] = k.Line
		f := fs.Lookup(name)
		if f == nil || name == configFlag || name == "help" {
			return nil, configError(path, k.Line, "unknown key %q%s", name, didYouMean(name, fs))
		}
		if where, secret := secretKeys[name]; secret {
			return nil, configError(path, k.Line, "%s: a secret does not belong in a configuration file; use %s", name, where)
		}
		s := setting{flag: f, line: k.Line}
		if err := s.parseValue(path, v); err != nil {
			return nil, err
		}
		if name == "sink" || name == "cluster-nats" {
			if err := checkURLSecret(name, s.values[0]); err != nil {
				return nil, configError(path, k.Line, "%v", err)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// parseValue takes the value of s from v: one scalar, or for a list flag
// a sequence (or one scalar). Aliases are refused: nothing needs them, and
// they are how a small file expands into a large one.
func (s *setting) parseValue(path string, v *yaml.Node) error {
	_, isList := s.flag.Value.(pflag.SliceValue)
	scalar := func(n *yaml.Node) (string, error) {
		switch {
		case n.Kind == yaml.AliasNode:
			return "", configError(path, n.Line, "%s: aliases are not supported", s.flag.Name)
		case n.Kind == yaml.MappingNode && s.flag.Name == "listen":
			return listenerSpec(path, n)
		case n.Kind != yaml.ScalarNode:
			return "", configError(path, n.Line, "%s: want a single value", s.flag.Name)
		case n.Tag == "!!null":
			return "", configError(path, n.Line, `%s: no value (write "" for an empty one)`, s.flag.Name)
		}
		return n.Value, nil
	}
	if isList && v.Kind == yaml.SequenceNode {
		for _, n := range v.Content {
			val, err := scalar(n)
			if err != nil {
				return err
			}
			s.values, s.lines = append(s.values, val), append(s.lines, n.Line)
		}
		return nil
	}
	if v.Kind == yaml.SequenceNode {
		return configError(path, v.Line, "%s: want a single value, not a list", s.flag.Name)
	}
	val, err := scalar(v)
	if err != nil {
		return err
	}
	s.values, s.lines = []string{val}, []int{v.Line}
	return nil
}

// listenerKeys are the keys of a listener written as a mapping: transport
// and addr, then the options of its spec (server.ParseListener).
var listenerKeys = []string{"transport", "addr", "name", "end", "radix", "naming", "formats", "downlink", "policy", "cert", "key", "client-ca"}

// listenerSpec turns a listener written as a mapping into its spec,
// transport://addr?option=value&...
func listenerSpec(path string, n *yaml.Node) (string, error) {
	var transport, addr string
	q := url.Values{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(listenerKeys, k.Value) {
			return "", configError(path, k.Line, "listen: unknown key %q%s (%s)", k.Value, closest(k.Value, listenerKeys), strings.Join(listenerKeys, ", "))
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return "", configError(path, v.Line, "listen: %s: want a single value", k.Value)
		}
		if q.Has(k.Value) || k.Value == "transport" && transport != "" || k.Value == "addr" && addr != "" {
			return "", configError(path, k.Line, "listen: %s given twice", k.Value)
		}
		switch k.Value {
		case "transport":
			transport = v.Value
		case "addr":
			addr = v.Value
		default:
			q.Set(k.Value, v.Value)
		}
	}
	if transport == "" || addr == "" {
		return "", configError(path, n.Line, "listen: want at least transport and addr")
	}
	spec := transport + "://" + addr
	if len(q) > 0 {
		spec += "?" + q.Encode()
	}
	return spec, nil
}

// applyConfig sets cmd's flags from the settings of the file at path,
// except those the command line set (and their exclusive partners), and
// checks each value where it stands in the file.
func applyConfig(cmd *cobra.Command, path string, settings []setting) error {
	fs := cmd.Flags()
	skip := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { skip[f.Name] = true }) // set on the command line
	for _, group := range exclusive {
		if slices.ContainsFunc(group, func(n string) bool { return skip[n] }) {
			for _, n := range group {
				skip[n] = true
			}
		}
	}
	for _, s := range settings {
		_, isList := s.flag.Value.(pflag.SliceValue)
		if skip[s.flag.Name] || !isList && s.values[0] == s.flag.DefValue {
			continue // a default leaves the flag as if not given: http-token-file: ""
		}
		for i, v := range s.values {
			if err := fs.Set(s.flag.Name, v); err != nil {
				return configError(path, s.lines[i], "%s: %v", s.flag.Name, err)
			}
			if s.flag.Name == "listen" {
				if _, err := server.ParseListener(v); err != nil {
					return configError(path, s.lines[i], "listen: %v", err)
				}
			}
		}
		if len(s.values) == 0 { // an empty list: no default entries either
			if sv, ok := s.flag.Value.(pflag.SliceValue); ok {
				if err := sv.Replace(nil); err != nil {
					return configError(path, s.line, "%s: %v", s.flag.Name, err)
				}
				s.flag.Changed = true
			}
		}
		if err := checkFlag(cmd, s.flag); err != nil {
			return configError(path, s.line, "%v", err)
		}
	}
	return nil
}
