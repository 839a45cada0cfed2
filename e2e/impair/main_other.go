//go:build !linux

package main

import (
	"fmt"
	"os"
)

// The relay needs Linux's TUN device and network namespaces.
func main() {
	fmt.Fprintln(os.Stderr, "impair: Linux only")
	os.Exit(1)
}
