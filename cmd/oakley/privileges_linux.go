package main

// Least privilege (Linux). Once the TUN device exists and every socket is bound, a daemon
// started as root with [daemon] user set becomes that user and keeps only CAP_NET_ADMIN (routes
// at reload, the device's teardown, SO_MARK) and, when a configured port is below 1024,
// CAP_NET_BIND_SERVICE. Every step applies to every thread of the process: Go's
// syscall.Setgroups/Setgid/Setuid do so on Linux, and the prctl and capset calls go through
// syscall.AllThreadsSyscall (available in binaries built with CGO_ENABLED=0, as `make build`
// does). A daemon started without root, e.g. by systemd with AmbientCapabilities or by
// setpriv, changes nothing: it already runs with what it was given.

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"oakley/config"
)

// wantedCaps returns the capabilities the daemon keeps after dropping privileges.
func wantedCaps(cfg *config.Config) []uintptr {
	caps := []uintptr{unix.CAP_NET_ADMIN}
	if lowPort(cfg) {
		caps = append(caps, unix.CAP_NET_BIND_SERVICE)
	}
	return caps
}

// lowPort says whether a port the daemon listens on is below 1024.
func lowPort(cfg *config.Config) bool {
	if cfg.Daemon.IKEPort < 1024 || cfg.Daemon.NATTPort < 1024 {
		return true
	}
	if cfg.Daemon.Metrics != "" {
		if i := strings.LastIndexByte(cfg.Daemon.Metrics, ':'); i >= 0 {
			if p, err := strconv.Atoi(cfg.Daemon.Metrics[i+1:]); err == nil && p < 1024 {
				return true
			}
		}
	}
	return false
}

// capNames names the capabilities oakley keeps, for the log.
var capNames = map[uintptr]string{unix.CAP_NET_ADMIN: "CAP_NET_ADMIN", unix.CAP_NET_BIND_SERVICE: "CAP_NET_BIND_SERVICE"}

// dropPrivileges becomes [daemon] user when running as root (see the top of this file).
func dropPrivileges(d *daemon) error {
	cfg := d.cfg
	if cfg.Daemon.User == "" {
		if os.Geteuid() == 0 {
			d.log.Info("running as root; set [daemon] user to run as a service user with CAP_NET_ADMIN only")
		}
		return nil
	}
	uid, gid := cfg.Daemon.UID, cfg.Daemon.GID
	if uid < 0 || gid < 0 {
		return fmt.Errorf("[daemon] user = %q has no numeric uid/gid on this system", cfg.Daemon.User)
	}
	if os.Geteuid() != 0 {
		if os.Geteuid() == uid {
			d.log.Info("already running as [daemon] user", zap.String("user", cfg.Daemon.User), zap.Int("uid", uid))
			return nil
		}
		return fmt.Errorf("[daemon] user = %q: started as uid %d, which may not change user; start as root or as %s", cfg.Daemon.User, os.Geteuid(), cfg.Daemon.User)
	}
	keep := wantedCaps(cfg)
	groups := userGroups(cfg.Daemon.User, gid)
	if err := dropTo(uid, gid, groups, keep); err != nil {
		return fmt.Errorf("dropping privileges to user %q: %w", cfg.Daemon.User, err)
	}
	var names []string
	for _, c := range keep {
		names = append(names, capNames[c])
	}
	d.log.Info("privileges dropped", zap.String("user", cfg.Daemon.User), zap.Int("uid", uid), zap.Int("gid", gid),
		zap.Ints("groups", groups), zap.Strings("capabilities", names))
	if d.ctl != nil {
		// access(2) checks the real uid, now the user's.
		if dir := filepath.Dir(d.ctl.path); unix.Access(dir, unix.W_OK|unix.X_OK) != nil {
			d.log.Warn("the control socket's directory is not writable by [daemon] user: the socket will stay behind at exit (the next start removes it); let the user own the directory, e.g. systemd RuntimeDirectory=oakley",
				zap.String("dir", dir), zap.String("user", cfg.Daemon.User))
		}
	}
	if _, err := os.Stat(cfg.File); err == nil && unix.Access(cfg.File, unix.R_OK) != nil {
		d.log.Warn("the configuration file is not readable by [daemon] user: `oakley reload` will be refused until it is",
			zap.String("config", cfg.File), zap.String("user", cfg.Daemon.User))
	}
	return nil
}

// userGroups returns the user's supplementary groups (at least its primary group).
func userGroups(name string, gid int) []int {
	out := []int{gid}
	u, err := user.Lookup(name)
	if err != nil {
		return out
	}
	ids, err := u.GroupIds()
	if err != nil {
		return out
	}
	for _, s := range ids {
		if g, err := strconv.Atoi(s); err == nil && g != gid {
			out = append(out, g)
		}
	}
	return out
}

// allThreads runs a system call on every thread of the process.
func allThreads(trap, a1, a2, a3 uintptr) error {
	if _, _, e := syscall.AllThreadsSyscall(trap, a1, a2, a3); e != 0 {
		if e == syscall.ENOTSUP {
			return errors.New("this binary was built with cgo, which cannot change every thread's capabilities; build it with CGO_ENABLED=0 (make build)")
		}
		return e
	}
	return nil
}

// lastCap is the highest capability number the running kernel knows.
func lastCap() uintptr {
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 && n < 64 {
			return uintptr(n)
		}
	}
	return unix.CAP_LAST_CAP
}

// dropTo removes every capability but keep from the bounding set, keeps the permitted set
// across the change of user (PR_SET_KEEPCAPS), changes groups and user, then makes keep the
// effective and permitted sets (and empties the inheritable set, and with it the ambient
// one) on every thread; no_new_privs forbids regaining anything through an exec.
func dropTo(uid, gid int, groups []int, keep []uintptr) error {
	var mask uint64
	for _, c := range keep {
		mask |= 1 << c
	}
	// capabilities(7): the bounding set can only shrink, with CAP_SETPCAP, so first.
	for c := uintptr(0); c <= lastCap(); c++ {
		if mask&(1<<c) != 0 {
			continue
		}
		if err := allThreads(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0); err != nil {
			return fmt.Errorf("prctl(PR_CAPBSET_DROP, %d): %w", c, err)
		}
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid(%d): %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid(%d): %w", uid, err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(mask), Permitted: uint32(mask)},
		{Effective: uint32(mask >> 32), Permitted: uint32(mask >> 32)},
	}
	if err := allThreads(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS, 0): %w", err)
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	return nil
}

// chownForUser gives a file (the control socket, or its directory when the daemon created
// it) to [daemon] user, so that the daemon can still remove it after dropping privileges.
func chownForUser(cfg *config.Config, path string) error {
	if cfg.Daemon.User == "" || cfg.Daemon.UID < 0 || os.Geteuid() != 0 {
		return nil
	}
	return os.Chown(path, cfg.Daemon.UID, cfg.Daemon.GID)
}
