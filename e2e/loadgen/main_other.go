//go:build !linux

package main

import (
	"fmt"
	"os"
)

// The generator binds many addresses of a Linux network namespace.
func main() {
	fmt.Fprintln(os.Stderr, "loadgen: Linux only")
	os.Exit(1)
}
