// Command headroom is the one binary of headroom: the controller, the
// simulator, the policy tools and the router, as cobra subcommands. This
// file only wires; each subcommand lives in its own file.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
