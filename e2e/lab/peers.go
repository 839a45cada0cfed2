//go:build linux

package lab

// Launchers for the three tunnel implementations the e2e tests and the benchmark compare:
// oakley, strongSwan's charon (userspace ESP through kernel-libipsec, since this kernel has no
// ESP) and wireguard-go.

import (
	"bufio"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Oakley is a running `oakley up`.
type Oakley struct {
	*Proc
	Bin, Config, Socket string
}

// StartOakley writes config (with %SOCKET% replaced by a control socket path in the lab
// directory) to a 0600 file and runs `oakley up -c` on it in ns.
func (l *Lab) StartOakley(ns, bin, name, config string, env ...string) (*Oakley, error) {
	sock := filepath.Join(l.Dir, name+".sock")
	path := filepath.Join(l.Dir, name+".toml")
	config = strings.ReplaceAll(config, "%SOCKET%", sock)
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return nil, err
	}
	p, err := l.Start(ns, name, env, bin, "up", "-c", path)
	if err != nil {
		return nil, err
	}
	o := &Oakley{Proc: p, Bin: bin, Config: path, Socket: sock}
	return o, o.waitReady(20 * time.Second)
}

// waitReady waits until the daemon answers on its control socket.
func (o *Oakley) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var v map[string]any
		err := o.Status(&v)
		if err == nil {
			return nil
		}
		if !o.Running() {
			return fmt.Errorf("%s exited: %s", o.Name, tail(o.Output(), 2000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not answering on %s after %s: %v: %s", o.Name, o.Socket, timeout, err, tail(o.Output(), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Status returns `oakley status --json` decoded into v.
func (o *Oakley) Status(v any) error {
	out, err := Run(o.Bin, "status", "--json", "-s", o.Socket)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(out), v)
}

// Charon is an isolated strongSwan charon in a namespace: its own strongswan.conf (no
// /etc/strongswan.d), its own /run (charon's pid file path is fixed), a vici socket in its
// state directory. The plugin list puts kernel-libipsec before kernel-netlink, so ESP runs in
// userspace and is always UDP-encapsulated.
type Charon struct {
	*Proc
	NS, State, ConfDir string
}

const charonBin = "/usr/lib/ipsec/charon"

// HaveCharon reports whether strongSwan with kernel-libipsec is installed.
func HaveCharon() error {
	for _, f := range []string{charonBin, "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("strongSwan is not installed (%s missing)", f)
		}
	}
	return Have("swanctl")
}

// StartCharon starts charon in ns with swanctl.conf text and extra files (relative to the
// swanctl directory, e.g. "x509/cert.pem"); logSubsys like "ike=4 chd=4" raises log levels.
func (l *Lab) StartCharon(ns, name, swanctl string, files map[string][]byte, logSubsys string) (*Charon, error) {
	state := filepath.Join(l.Dir, name)
	conf := filepath.Join(state, "swanctl")
	if err := os.MkdirAll(filepath.Join(state, "run"), 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(conf, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(conf, "swanctl.conf"), []byte(swanctl), 0o600); err != nil {
		return nil, err
	}
	for rel, data := range files {
		p := filepath.Join(conf, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return nil, err
		}
	}
	plugins := "random nonce"
	for _, p := range strings.Fields("aesni aes gcm sha1 sha2 md5 hmac kdf gmp curve25519 xcbc cmac ctr ccm openssl pem pkcs1 pkcs8 x509 pubkey revocation constraints") {
		if _, err := os.Stat("/usr/lib/ipsec/plugins/libstrongswan-" + p + ".so"); err == nil {
			plugins += " " + p
		}
	}
	for _, p := range l.CharonExtra {
		if _, err := os.Stat("/usr/lib/ipsec/plugins/libstrongswan-" + p + ".so"); err == nil {
			plugins += " " + p
		} else {
			return nil, fmt.Errorf("charon plugin %s is not installed (Debian: libcharon-extauth-plugins / libcharon-extra-plugins)", p)
		}
	}
	plugins += " kernel-libipsec kernel-netlink socket-default vici"
	var levels strings.Builder
	for _, kv := range strings.Fields(logSubsys) {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&levels, "\t\t\t%s = %s\n", k, v)
	}
	tries := 3
	if l.CharonRetransmitTries > 0 {
		tries = l.CharonRetransmitTries
	}
	ssconf := fmt.Sprintf(`charon {
	load_modular = no
	load = %s
	port = 500
	port_nat_t = 4500
	install_routes = yes
	i_dont_care_about_security_and_use_aggressive_mode_psk = yes
	retransmit_tries = %d
	filelog {
		charon {
			path = %s/charon.log
			time_format = %%H:%%M:%%S
			default = 1
%s			ike_name = yes
			flush_line = yes
		}
		stderr {
			default = -1
		}
	}
	syslog {
		daemon {
			default = -1
		}
	}
	plugins {
		vici {
			socket = unix://%s/charon.vici
		}
	}
}
swanctl {
	load = pem pkcs1 pkcs8 x509 pubkey gmp random nonce aes sha1 sha2 md5 hmac
}
`, plugins, tries, state, levels.String(), state)
	if err := os.WriteFile(filepath.Join(state, "strongswan.conf"), []byte(ssconf), 0o600); err != nil {
		return nil, err
	}
	p, err := l.Start(ns, name, []string{"STRONGSWAN_CONF=" + filepath.Join(state, "strongswan.conf")},
		"sh", "-c", `mount --bind "$1/run" /run && exec "$2"`, "sh", state, charonBin)
	if err != nil {
		return nil, err
	}
	c := &Charon{Proc: p, NS: ns, State: state, ConfDir: conf}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := c.Swanctl("--stats"); err == nil {
			break
		}
		if time.Now().After(deadline) || !p.Running() {
			return nil, fmt.Errorf("charon in %s did not come up: %s %s", ns, p.Output(), c.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := c.Swanctl("--load-all"); err != nil {
		return nil, fmt.Errorf("swanctl --load-all: %v: %s", err, out)
	}
	return c, nil
}

// Swanctl runs `swanctl COMMAND --uri ... ARGS` against this charon.
func (c *Charon) Swanctl(command string, args ...string) (string, error) {
	full := append([]string{"env", "SWANCTL_DIR=" + c.ConfDir, "STRONGSWAN_CONF=" + filepath.Join(c.State, "strongswan.conf"),
		"swanctl", command, "--uri", "unix://" + filepath.Join(c.State, "charon.vici")}, args...)
	return Run(full...)
}

// Log returns charon's log file.
func (c *Charon) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.State, "charon.log"))
	return string(b)
}

