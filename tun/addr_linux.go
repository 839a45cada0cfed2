package tun

import (
	"errors"
	"fmt"
	"net/netip"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// AddAddress assigns p to the device while it runs (a virtual IP a gateway assigned). An
// address already there is left as it is and not recorded (not ours to remove); otherwise
// RemoveAddress or Close removes it. An IPv6 address is waited for until deliverable. Safe
// for concurrent use.
func (t *TUN) AddAddress(p netip.Prefix) error {
	if q := unmapPrefix(p); q.IsValid() {
		p = q
	}
	if !p.IsValid() || p.Addr().Zone() != "" {
		return fmt.Errorf("tun: invalid address %v", p)
	}
	t.mu.Lock()
	if t.closing.Load() {
		t.mu.Unlock()
		return fmt.Errorf("tun: %s is closed", t.name)
	}
	c, err := dialNetlink()
	if err != nil {
		t.mu.Unlock()
		return err
	}
	defer c.Close()
	err = c.addAddr(t.index, p)
	switch {
	case errors.Is(err, unix.EEXIST):
		t.mu.Unlock()
		t.log.Info("tun: address already present; leaving it as it is", zap.Stringer("address", p))
		return nil
	case err != nil:
		t.mu.Unlock()
		return fmt.Errorf("tun: add address %v to %s: %w", p, t.name, err)
	}
	t.added = append(t.added, change{prefix: p})
	t.mu.Unlock()
	if p.Addr().Is6() {
		t.waitLocal(c, p.Addr())
	}
	t.log.Info("tun: address added", zap.Stringer("address", p))
	return nil
}

// RemoveAddress removes an address AddAddress (or Open) added; one it did not add is left
// alone. Safe for concurrent use.
func (t *TUN) RemoveAddress(p netip.Prefix) error {
	if q := unmapPrefix(p); q.IsValid() {
		p = q
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, ch := range t.added {
		if ch.route || ch.rule || ch.prefix != p {
			continue
		}
		c, err := dialNetlink()
		if err != nil {
			return err
		}
		defer c.Close()
		if err := t.undoWith(c, ch); err != nil {
			return fmt.Errorf("tun: remove address %v from %s: %w", p, t.name, err)
		}
		t.added = append(t.added[:i:i], t.added[i+1:]...)
		t.log.Info("tun: address removed", zap.Stringer("address", p))
		return nil
	}
	return nil
}
