//go:build linux

package e2e

// Recording of ike/ikev2's known answers (ike/ikev2/testdata/kat): an oakley session
// against a charon that logs its derived keys (ike=4 chd=4 enc=4): IKE_SA_INIT, IKE_AUTH
// with the interop PSK, a child rekey with PFS and an IKE SA rekey. Runs only with
// OAKLEY_RECORD_KAT=DIR set; extract.py turns DIR's two logs into strongswan-kat.txt.

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"oakley/e2e/lab"
)

func TestRecordIKEv2KAT(t *testing.T) {
	dir := os.Getenv("OAKLEY_RECORD_KAT")
	if dir == "" {
		t.Skip("set OAKLEY_RECORD_KAT=DIR to record ike/ikev2's known answers")
	}
	needInterop(t)
	tp := newTopo(t, false)
	psk := "interop-test-psk-0123456789" // the harness's published test PSK
	conf := swanFor(tp, tp.right, psk)
	conf.Version, conf.Proposals, conf.Children[0].ESP = 2, "aes128-sha256-modp2048", "aes128-sha256-modp2048"
	l, err := lab.New("okk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	if out, err := tp.right.ns.run("ip", "addr", "replace", tp.right.host+"/32", "dev", "lo"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	c, err := l.StartCharon(string(tp.right.ns), "charon", conf.render(), nil, "ike=4 chd=4 enc=4 cfg=1")
	if err != nil {
		t.Fatal(err)
	}
	site := siteFor(tp, tp.left, psk)
	site.Version, site.Proposals, site.Children[0].ESP = 2, []string{"aes128-sha256-modp2048"}, []string{"aes128-sha256-modp2048"}
	o := startIKE(t, tp.left, "oakley", site)
	o.mustCtl(t, "initiate", site.connName()+"/net")
	pingBoth(t, tp, 2)
	o.mustCtl(t, "rekey", site.connName()+"/net")
	time.Sleep(2 * time.Second)
	o.mustCtl(t, "rekey", site.connName())
	time.Sleep(2 * time.Second)
	pingBoth(t, tp, 2)
	for name, data := range map[string]string{"charon.log": c.Log(), "oakley.log": o.p.out.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
