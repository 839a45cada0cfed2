//go:build !linux

package tun

import (
	"errors"
	"net/netip"
	"runtime"
)

// ErrAddrsNotLive is returned by AddAddress and RemoveAddress where addresses are set only
// when the device opens (every OS but Linux).
var ErrAddrsNotLive = errors.New("tun: addresses cannot be changed while the device runs on " + runtime.GOOS)

// AddAddress is not available on this OS.
func (t *TUN) AddAddress(p netip.Prefix) error { return ErrAddrsNotLive }

// RemoveAddress is not available on this OS.
func (t *TUN) RemoveAddress(p netip.Prefix) error { return ErrAddrsNotLive }
