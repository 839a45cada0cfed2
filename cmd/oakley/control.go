package main

// The control socket: a Unix socket with owner-only permissions through which `oakley
// status|initiate|terminate|rekey` talk to the running daemon. One JSON request line, one
// JSON response, then the connection closes.

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"oakley/config"
)

var defaultControlSocket = config.DefaultControlSocket

// controlTimeout bounds one control request. `initiate` waits for the negotiation to succeed
// or fail, which with IKE's retransmissions (1+2+4+8+16 s) can take over half a minute, and
// the answer must carry the reason rather than a timeout.
const controlTimeout = 3 * time.Minute

type controlRequest struct {
	Cmd   string `json:"cmd"`
	Conn  string `json:"conn,omitempty"`
	Child string `json:"child,omitempty"`
}

type controlResponse struct {
	OK     bool          `json:"ok"`
	Error  string        `json:"error,omitempty"`
	Status *statusReport `json:"status,omitempty"`
}

type controlServer struct {
	ln   net.Listener
	path string
	d    *daemon
	wg   sync.WaitGroup
}

func startControl(path string, d *daemon) (*controlServer, error) {
	if path == "" {
		return nil, nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control socket directory %s: %w", dir, err)
	}
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s is in use: is another oakley running?", path)
		}
		os.Remove(path) // stale, from a daemon that died
	}
	// Owner-only from the moment it exists: create it under a restrictive umask-equivalent by
	// listening, then chmod before accepting anything.
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	s := &controlServer{ln: ln, path: path, d: d}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *controlServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(controlTimeout))
			s.handle(c)
		}()
	}
}

func (s *controlServer) handle(c net.Conn) {
	var req controlRequest
	line, err := bufio.NewReader(io.LimitReader(c, 4096)).ReadBytes('\n')
	resp := controlResponse{OK: true}
	if err != nil && len(line) == 0 {
		return
	}
	if err := json.Unmarshal(line, &req); err != nil {
		resp = controlResponse{Error: "malformed request"}
	} else {
		resp = s.d.control(req)
	}
	json.NewEncoder(c).Encode(resp) //nolint:errcheck
}

// stopAccepting refuses new commands; those in flight finish (or fail once the engine stops).
func (s *controlServer) stopAccepting() { s.ln.Close() }

// close waits up to timeout for commands in flight and removes the socket.
func (s *controlServer) close(timeout time.Duration) {
	s.ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(max(timeout, 100*time.Millisecond)):
		s.d.log.Warn("control commands still running at shutdown")
	}
	os.Remove(s.path)
}

// control executes one request against the daemon.
func (d *daemon) control(req controlRequest) controlResponse {
	fail := func(err error) controlResponse { return controlResponse{Error: err.Error()} }
	switch req.Cmd {
	case "status":
		return controlResponse{OK: true, Status: d.status()}
	case "initiate", "terminate", "rekey":
		if req.Conn == "" {
			return fail(errors.New("no connection named"))
		}
		if !d.hasConnection(req.Conn, req.Child) {
			return fail(fmt.Errorf("%w: %s", errNoSuchConnection, joinName(req.Conn, req.Child)))
		}
		if d.ike == nil || !d.ike.manages(req.Conn) {
			return fail(fmt.Errorf("%s is manually keyed: nothing to %s", req.Conn, req.Cmd))
		}
		if err := d.ike.command(req.Cmd, req.Conn, req.Child); err != nil {
			return fail(err)
		}
		return controlResponse{OK: true}
	}
	return fail(fmt.Errorf("unknown command %q", req.Cmd))
}

func (d *daemon) hasConnection(name, child string) bool {
	for _, c := range d.cfg.Connections {
		if c.Name != name {
			continue
		}
		if child == "" {
			return true
		}
		for _, ch := range c.Children {
			if ch.Name == child {
				return true
			}
		}
	}
	return false
}

func joinName(conn, child string) string {
	if child == "" {
		return conn
	}
	return conn + "/" + child
}

// controlFlags adds -s (and -c to read the socket path from a config) to a command.
func controlFlags(name string) (fs *flag.FlagSet, sock, cfgPath *string) {
	fs = newFlags(name)
	sock = fs.String("s", "", "control socket path")
	cfgPath = fs.String("c", "", "configuration file (to find daemon.control_socket)")
	return fs, sock, cfgPath
}

func socketPath(sock, cfgPath string) (string, error) {
	if sock != "" {
		return sock, nil
	}
	if cfgPath != "" {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return "", err
		}
		cfg.Wipe()
		return cfg.Daemon.ControlSocket, nil
	}
	return defaultControlSocket, nil
}

func callDaemon(path string, req controlRequest) (*controlResponse, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the daemon at %s: %w", path, unwrapOp(err))
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(controlTimeout + 10*time.Second))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return nil, err
	}
	var resp controlResponse
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	if !resp.OK {
		return nil, errors.New(resp.Error)
	}
	return &resp, nil
}

func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func cmdStatus(args []string, stdout io.Writer) error {
	fs, sock, cfgPath := controlFlags("status")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: status takes no arguments", errUsage)
	}
	path, err := socketPath(*sock, *cfgPath)
	if err != nil {
		return err
	}
	resp, err := callDaemon(path, controlRequest{Cmd: "status"})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(resp.Status)
	}
	writeStatus(stdout, resp.Status)
	return nil
}

func cmdControl(cmd string, args []string, stdout io.Writer) error {
	fs, sock, cfgPath := controlFlags(cmd)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: %s NAME[/CHILD]", errUsage, cmd)
	}
	conn, child, _ := strings.Cut(fs.Arg(0), "/")
	if cmd == "terminate" && child != "" {
		return fmt.Errorf("%w: terminate takes a connection name", errUsage)
	}
	path, err := socketPath(*sock, *cfgPath)
	if err != nil {
		return err
	}
	if _, err := callDaemon(path, controlRequest{Cmd: cmd, Conn: conn, Child: child}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s: ok\n", cmd, fs.Arg(0))
	return nil
}
