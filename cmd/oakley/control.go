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
	Errors []string      `json:"errors,omitempty"` // reload: every problem of a refused file, as file:line: message
	Status *statusReport `json:"status,omitempty"`
	Reload *reloadReport `json:"reload,omitempty"`
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
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control socket directory %s: %w", dir, err)
	}
	if statErr != nil {
		// Created here: [daemon] user must be able to remove the socket from it at exit.
		if err := chownForUser(d.cfg, dir); err != nil {
			return nil, fmt.Errorf("control socket directory %s: %w", dir, err)
		}
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
	if err := chownForUser(d.cfg, path); err != nil {
		ln.Close()
		os.Remove(path)
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
	case "reload":
		return d.controlReload()
	case "initiate", "terminate", "rekey":
		if req.Conn == "" {
			return fail(errors.New("no connection named"))
		}
		c := d.connection(req.Conn, req.Child)
		if c == nil {
			return fail(fmt.Errorf("%w: %s", errNoSuchConnection, joinName(req.Conn, req.Child)))
		}
		if d.ike == nil || c.Keying != "ike" {
			return fail(fmt.Errorf("%s is manually keyed: nothing to %s", req.Conn, req.Cmd))
		}
		if err := d.ike.command(req.Cmd, req.Conn, req.Child); err != nil {
			return fail(err)
		}
		return controlResponse{OK: true}
	}
	return fail(fmt.Errorf("unknown command %q", req.Cmd))
}

// connection returns the configured connection called name (that has a child called child,
// unless child is ""), or nil.
func (d *daemon) connection(name, child string) *config.Connection {
	cfg, _ := d.state()
	for _, c := range cfg.Connections {
		if c.Name != name {
			continue
		}
		if child == "" {
			return c
		}
		for _, ch := range c.Children {
			if ch.Name == child {
				return c
			}
		}
	}
	return nil
}

// controlReload runs a reload for the control socket: a refused file answers with every
// problem in Errors.
func (d *daemon) controlReload() controlResponse {
	rep, err := d.reload("control")
	if err == nil {
		return controlResponse{OK: true, Reload: rep}
	}
	resp := controlResponse{Error: err.Error()}
	var errs config.Errors
	if errors.As(err, &errs) {
		resp.Error = fmt.Sprintf("%d error(s); nothing changed", len(errs))
		for _, e := range errs {
			resp.Errors = append(resp.Errors, e.Error())
		}
	}
	return resp
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
	resp, err := askDaemon(path, req)
	if err != nil {
		return nil, err
	}
	if !resp.OK {
		return nil, errors.New(resp.Error)
	}
	return resp, nil
}

// askDaemon sends one request and returns the daemon's answer, successful or not.
func askDaemon(path string, req controlRequest) (*controlResponse, error) {
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

// cmdReload asks the daemon to re-read its configuration file. A file with errors is refused
// whole: every error is printed as file:line: message and the exit status is 1.
func cmdReload(args []string, stdout, stderr io.Writer) error {
	fs, sock, cfgPath := controlFlags("reload")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: reload takes no arguments (the daemon re-reads the file it was started with)", errUsage)
	}
	if *sock == "" && *cfgPath != "" {
		// The socket's path is in the file: a broken file is reported here, as the daemon would.
		cfg, err := loadConfig(*cfgPath, stderr, "; the daemon was not asked to reload")
		if err != nil {
			return err
		}
		cfg.Wipe()
	}
	path, err := socketPath(*sock, *cfgPath)
	if err != nil {
		return err
	}
	resp, err := askDaemon(path, controlRequest{Cmd: "reload"})
	if err != nil {
		return err
	}
	if !resp.OK {
		if len(resp.Errors) == 0 {
			return fmt.Errorf("reload: %s", resp.Error)
		}
		for _, e := range resp.Errors {
			fmt.Fprintln(stderr, e)
		}
		fmt.Fprintf(stderr, "oakley: reload: %s\n", resp.Error)
		return errReported
	}
	writeReload(stdout, resp.Reload)
	if r := resp.Reload; r != nil && len(r.Errors) > 0 {
		for _, e := range r.Errors {
			fmt.Fprintf(stderr, "oakley: reload: %s\n", e)
		}
		return errReported
	}
	return nil
}

func writeReload(w io.Writer, r *reloadReport) {
	if r == nil {
		return
	}
	part := func(what string, names []string) string {
		if len(names) == 0 {
			return fmt.Sprintf("0 %s", what)
		}
		return fmt.Sprintf("%d %s (%s)", len(names), what, strings.Join(names, ", "))
	}
	fmt.Fprintf(w, "reload: %s, %s, %s, %s\n", part("added", r.Added), part("removed", r.Removed),
		part("changed", r.Changed), part("unchanged", r.Unchanged))
	if len(r.RoutesAdded) > 0 {
		fmt.Fprintf(w, "routes added: %s\n", strings.Join(r.RoutesAdded, ", "))
	}
	if len(r.RoutesRemoved) > 0 {
		fmt.Fprintf(w, "routes removed: %s\n", strings.Join(r.RoutesRemoved, ", "))
	}
	for _, n := range r.NeedsRestart {
		fmt.Fprintf(w, "needs a restart (left as it was): %s\n", n)
	}
}
