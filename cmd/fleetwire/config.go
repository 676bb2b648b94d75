package main

import "github.com/spf13/cobra"

// prepareFlags completes cmd's flags before it runs: every numeric flag
// checked against its bound.
func prepareFlags(cmd *cobra.Command) error {
	return checkFlags(cmd)
}
