//go:build !windows

package main

import (
	"errors"
	"syscall"
)

// isAddrInUse says whether err is a bind that found its address taken.
func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
