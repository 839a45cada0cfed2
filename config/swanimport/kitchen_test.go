package swanimport

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// kitchenSinks are inputs that set every documented strongSwan setting at least once, with
// the files they read.
var kitchenSinks = []struct {
	main  string
	files []string
	// secrets of the inputs, which must appear nowhere but in the secret files
	secrets []string
}{
	{"testdata/kitchen/swanctl.conf", []string{"testdata/kitchen/conf.d/extra.conf"},
		[]string{"0123456789abcdef0123456789abcdef", "orphan secret", "carol's password", "ZGF2ZXBhc3N3b3Jk", "pp-gw-secret"}},
	{"testdata/kitchen/ipsec.conf", []string{"testdata/kitchen/ipsec.d/extra.conf", "testdata/kitchen/ipsec.secrets"},
		[]string{"carol and gw share this", "c2VjcmV0IGJldHdlZW4gaG9zdHM=", "carol's password", "dave's password", "pp-gw-secret"}},
}

// TestKitchenSinkEveryLineAccounted: every line that sets something is either named by a
// "# from" comment or note of the output, or carries a warning; nothing is dropped
// silently. The output is valid TOML, and no secret leaks into it or a warning.
func TestKitchenSinkEveryLineAccounted(t *testing.T) {
	for _, k := range kitchenSinks {
		t.Run(k.main, func(t *testing.T) {
			res := importFile(t, k.main, Options{LocalAddrs: func() []netip.Addr { return nil }})
			var lines []Pos
			for _, f := range append([]string{k.main}, k.files...) {
				lines = append(lines, settingLines(t, f)...)
			}
			if len(lines) < 100 {
				t.Fatalf("only %d setting lines found; the kitchen sink or the line finder is broken", len(lines))
			}
			for _, p := range unaccounted(lines, string(res.TOML), res.Warnings) {
				t.Errorf("%s is neither converted nor warned about", p)
			}
			var doc map[string]any
			if _, err := toml.Decode(string(res.TOML), &doc); err != nil {
				t.Errorf("the output is not TOML: %v\n%s", err, res.TOML)
			}
			for _, s := range k.secrets {
				if strings.Contains(string(res.TOML), s) {
					t.Errorf("the TOML contains the secret %q", s)
				}
				for _, w := range res.Warnings {
					if strings.Contains(w.Msg, s) {
						t.Errorf("warning %q contains a secret", w)
					}
				}
			}
			for _, w := range res.Warnings {
				if w.Pos.Line <= 0 && !strings.HasPrefix(w.Msg, "include") {
					t.Errorf("warning without a line: %s", w)
				}
			}
			// Negative controls: the check finds a line once its reference or its
			// warning is gone.
			if len(res.Warnings) == 0 {
				t.Fatal("no warnings for a kitchen sink")
			}
			w := res.Warnings[len(res.Warnings)/2]
			var rest []Diag
			for _, x := range res.Warnings {
				if x.Pos != w.Pos {
					rest = append(rest, x)
				}
			}
			refs := fromRefs(string(res.TOML))
			if !refs[w.Pos] && !containsPos(unaccounted(lines, string(res.TOML), rest), w.Pos) && isSettingLine(lines, w.Pos) {
				t.Errorf("negative control: dropping the warnings at %s went unnoticed", w.Pos)
			}
			stripped := strings.ReplaceAll(string(res.TOML), "# from ", "# (removed) ")
			if len(unaccounted(lines, stripped, res.Warnings)) == 0 {
				t.Errorf("negative control: removing the # from comments went unnoticed")
			}
		})
	}
}

func containsPos(ps []Pos, p Pos) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func isSettingLine(lines []Pos, p Pos) bool { return containsPos(lines, p) }
