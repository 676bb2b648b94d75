package bench

import (
	"embed"
	"fmt"
	"strings"
)

//go:embed suites/*.yaml
var suites embed.FS

// Suites are the built-in matrices' names.
var Suites = []string{"default", "quick", "acked", "devices", "devices-10min"}

// Suite returns a built-in matrix: one of Suites.
func Suite(name string) (*Matrix, error) {
	b, err := suites.ReadFile("suites/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no built-in suite %q (have %s)", name, strings.Join(Suites, ", "))
	}
	return ParseMatrix(b)
}
