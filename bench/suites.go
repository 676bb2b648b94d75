package bench

import (
	"embed"
	"fmt"
)

//go:embed suites/*.yaml
var suites embed.FS

// Suite returns a built-in matrix: "default" or "quick".
func Suite(name string) (*Matrix, error) {
	b, err := suites.ReadFile("suites/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no built-in suite %q (have default, quick)", name)
	}
	return ParseMatrix(b)
}
