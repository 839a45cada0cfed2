package tun

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// UpdateRoutes makes the device's routes follow a new configuration while it runs (`oakley
// reload`): it removes the routes it added (at Open or in an earlier update) that are not in
// plain or policy, and adds those that are missing, the policy routes in the policy table of
// Open, with the rule for a family that had none yet. A route someone else put there, or that
// existed through the device before Open, is never removed. Policy routes need a device that
// was opened with policy routes (ErrNoPolicyTable otherwise, and those routes are left out).
// Every failure is reported, joined, after everything else was done. Safe for concurrent
// use; after Close it changes nothing.
func (t *TUN) UpdateRoutes(plain []netip.Prefix, policy []PolicyRoute) (RouteUpdate, error) {
	var res RouteUpdate
	plain, policy, err := normalizeRoutes(plain, policy)
	if err != nil {
		return res, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing.Load() {
		return res, fmt.Errorf("tun: %s is closed", t.name)
	}
	c, err := dialNetlink()
	if err != nil {
		return res, err
	}
	defer c.Close()
	var errs []error
	wantedPlain := func(p netip.Prefix) bool { return slices.Contains(plain, p) }
	wantedPolicy := func(ch change) bool {
		return t.policyTable != 0 && slices.Contains(policy, PolicyRoute{Prefix: ch.prefix, Src: ch.src})
	}
	// Remove first: a policy route whose source changed is removed, then added anew.
	kept := t.added[:0:0]
	for _, ch := range t.added {
		if !ch.route || (ch.table == 0 && wantedPlain(ch.prefix)) || (ch.table != 0 && wantedPolicy(ch)) {
			kept = append(kept, ch)
			continue
		}
		if err := t.undoWith(c, ch); err != nil {
			errs = append(errs, fmt.Errorf("tun: remove %v from %s: %w", ch, t.name, err))
			kept = append(kept, ch) // still ours: Close tries again
			continue
		}
		res.Removed = append(res.Removed, routeName(ch))
	}
	t.added = kept
	have := func(match func(change) bool) bool { return slices.ContainsFunc(t.added, match) }
	for _, p := range plain {
		if have(func(ch change) bool { return ch.route && ch.table == 0 && ch.prefix == p }) {
			continue
		}
		err := c.addRoute(t.index, p)
		if errors.Is(err, unix.EEXIST) {
			routes, lerr := c.listRoutes(t.index)
			if lerr == nil && slices.ContainsFunc(routes, func(r routeInfo) bool { return r.dst == p }) {
				continue // through this device already, not ours
			}
			errs = append(errs, fmt.Errorf("tun: add route %v dev %s: a route to this prefix already exists through another device: %w", p, t.name, err))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("tun: add route %v dev %s: %w", p, t.name, err))
			continue
		}
		ch := change{route: true, prefix: p}
		t.added = append(t.added, ch)
		res.Added = append(res.Added, routeName(ch))
	}
	var refused []string
	for _, r := range policy {
		if t.policyTable == 0 {
			refused = append(refused, r.String())
			continue
		}
		if have(func(ch change) bool { return ch.route && ch.table != 0 && ch.prefix == r.Prefix && ch.src == r.Src }) {
			continue
		}
		err := c.addRouteTableSrc(t.index, r.Prefix, t.policyTable, r.Src)
		switch {
		case errors.Is(err, unix.EEXIST):
		case err != nil:
			errs = append(errs, fmt.Errorf("tun: add route %v dev %s table %d: %w", r.Prefix, t.name, t.policyTable, err))
			continue
		default:
			ch := change{route: true, prefix: r.Prefix, table: t.policyTable, src: r.Src}
			t.added = append(t.added, ch)
			res.Added = append(res.Added, routeName(ch))
		}
		fam := familyOf(r.Prefix.Addr())
		if have(func(ch change) bool { return ch.rule && familyOf(ch.prefix.Addr()) == fam }) {
			continue
		}
		err = c.addRule(fam, t.policyMark, t.policyTable)
		switch {
		case errors.Is(err, unix.EEXIST):
		case err != nil:
			errs = append(errs, fmt.Errorf("tun: add rule not fwmark %#x lookup %d: %w", t.policyMark, t.policyTable, err))
		default:
			t.added = append(t.added, change{rule: true, prefix: r.Prefix, table: t.policyTable, mark: t.policyMark})
		}
	}
	if len(refused) > 0 {
		errs = append(errs, fmt.Errorf("%w: %v", ErrNoPolicyTable, refused))
	}
	if len(res.Added)+len(res.Removed) > 0 {
		t.log.Info("tun: routes updated", zap.Strings("added", res.Added), zap.Strings("removed", res.Removed))
	}
	return res, errors.Join(errs...)
}

func routeName(ch change) string {
	if ch.table != 0 {
		return fmt.Sprintf("%s table %d", PolicyRoute{Prefix: ch.prefix, Src: ch.src}, ch.table)
	}
	return ch.prefix.String()
}
