package config

import (
	"errors"
	"fmt"
	"math"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func (l *loader) daemon(t *table) {
	d := &l.cfg.Daemon
	d.LogLevel = t.enum("log_level", defaultLogLevel, "debug", "info", "warn", "error")
	d.LogFormat = t.enum("log_format", defaultLogFormat, "console", "json")
	d.ControlSocket = t.str("control_socket", defaultControlSocket)
	if d.ControlSocket == "" {
		l.r.errorf(t.keyLine("control_socket"), "control_socket is empty; want a socket path (default %s)", defaultControlSocket)
	}
	d.Metrics = t.str("metrics", "")
	if d.Metrics != "" {
		if err := checkHostPort(d.Metrics); err != nil {
			l.r.errorf(t.keyLine("metrics"), "metrics = %q: %v", d.Metrics, err)
		}
	}
	d.IKEPort = uint16(t.integer("ike_port", defaultIKEPort, 1, 65535, "a port 1..65535"))
	d.NATTPort = uint16(t.integer("natt_port", defaultNATTPort, 1, 65535, "a port 1..65535"))
	if d.IKEPort == d.NATTPort {
		line := t.keyLine("natt_port")
		if !t.has("natt_port") {
			line = t.keyLine("ike_port")
		}
		l.r.errorf(line, "ike_port and natt_port are both %d; they must differ (RFC 3948: port 4500 traffic carries a non-ESP marker)", d.IKEPort)
	}
	d.InsecureAlgorithms = t.boolean("insecure_algorithms", false)
	d.UDPOffload = t.boolean("udp_offload", true)
	d.SocketBuffer = t.byteSize("socket_buffer", defaultSocketBuffer, maxSocketBuffer)
	d.Workers = int(t.integer("workers", 0, 0, maxWorkers, fmt.Sprintf("0 (automatic) .. %d", maxWorkers)))
	l.runAsUser(t)
	l.retransmit(t)
	t.done()
}

// runAsUser reads [daemon] user and checks that the user exists on this system: an error on
// Linux, where the daemon drops to it; elsewhere only a warning (dropping privileges is
// Linux-only, and name services may differ at run time).
func (l *loader) runAsUser(t *table) {
	d := &l.cfg.Daemon
	d.UID, d.GID = -1, -1
	d.User = t.str("user", "")
	if d.User == "" {
		return
	}
	uid, gid, msg, fatal := checkRunAsUser(d.User, runtime.GOOS, user.Lookup)
	switch {
	case msg == "":
		d.UID, d.GID = uid, gid
	case fatal:
		l.r.errorf(t.keyLine("user"), "%s", msg)
	default:
		l.r.warnf(t.keyLine("user"), "%s", msg)
	}
}

// checkRunAsUser looks a user name up; msg is empty when it exists, and fatal says whether a
// problem is an error (on Linux) rather than a warning.
func checkRunAsUser(name, goos string, lookup func(string) (*user.User, error)) (uid, gid int, msg string, fatal bool) {
	if strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f || r == ':' || r == '/' }) || len(name) > 256 {
		return -1, -1, fmt.Sprintf("user = %q is not a user name (no spaces, control characters, ':' or '/')", name), true
	}
	linux := goos == "linux"
	where := "on this system"
	if !linux {
		where = "on this system; the daemon changes user only on Linux"
	}
	u, err := lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return -1, -1, fmt.Sprintf("user = %q: no such user %s", name, where), linux
		}
		return -1, -1, fmt.Sprintf("user = %q cannot be looked up: %v", name, err), linux
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil { // Windows SIDs: nothing to switch to
		return -1, -1, fmt.Sprintf("user = %q has no numeric uid/gid %s", name, where), linux
	}
	return uid, gid, "", false
}

// retransmit reads retransmit_timeout, retransmit_base and retransmit_tries.
func (l *loader) retransmit(t *table) {
	d := &l.cfg.Daemon
	d.RetransmitTimeout = t.duration("retransmit_timeout", DefaultRetransmitTimeout)
	if d.RetransmitTimeout < MinRetransmitTimeout || d.RetransmitTimeout > MaxRetransmitTimeout {
		l.r.errorf(t.keyLine("retransmit_timeout"), "retransmit_timeout = %s is out of range; want %s..%s", d.RetransmitTimeout, MinRetransmitTimeout, MaxRetransmitTimeout)
		d.RetransmitTimeout = DefaultRetransmitTimeout
	}
	d.RetransmitBase = t.float("retransmit_base", DefaultRetransmitBase)
	if !(d.RetransmitBase >= 1) || math.IsInf(d.RetransmitBase, 0) {
		l.r.errorf(t.keyLine("retransmit_base"), "retransmit_base = %v is out of range; want a number ≥ 1.0 (each wait is base times the one before)", d.RetransmitBase)
		d.RetransmitBase = DefaultRetransmitBase
	}
	d.RetransmitTries = int(t.integer("retransmit_tries", DefaultRetransmitTries, 1, MaxRetransmitTries, ""))
	total := 0.0
	f := float64(d.RetransmitTimeout)
	for n := 0; n <= d.RetransmitTries; n++ {
		total += f
		f *= d.RetransmitBase
	}
	if total > float64(MaxRetransmitTotal) {
		line := t.keyLine("retransmit_tries")
		if !t.has("retransmit_tries") {
			line = t.keyLine("retransmit_base")
		}
		l.r.errorf(line, "the retransmission schedule (retransmit_timeout·retransmit_base^n for n = 0..retransmit_tries) gives up only after %s, more than %s; lower retransmit_tries, retransmit_base or retransmit_timeout",
			roundDuration(total), MaxRetransmitTotal)
		d.RetransmitTimeout, d.RetransmitBase, d.RetransmitTries = DefaultRetransmitTimeout, DefaultRetransmitBase, DefaultRetransmitTries
	}
}

// roundDuration prints a (possibly huge) number of nanoseconds as a duration or in days.
func roundDuration(ns float64) string {
	if ns >= float64(math.MaxInt64) {
		return "centuries"
	}
	d := time.Duration(ns)
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.0f days", d.Hours()/24)
	}
	return d.Round(time.Second).String()
}
