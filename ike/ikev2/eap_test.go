package ikev2

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"oakley/crypto"
	"oakley/esp"
	"oakley/ike/core"
	"oakley/ike/ikev2/wire"
)

// eapSetup is an EAP-MSCHAPv2 client A ("alice" with password) and a gateway B with a
// certificate, one pool and the user alice/"correct horse".
func eapSetup(t *testing.T, password string) (*lnet, *node, *node, *core.Pool) {
	t.Helper()
	ca := newTestCA(t, "oakley test CA")
	pool, err := core.NewPool("rw", netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.20"),
		[]netip.Addr{netip.MustParseAddr("203.0.113.53")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw := &core.Connection{Version: 2, Name: "gw", LocalAddr: ipB,
		LocalID: core.FQDNIdentity("b.test"), RemoteID: core.AnyIdentity,
		Auth: "pubkey", EAP: "mschapv2",
		RekeyTime: 4 * time.Hour, StartAction: "none", Encap: "auto", Pools: []string{"rw"},
		Children: []*core.Child{{
			Name: "net", LocalTS: []esp.Selector{sel("198.51.100.0/24")}, RemoteTS: []esp.Selector{sel("203.0.113.0/24")},
			ESPProposals: props(t, crypto.ProtoESP, "aes128gcm16"), RekeyTime: time.Hour,
		}},
	}
	gw.Creds = ca.issue(t, "b.test", "ecdsa", 3)
	cl := rwClient(t, "rw", "laptop.test", ipA, ipB)
	cl.RemoteID = core.FQDNIdentity("b.test")
	cl.PSK, cl.Auth, cl.Trust = nil, "pubkey", ca.trust(t)
	cl.EAP, cl.EAPID, cl.EAPPassword = "mschapv2", "alice", crypto.Key(password)
	n := newLnet(t)
	x := n.addNodeWith("A", ipA, 1, func(*core.Config) {}, cl)
	y := n.addNodeWith("B", ipB, 2, func(c *core.Config) {
		c.Pools = []*core.Pool{pool}
		c.Users = []core.User{{Name: "bob", Password: crypto.Key("bob's")}, {Name: "alice", Password: crypto.Key("correct horse")}}
	}, gw)
	return n, x, y, pool
}

// TestEAPMSCHAPv2: oakley client ↔ oakley gateway. The gateway proves itself with its
// certificate, the client with EAP-MSCHAPv2; both AUTHs after EAP use the MSK; the client
// gets a virtual IP leased for its EAP identity and the child carries traffic keys that
// match. Negative control: TestEAPMSCHAPv2WrongPassword.
func TestEAPMSCHAPv2(t *testing.T) {
	n, x, y, pool := eapSetup(t, "correct horse")
	cs, _ := x.core.Conn("rw")
	cs.BringUp(n.now, cs.Children)
	n.runUntil(func() bool { return childUp(x, "rw", "net") && childUp(y, "gw", "net") }, time.Minute)
	checkKeysMatch(t, unit(x, "rw", "net").Newest(), unit(y, "gw", "net").Newest())
	sx, sy := currentSA(x, "rw").Status(), currentSA(y, "gw").Status()
	if !strings.HasPrefix(sx.Auth, "EAP-MSCHAPv2 alice") || sx.PeerCert == nil || !strings.Contains(sx.PeerCert.Subject, "b.test") {
		t.Fatalf("client status: auth %q, peer cert %+v", sx.Auth, sx.PeerCert)
	}
	if !strings.Contains(sy.RemoteID, "(EAP alice)") || !strings.Contains(sy.Auth, "peer EAP-MSCHAPv2 alice") {
		t.Fatalf("gateway status: remote id %q, auth %q", sy.RemoteID, sy.Auth)
	}
	if len(sx.VirtualIPs) != 1 || len(sy.VirtualIPs) != 1 || sx.VirtualIPs[0] != sy.VirtualIPs[0] || pool.InUse() != 1 {
		t.Fatalf("virtual IPs: client %v, gateway %v, in use %d", sx.VirtualIPs, sy.VirtualIPs, pool.InUse())
	}
	if u := gatewayUsers(y, "gw"); len(u) != 1 || u[0] != "alice" {
		t.Fatalf("gateway status users: %q", u)
	}
	if !logged(y, "virtual IP leased") || !logged(y, "eap:alice") {
		dumpLogs(t, y, 20)
		t.Fatal("the lease is not for the EAP identity")
	}
	for _, nd := range []*node{x, y} {
		for _, e := range nd.logs.All() {
			for _, secret := range []string{"correct horse", "bob's"} {
				if strings.Contains(e.Message, secret) || strings.Contains(ctxString(e.ContextMap()), secret) {
					t.Fatalf("%s logged a password: %s %v", nd.name, e.Message, e.ContextMap())
				}
			}
		}
	}
	if y.ctr.Get(core.CtrAuthFailures) != 0 || x.ctr.Get(core.CtrAuthFailures) != 0 {
		t.Fatal("auth failures counted on success")
	}
	// The IKE SA rekeys like any other; the gateway keeps the EAP identity.
	currentSA(x, "rw").Rekey(n.now)
	n.runFor(time.Minute)
	if s := currentSA(y, "gw").Status(); !strings.Contains(s.RemoteID, "(EAP alice)") || !childUp(x, "rw", "net") {
		t.Fatalf("after the IKE SA rekey: %q", s.RemoteID)
	}
	// The core's status names the user who logged in, before and after the rekey, on the
	// gateway's established SA only.
	if u := gatewayUsers(y, "gw"); len(u) != 1 || u[0] != "alice" {
		t.Fatalf("gateway status users after the rekey: %q", u)
	}
	if u := gatewayUsers(x, "rw"); len(u) != 0 {
		t.Fatalf("the client's status names users: %q", u)
	}
}

// gatewayUsers lists the users of conn's established IKE SAs in nd's core status.
func gatewayUsers(nd *node, conn string) []string {
	var out []string
	for _, c := range nd.core.Status() {
		for _, s := range c.IKESAs {
			if c.Name == conn && s.EstablishedAt != nil && s.User != "" {
				out = append(out, s.User)
			}
		}
	}
	return out
}

func ctxString(m map[string]any) string {
	var b strings.Builder
	for k, v := range m {
		b.WriteString(k)
		b.WriteString("=")
		if s, ok := v.(string); ok {
			b.WriteString(s)
		}
		b.WriteString(" ")
	}
	return b.String()
}

// TestEAPMSCHAPv2WrongPassword: the gateway refuses (EAP-Failure, AUTHENTICATION_FAILED,
// counted, no lease), the client reports it; an unknown user likewise.
func TestEAPMSCHAPv2WrongPassword(t *testing.T) {
	for _, tc := range []struct{ name, password, user, gwLog string }{
		{"wrong-password", "correct horsE", "alice", `wrong password for \"alice\"`},
		{"unknown-user", "correct horse", "mallory", `unknown user \"mallory\"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, x, y, pool := eapSetup(t, tc.password)
			cs, _ := x.core.Conn("rw")
			cs.Cfg.EAPID = tc.user
			cs.BringUp(n.now, cs.Children)
			n.runFor(30 * time.Second)
			if childUp(x, "rw", "net") || len(y.p.SAs()) != 0 || pool.InUse() != 0 {
				t.Fatal("came up")
			}
			if e := connErr(x, "rw"); !strings.Contains(e, "refused our EAP login") || !strings.Contains(e, "MS-CHAPv2 Failure") {
				t.Fatalf("client's error %q", e)
			}
			if y.ctr.Get(core.CtrAuthFailures) != 1 || x.ctr.Get(core.CtrAuthFailures) != 1 {
				t.Fatalf("auth_failures gateway %d client %d", y.ctr.Get(core.CtrAuthFailures), x.ctr.Get(core.CtrAuthFailures))
			}
			if !logged(y, strings.ReplaceAll(tc.gwLog, `\"`, `"`)) {
				dumpLogs(t, y, 10)
				t.Fatal("gateway did not log the reason")
			}
		})
	}
}

// TestEAPRefusals: the client refuses a gateway whose certificate it does not trust before
// it sends anything about its user; a gateway without eap refuses a client that wants EAP.
func TestEAPRefusals(t *testing.T) {
	t.Run("untrusted-gateway", func(t *testing.T) {
		n, x, y, _ := eapSetup(t, "correct horse")
		cs, _ := x.core.Conn("rw")
		cs.Cfg.Trust = newTestCA(t, "another CA").trust(t)
		cs.BringUp(n.now, cs.Children)
		n.runFor(30 * time.Second)
		if childUp(x, "rw", "net") || len(y.p.SAs()) != 0 {
			t.Fatal("came up")
		}
		if e := connErr(x, "rw"); !strings.Contains(e, "peer certificate not accepted") {
			t.Fatalf("client's error %q", e)
		}
		if logged(y, "EAP identity received") {
			t.Fatal("the client sent its EAP identity to an untrusted gateway")
		}
	})
	t.Run("gateway-without-eap", func(t *testing.T) {
		n, x, y, _ := eapSetup(t, "correct horse")
		gw, _ := y.core.Conn("gw")
		gw.Cfg.EAP = ""
		gw.Cfg.Trust = newTestCA(t, "some CA").trust(t)
		cs, _ := x.core.Conn("rw")
		cs.BringUp(n.now, cs.Children)
		n.runFor(30 * time.Second)
		if childUp(x, "rw", "net") || len(y.p.SAs()) != 0 {
			t.Fatal("came up")
		}
		if !logged(y, "wants EAP (no AUTH), and no connection for it demands eap") {
			dumpLogs(t, y, 10)
			t.Fatal("gateway did not say why")
		}
		if e := connErr(x, "rw"); !strings.Contains(e, "AUTHENTICATION_FAILED") {
			t.Fatalf("client's error %q", e)
		}
	})
}

// TestEAPRefusedClientSilent: a client that never acknowledges MS-CHAPv2 Failure (every
// message after the gateway's refusal is lost) is counted in auth_failures when the gateway
// drops its half-made IKE SA. Negative control: nothing is counted before that.
func TestEAPRefusedClientSilent(t *testing.T) {
	n, x, y, _ := eapSetup(t, "wrong")
	refused := false
	n.filter = func(from, to *node, m []byte) []byte {
		if from == x && refused {
			return nil
		}
		return m
	}
	n.afterStep = func() { refused = refused || logged(y, "refusing the EAP login") }
	cs, _ := x.core.Conn("rw")
	cs.BringUp(n.now, cs.Children)
	n.runFor(5 * time.Second)
	if !refused || y.ctr.Get(core.CtrAuthFailures) != 0 || len(y.p.SAs()) != 1 {
		t.Fatalf("refused %v, auth_failures %d, SAs %d", refused, y.ctr.Get(core.CtrAuthFailures), len(y.p.SAs()))
	}
	n.runFor(time.Minute)
	if y.ctr.Get(core.CtrAuthFailures) != 1 || len(y.p.SAs()) != 0 {
		t.Fatalf("after the half-open timeout: auth_failures %d, SAs %d", y.ctr.Get(core.CtrAuthFailures), len(y.p.SAs()))
	}
}

// TestSlowEAPKeptByGateway: an EAP login whose answers are lost until it has taken longer
// than HalfOpenTimeout, and longer than one retransmission schedule counted from the first
// IKE_AUTH, still completes while the client keeps retransmitting. The gateway's answers
// to IKE_AUTH requests 2, 3 and 4 are each lost four times (the fifth transmission, 15 s
// after the first, gets them), so the login takes about 45 s. A gateway that forgot the
// half-open SA 30 s after IKE_SA_INIT, or 31 s (the whole test schedule) after the first
// IKE_AUTH, answered INVALID_IKE_SPI and the client started over; it must wait as long as
// the client's retransmissions may go on, counted from the last one it heard.
func TestSlowEAPKeptByGateway(t *testing.T) {
	n, x, y, _ := eapSetup(t, "correct horse")
	drops := map[uint32]int{2: 4, 3: 4, 4: 4}
	n.filter = func(from, to *node, m []byte) []byte {
		ex, resp, mid := exchangeOf(m)
		if from == y && resp && ex == wire.ExchangeIKEAuth && drops[mid] > 0 {
			drops[mid]--
			return nil
		}
		return m
	}
	cs, _ := x.core.Conn("rw")
	cs.BringUp(n.now, cs.Children)
	start := n.now
	n.runUntil(func() bool { return childUp(x, "rw", "net") && childUp(y, "gw", "net") }, 2*time.Minute)
	if d := drops[2] + drops[3] + drops[4]; d != 0 {
		t.Fatalf("%d planned losses did not happen (fewer EAP rounds than the test expects?)", d)
	}
	took := n.now.Sub(start)
	if took <= 31*time.Second {
		t.Fatalf("up after %s: the losses were meant to stretch the login past the test schedule", took)
	}
	if x.ctr.Get(core.CtrIKEFailed)+y.ctr.Get(core.CtrIKEFailed) != 0 || y.ctr.Get(core.CtrHalfOpenExpired) != 0 || y.ctr.Get(core.CtrInvalidSPIOut) != 0 {
		t.Fatalf("ike_failed %d/%d, gateway half_open_expired %d, invalid_ike_spi_out %d", x.ctr.Get(core.CtrIKEFailed), y.ctr.Get(core.CtrIKEFailed), y.ctr.Get(core.CtrHalfOpenExpired), y.ctr.Get(core.CtrInvalidSPIOut))
	}
	if y.p.HalfOpenCount() != 0 {
		t.Fatalf("%d half-open entries left", y.p.HalfOpenCount())
	}
	t.Logf("EAP-MSCHAPv2 up after %s with 12 answers lost", took)
}
