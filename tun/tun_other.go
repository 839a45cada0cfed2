//go:build !linux && !darwin && !windows

package tun

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"

	"go.uber.org/zap"
)

// ErrUnsupported is returned by Open on operating systems oakley does not configure TUN
// devices on; the netstack device works everywhere.
var ErrUnsupported = errors.New("tun: kernel TUN devices are not supported on " + runtime.GOOS + "; use the netstack device")

func createDevice(Options, *zap.Logger) (Device, bool, error) { return nil, false, ErrUnsupported }

func (t *TUN) configure(Options) error { return ErrUnsupported }

func (t *TUN) undo(change) error { return nil }

// RouteMTU returns 1500 where the path MTU is not looked up.
func RouteMTU(dst netip.Addr) (int, error) {
	if !dst.IsValid() {
		return 0, fmt.Errorf("tun: route MTU: invalid address")
	}
	return 1500, nil
}