// WireGuardKey is a Curve25519 key pair as wireguard-go's UAPI wants it (hex).
type WireGuardKey struct{ Private, Public string }

// NewWireGuardKey generates a key pair.
func NewWireGuardKey() (WireGuardKey, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return WireGuardKey{}, err
	}
	return WireGuardKey{Private: hex.EncodeToString(k.Bytes()), Public: hex.EncodeToString(k.PublicKey().Bytes())}, nil
}

// WireGuard describes one wireguard-go end.
type WireGuard struct {
	Bin, Dev     string
	Key          WireGuardKey
	ListenPort   int
	PeerPublic   string
	PeerEndpoint string // ip:port
	Address      string // CIDR on the device
	AllowedIPs   []string
	MTU          int
}

// StartWireGuard runs wireguard-go in the foreground in ns, configures it over its UAPI socket
// and sets the device's address, MTU and routes.
func (l *Lab) StartWireGuard(ns string, w WireGuard) (*Proc, error) {
	p, err := l.Start(ns, "wireguard-"+w.Dev, []string{"WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=error"}, w.Bin, "-f", w.Dev)
	if err != nil {
		return nil, err
	}
	sock := "/var/run/wireguard/" + w.Dev + ".sock"
	deadline := time.Now().Add(10 * time.Second)
	var c net.Conn
	for {
		if c, err = net.Dial("unix", sock); err == nil {
			break
		}
		if time.Now().After(deadline) || !p.Running() {
			return nil, fmt.Errorf("wireguard-go %s: no UAPI socket: %v: %s", w.Dev, err, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer c.Close()
	var req strings.Builder
	fmt.Fprintf(&req, "set=1\nprivate_key=%s\nlisten_port=%d\nreplace_peers=true\npublic_key=%s\nendpoint=%s\nreplace_allowed_ips=true\n",
		w.Key.Private, w.ListenPort, w.PeerPublic, w.PeerEndpoint)
	for _, a := range w.AllowedIPs {
		fmt.Fprintf(&req, "allowed_ip=%s\n", a)
	}
	req.WriteString("\n")
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(req.String())); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "errno=0" {
		return nil, fmt.Errorf("wireguard-go UAPI: %q %v", line, err)
	}
	mtu := w.MTU
	if mtu == 0 {
		mtu = 1420
	}
	for _, args := range [][]string{
		{"ip", "addr", "add", w.Address, "dev", w.Dev},
		{"ip", "link", "set", w.Dev, "mtu", fmt.Sprint(mtu), "up"},
	} {
		if _, err := l.Exec(ns, args...); err != nil {
			return nil, err
		}
	}
	for _, a := range w.AllowedIPs {
		if _, err := l.Exec(ns, "ip", "route", "add", a, "dev", w.Dev); err != nil {
			return nil, err
		}
	}
	return p, nil
}
