package main

import (
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"oakley/config"
)

func TestWantedCaps(t *testing.T) {
	for _, c := range []struct {
		ike, natt uint16
		metrics   string
		bind      bool
	}{{500, 4500, "", true}, {10500, 14500, "", false}, {10500, 500, "", true}, {10500, 4500, "", false}, {10500, 14500, "127.0.0.1:80", true}, {10500, 14500, "[::1]:9477", false}} {
		cfg := &config.Config{Daemon: config.Daemon{IKEPort: c.ike, NATTPort: c.natt, Metrics: c.metrics}}
		caps := wantedCaps(cfg)
		if !slices.Contains(caps, unix.CAP_NET_ADMIN) || slices.Contains(caps, unix.CAP_NET_BIND_SERVICE) != c.bind || len(caps) > 2 {
			t.Errorf("ports %d/%d metrics %q: caps %v; want CAP_NET_ADMIN, CAP_NET_BIND_SERVICE %v", c.ike, c.natt, c.metrics, caps, c.bind)
		}
	}
}

// TestControlSocketForUser: started as root with [daemon] user, the control socket, and the
// directory the daemon created for it, belong to that user (who must remove the socket at
// exit); a directory that existed before is left as it was.
func TestControlSocketForUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to give files to another user")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("skipping: no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	base := t.TempDir()
	d := &daemon{cfg: &config.Config{Daemon: config.Daemon{User: "nobody", UID: uid, GID: gid}}, log: zaptest.NewLogger(t)}
	path := filepath.Join(base, "run", "oakley.sock")
	s, err := startControl(path, d)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close(0)
	for _, p := range []string{path, filepath.Dir(path)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s belongs to %d:%d, want nobody (%d:%d)", p, st.Uid, st.Gid, uid, gid)
		}
	}
	if fi, _ := os.Stat(base); fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Error("the existing parent directory changed owner")
	}
}
