// Command oakley is a userspace IPsec VPN: IKEv1 and ESP/AH between sites, on a TUN device or,
// without privileges, on an in-process network stack. See CONFIG.md for the configuration.
//
//	oakley up -c site.toml            run in the foreground until SIGINT/SIGTERM
//	oakley check -c site.toml         validate; print every error as file:line: message
//	oakley status [--json]            connections, SAs, algorithms, lifetimes, counters
//	oakley initiate NAME[/CHILD]      start a connection or one child
//	oakley terminate NAME             delete its SAs (Delete sent to the peer)
//	oakley rekey NAME[/CHILD]         rekey now
//	oakley reload                     re-read the configuration (also SIGHUP)
//	oakley demo                       two peers in one unprivileged process, real traffic across
//	oakley version
//
// Exit status: 0 success, 1 failure (one clear line on stderr), 2 usage.

// EAP-TLS with TLS 1.2 (RFC 5216 §2.3) derives the MSK with the TLS PRF from the master
// secret and both randoms, which is what crypto/tls's exporter computes; Go refuses the
// exporter unless the extended master secret was negotiated, and strongSwan 5.9 does not
// negotiate it. Renegotiation and session resumption, which make the unextended master
// secret unsafe, are both off in oakley's EAP-TLS (ike/ikev2/eaptls.go).
//
//go:debug tlsunsafeekm=1
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"oakley/config"
)

// version is set at link time (-X main.version=...).
var version = "dev"

func main() {
	if runAsService() { // a Windows service: the service manager drives `up` (service_windows.go)
		return
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// upContext is the context `oakley up` runs under: cancelled by SIGINT or SIGTERM (a
// Windows service replaces it with one cancelled by the service manager's Stop).
var upContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

const usage = `usage: oakley <command> [flags]

commands:
  up -c FILE              run in the foreground until SIGINT/SIGTERM
  check -c FILE           validate a configuration
  status [--json]         show connections, SAs and counters of the running daemon
  initiate NAME[/CHILD]   start a connection (or one of its children)
  terminate NAME          delete a connection's SAs
  rekey NAME[/CHILD]      rekey now
  reload                  re-read the configuration (also SIGHUP); untouched connections keep their SAs
  demo                    two peers in one process, real traffic across
  import FILE             print the TOML of a strongSwan swanctl.conf or ipsec.conf
  version                 print the version

status, initiate, terminate, rekey and reload take -s PATH to name the control socket
(default: daemon.control_socket of -c FILE, else /run/oakley/oakley.sock).
`

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd := args[0]; cmd {
	case "up":
		err = cmdUp(args[1:], stderr)
	case "check":
		err = cmdCheck(args[1:], stdout, stderr)
	case "status":
		err = cmdStatus(args[1:], stdout)
	case "initiate", "terminate", "rekey":
		err = cmdControl(cmd, args[1:], stdout)
	case "reload":
		err = cmdReload(args[1:], stdout, stderr)
	case "demo":
		err = cmdDemo(args[1:], stdout)
	case "import":
		err = cmdImport(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "oakley %s\n", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "oakley: unknown command %q\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp):
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "oakley: %v\n", err)
		}
		return 2
	case errors.Is(err, errReported):
		return 1
	}
	fmt.Fprintf(stderr, "oakley: %s\n", oneLine(err.Error()))
	return 1
}

// errReported: the command already printed what went wrong.
var errReported = errors.New("reported")

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses flags wherever they stand among the arguments (`initiate NAME -s SOCK` as
// well as `initiate -s SOCK NAME`); the positional arguments stay in order in fs.Args().
func parseFlags(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %s %v", errUsage, fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...) // everything after "--" is positional
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check")
	path := fs.String("c", "", "configuration file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: check -c FILE", errUsage)
		}
		*path = fs.Arg(0)
	}
	cfg, err := loadConfig(*path, stderr, "")
	if err != nil {
		return err
	}
	defer cfg.Wipe()
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stderr, w.String())
	}
	// The certificate files: loadable, valid now, keys matching, CAs being CAs (pki).
	certErrs, certWarns := checkCertFiles(cfg, time.Now())
	for _, w := range certWarns {
		fmt.Fprintln(stderr, w)
	}
	for _, e := range certErrs {
		fmt.Fprintln(stderr, e)
	}
	if len(certErrs) > 0 {
		fmt.Fprintf(stderr, "%s: %d error(s)\n", *path, len(certErrs))
		return errReported
	}
	children := 0
	for _, c := range cfg.Connections {
		children += len(c.Children)
	}
	fmt.Fprintf(stdout, "%s: OK (%d connection(s), %d child(ren), %d warning(s))\n", *path, len(cfg.Connections), children, len(cfg.Warnings)+len(certWarns))
	return nil
}

func cmdUp(args []string, stderr io.Writer) error {
	fs := newFlags("up")
	path := fs.String("c", "", "configuration file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("%w: up -c FILE", errUsage)
	}
	cfg, err := loadConfig(*path, stderr, "; not starting")
	if err != nil {
		return err
	}
	defer cfg.Wipe()
	level, err := zap.ParseAtomicLevel(cfg.Daemon.LogLevel)
	if err != nil {
		return fmt.Errorf("log_level %q: %w", cfg.Daemon.LogLevel, err)
	}
	log, err := newLoggerAt(level, cfg.Daemon.LogFormat, stderr)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck
	for _, w := range cfg.Warnings {
		log.Warn(w.String())
	}
	startPprof(log)
	// SIGHUP reloads; caught from here on, so one that arrives during start-up waits for it
	// instead of killing the daemon.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, stop := upContext()
	defer stop()
	d, err := startDaemon(ctx, cfg, log, daemonOptions{level: &level})
	if err != nil {
		return err
	}
	defer d.wipeSecrets()
	for ctx.Err() == nil {
		select {
		case <-hup:
			d.reload("SIGHUP") //nolint:errcheck // logged by reload
		case <-ctx.Done():
		}
	}
	log.Info("shutting down")
	d.stop()
	return nil
}

// loadConfig loads a configuration; on failure it prints every problem as file:line: message
// and a summary line (with suffix), and returns errReported.
func loadConfig(path string, stderr io.Writer, suffix string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err == nil {
		return cfg, nil
	}
	var errs config.Errors
	if !errors.As(err, &errs) {
		return nil, err
	}
	for _, e := range errs {
		fmt.Fprintln(stderr, e.Error())
	}
	fmt.Fprintf(stderr, "%s: %d error(s)%s\n", path, len(errs), suffix)
	return nil, errReported
}
