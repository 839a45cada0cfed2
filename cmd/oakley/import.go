package main

// oakley import FILE: convert a strongSwan swanctl.conf or ipsec.conf (config/swanimport)
// into oakley's TOML on stdout (or -o FILE). PSKs and passwords go to files with mode 0600
// beside the output (--secrets-dir), never to stdout or stderr; warnings go to stderr as
// FILE:LINE: warning: ...

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"oakley/config/swanimport"
)

func cmdImport(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("import")
	out := fl.String("o", "", "write the TOML to this file instead of stdout")
	secretsDir := fl.String("secrets-dir", "", "directory for PSK and password files (default: the output's directory)")
	format := fl.String("format", "", "swanctl or ipsec (default: by name and content)")
	local := fl.String("local", "", "ipsec.conf: the side that is this host, left or right")
	secrets := fl.String("secrets", "", "ipsec.conf: the ipsec.secrets to read (default: beside it)")
	force := fl.Bool("force", false, "overwrite secret files that differ")
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	if fl.NArg() != 1 {
		return fmt.Errorf("%w: import [-o FILE] [--secrets-dir DIR] [--format swanctl|ipsec] [--local left|right] [--secrets FILE] FILE", errUsage)
	}
	switch *format {
	case "", "swanctl", "ipsec":
	default:
		return fmt.Errorf("%w: import --format %q: want swanctl or ipsec", errUsage, *format)
	}
	switch *local {
	case "", "left", "right":
	default:
		return fmt.Errorf("%w: import --local %q: want left or right", errUsage, *local)
	}
	outDir := ""
	switch {
	case *out != "":
		outDir = filepath.Dir(*out)
	default:
		if f, ok := stdout.(*os.File); ok {
			outDir = fileDir(f)
		}
	}
	dir := *secretsDir
	if dir == "" {
		dir = outDir
	}
	if dir == "" {
		dir = "."
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if abs, err := filepath.Abs(outDir); err == nil && outDir != "" {
		outDir = abs
	}
	// The TOML names a secret file relative to its own directory (psk_file is resolved
	// against the configuration's directory); without a known output, by its absolute path.
	ref := func(name string) string {
		p := filepath.Join(dir, name)
		if outDir != "" {
			if r, err := filepath.Rel(outDir, p); err == nil {
				return r
			}
		}
		return p
	}
	res, err := swanimport.Import(fl.Arg(0), swanimport.Options{Format: *format, Local: *local,
		SecretsFile: *secrets, SecretsRef: ref})
	if res != nil {
		defer res.Wipe()
		for _, w := range res.Warnings {
			fmt.Fprintln(stderr, w.String())
		}
	}
	var errs swanimport.Errors
	switch {
	case errors.As(err, &errs):
		for _, e := range errs {
			fmt.Fprintln(stderr, e.String())
		}
		return errReported
	case errors.Is(err, swanimport.ErrNothingConverted):
		fmt.Fprintf(stderr, "%s: error: nothing could be converted (no connection, pool or user)\n", fl.Arg(0))
		return errReported
	case err != nil:
		return err
	}
	for _, s := range res.Secrets {
		p := filepath.Join(dir, s.Name)
		if err := writeSecret(p, s.Data, *force); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "oakley import: wrote %s (mode 0600): %s\n", p, s.For)
	}
	if *out != "" {
		if err := os.WriteFile(*out, res.TOML, 0o644); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		fmt.Fprintf(stderr, "oakley import: wrote %s: %d connection(s), %d warning(s)\n", *out, res.Connections, len(res.Warnings))
		return nil
	}
	_, err = stdout.Write(res.TOML)
	return err
}

// fileDir returns the directory of the regular file f is open on (Linux: through
// /proc/self/fd), or "" for a terminal, a pipe or when it cannot tell.
func fileDir(f *os.File) string {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil || !filepath.IsAbs(p) {
		return ""
	}
	if st, err := os.Stat(p); err != nil || !os.SameFile(st, fi) {
		return ""
	}
	return filepath.Dir(p)
}

// writeSecret creates a secret file with mode 0600. An existing file with the same content
// is kept (its mode tightened to 0600); one with other content is replaced only with
// --force. The error never contains the secret.
func writeSecret(path string, data []byte, force bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		old, rerr := os.ReadFile(path)
		same := rerr == nil && bytes.Equal(old, data)
		for i := range old {
			old[i] = 0
		}
		if !same && !force {
			return fmt.Errorf("import: %s exists with other content; remove it or pass --force", path)
		}
		if same {
			return os.Chmod(path, 0o600)
		}
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600)
		if err == nil {
			err = f.Chmod(0o600)
		}
	}
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("import: writing %s: %w", path, err)
	}
	return f.Close()
}
