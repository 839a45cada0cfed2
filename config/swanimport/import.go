package swanimport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Options steer an import. The zero value reads the OS file system, detects the format and
// takes left as the local side of an ipsec.conf unless right's address is on this host.
type Options struct {
	// Format is "swanctl", "ipsec" or "" (by the file name, else by the content).
	Format string
	// Local says which side of an ipsec.conf connection is this host: "left", "right" or ""
	// (left, unless right's address is one of this host's and left's is not).
	Local string
	// SecretsFile names the ipsec.secrets of an ipsec.conf; "" looks for ipsec.secrets in
	// the same directory (no such file: PSKs are reported missing).
	SecretsFile string
	// SecretsRef returns how the TOML names a secret file Import asks to write (e.g. a path
	// relative to the output's directory); nil writes the bare file name.
	SecretsRef func(file string) string
	// LocalAddrs returns this host's addresses; nil asks the OS.
	LocalAddrs func() []netip.Addr
	// FS reads the input and its includes; nil is the OS file system.
	FS FS
}

// Result is a conversion: the TOML, the secret files it refers to, and the warnings.
// Secrets hold PSKs and passwords: write them with mode 0600, wipe them, never print them.
type Result struct {
	Format      string // "swanctl" or "ipsec"
	TOML        []byte
	Secrets     []SecretFile
	Warnings    []Diag
	Connections int
}

// Wipe overwrites the secrets the result holds.
func (r *Result) Wipe() {
	for _, s := range r.Secrets {
		for i := range s.Data {
			s.Data[i] = 0
		}
	}
}

// Import reads a swanctl.conf or ipsec.conf (and what it includes) and converts it. A file
// that cannot be read or parsed is an error (Errors, with file:line); so is an input that
// holds nothing oakley can use (wrapping ErrNothingConverted, warnings in Result). Anything
// without an oakley equivalent is a warning at its line.
func Import(path string, opts Options) (*Result, error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = osFS{}
	}
	data, err := fsys.ReadFile(path)
	if err != nil {
		return nil, Errors{{Pos: Pos{File: path}, Severity: Error, Msg: "cannot read: " + describeErr(err)}}
	}
	return ImportData(path, data, opts)
}

// ImportData converts text already read; name is its file name, for messages, includes and
// relative certificate paths.
func ImportData(name string, data []byte, opts Options) (*Result, error) {
	if name == "" {
		name = "<input>"
	}
	fsys := opts.FS
	if fsys == nil {
		fsys = osFS{}
	}
	format := opts.Format
	if format == "" {
		format = detectFormat(name, data)
	}
	d := &diags{}
	c := newConverter(opts, fsys, name, d)
	switch format {
	case "swanctl":
		root := parseSettings(name, data, fsys, d)
		if errs := d.errors(); len(errs) > 0 {
			return nil, errs
		}
		c.swanctl(root)
	case "ipsec":
		conf := parseIpsecConf(name, data, fsys, d)
		if errs := d.errors(); len(errs) > 0 {
			return nil, errs
		}
		secrets := c.readIpsecSecrets(name)
		if errs := d.errors(); len(errs) > 0 {
			return nil, errs
		}
		c.stroke(conf, secrets)
	default:
		return nil, Errors{{Pos: Pos{File: name}, Severity: Error, Msg: fmt.Sprintf("unknown format %q; want swanctl or ipsec", format)}}
	}
	if errs := d.errors(); len(errs) > 0 {
		return nil, errs
	}
	c.finish(format, name)
	res := &Result{Format: format, TOML: c.doc.render(), Secrets: c.files,
		Warnings: sortDiags(d.warnings()), Connections: len(c.conns)}
	if len(c.conns) == 0 && len(c.doc.pools) == 0 && len(c.doc.users) == 0 {
		res.Wipe()
		res.Secrets, res.TOML = nil, nil
		return res, fmt.Errorf("%s: %w (no connection, pool or user)", name, ErrNothingConverted)
	}
	return res, nil
}

var ipsecSection = regexp.MustCompile(`(?m)^(conn|ca)[ \t]+\S+[ \t]*$|^config[ \t]+setup[ \t]*$`)

// detectFormat tells swanctl.conf from ipsec.conf by the file name, then by the content:
// ipsec.conf has sections in the first column ("conn NAME"), swanctl.conf braces.
func detectFormat(name string, data []byte) string {
	base := strings.ToLower(filepath.Base(name))
	switch {
	case strings.Contains(base, "swanctl"):
		return "swanctl"
	case strings.HasPrefix(base, "ipsec"):
		return "ipsec"
	}
	if ipsecSection.Match(data) && !bytes.Contains(data, []byte("{")) {
		return "ipsec"
	}
	if ipsecSection.Match(data) && bytes.Count(data, []byte("{")) < bytes.Count(data, []byte("\nconn ")) {
		return "ipsec"
	}
	return "swanctl"
}

// readIpsecSecrets reads the ipsec.secrets that goes with an ipsec.conf.
func (c *converter) readIpsecSecrets(confName string) []*SecretEntry {
	path := c.opts.SecretsFile
	explicit := path != ""
	if !explicit {
		path = filepath.Join(filepath.Dir(confName), "ipsec.secrets")
	}
	data, err := c.fs.ReadFile(path)
	if err != nil {
		if explicit {
			c.d.errorf(Pos{File: path}, "cannot read: %s", describeErr(err))
		}
		return nil
	}
	return parseIpsecSecrets(path, data, c.fs, c.d, 0)
}

// localAddrs returns this host's addresses.
func (c *converter) localAddrs() []netip.Addr {
	if c.opts.LocalAddrs != nil {
		return c.opts.LocalAddrs()
	}
	var out []netip.Addr
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}

// readBounded reads a file of at most maxFileSize bytes.
func readBounded(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, errors.New("is a directory")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	return data, nil
}

func describeErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
