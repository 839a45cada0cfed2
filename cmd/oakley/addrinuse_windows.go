//go:build windows

package main

import (
	"errors"

	"golang.org/x/sys/windows"
)

// isAddrInUse says whether err is a bind that found its address taken.
func isAddrInUse(err error) bool { return errors.Is(err, windows.WSAEADDRINUSE) }
