package esp

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"golang.zx2c4.com/wireguard/conn"
)

func openPair(t *testing.T, offload bool) (a, b *UDPBind, fa, fb []conn.ReceiveFunc, pa, pb uint16) {
	t.Helper()
	a, b = &UDPBind{Offload: offload}, &UDPBind{Offload: offload}
	var err error
	if fa, pa, err = a.Open(0); err != nil {
		t.Fatal(err)
	}
	if fb, pb, err = b.Open(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return
}

// datagrams builds n datagrams; sizes cycle through the given lengths.
func datagrams(n int, lens ...int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, lens[i%len(lens)])
		for j := range out[i] {
			out[i][j] = byte(i*7 + j)
		}
	}
	return out
}

// recvAll reads until want datagrams arrived, with nbuf buffers per call.
func recvAll(t *testing.T, fn conn.ReceiveFunc, want, nbuf int) ([][]byte, []conn.Endpoint) {
	t.Helper()
	bufs := make([][]byte, nbuf)
	for i := range bufs {
		bufs[i] = make([]byte, 65536)
	}
	sizes := make([]int, nbuf)
	eps := make([]conn.Endpoint, nbuf)
	var got [][]byte
	var gotEP []conn.Endpoint
	for len(got) < want {
		n, err := fn(bufs, sizes, eps)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			got = append(got, append([]byte(nil), bufs[i][:sizes[i]]...))
			gotEP = append(gotEP, eps[i])
		}
	}
	return got, gotEP
}

func TestUDPBindBatches(t *testing.T) {
	cases := []struct {
		name string
		n    int
		lens []int
		nbuf int
	}{
		{"equal sizes (one GSO run)", 100, []int{1200}, 128},
		{"equal then short", 65, []int{1400, 1400, 1400, 1400, 300}, 128},
		{"growing sizes break runs", 50, []int{100, 200, 300}, 128},
		{"tiny", 128, []int{1}, 128},
		{"one buffer per call (pending segments)", 150, []int{900}, 1},
		{"few buffers per call", 150, []int{900, 900, 700}, 16},
	}
	for _, offload := range []bool{true, false} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("offload=%v/%s", offload, c.name), func(t *testing.T) {
				a, b, _, fb, _, pb := openPair(t, offload)
				ep, _ := a.ParseEndpoint(fmt.Sprintf("127.0.0.1:%d", pb))
				sent := datagrams(c.n, c.lens...)
				if err := a.Send(sent, ep); err != nil {
					t.Fatal(err)
				}
				got, eps := recvAll(t, fb[0], c.n, c.nbuf)
				oa, ob := a.Offloads(), b.Offloads()
				if !offload && (oa.GSO || ob.GRO || oa.GSOSent+ob.GROReceived > 0) {
					t.Fatalf("offloads used although switched off: %+v %+v", oa, ob)
				}
				if offload && oa.GSO && ob.GRO && c.lens[0] > 1 && (oa.GSOSent == 0 || ob.GROReceived == 0) {
					t.Fatalf("GSO/GRO available but not exercised: sender %+v receiver %+v", oa, ob)
				}
				for i := range sent {
					if !bytes.Equal(got[i], sent[i]) {
						t.Fatalf("datagram %d: %d bytes, want %d (order or content wrong)", i, len(got[i]), len(sent[i]))
					}
					if eps[i].DstIP() != netip.MustParseAddr("127.0.0.1") || eps[i].SrcIP() != netip.MustParseAddr("127.0.0.1") {
						t.Fatalf("endpoint %v src %v", eps[i].DstToString(), eps[i].SrcIP())
					}
				}
			})
		}
	}
}

func TestUDPBindIPv6(t *testing.T) {
	a, _, _, fb, _, pb := openPair(t, true)
	ep, _ := a.ParseEndpoint(fmt.Sprintf("[::1]:%d", pb))
	sent := datagrams(10, 500)
	if err := a.Send(sent, ep); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	if len(fb) < 2 {
		t.Skip("no IPv6 socket")
	}
	got, eps := recvAll(t, fb[1], 10, 128)
	if !bytes.Equal(got[9], sent[9]) || eps[0].DstIP() != netip.MustParseAddr("::1") {
		t.Fatal("IPv6 datagrams differ")
	}
}

func TestUDPBindReplyEndpoint(t *testing.T) {
	a, b, fa, fb, _, pb := openPair(t, true)
	ep, _ := a.ParseEndpoint(fmt.Sprintf("127.0.0.1:%d", pb))
	if err := a.Send(datagrams(1, 64), ep); err != nil {
		t.Fatal(err)
	}
	_, eps := recvAll(t, fb[0], 1, 128)
	if err := b.Send(datagrams(1, 77), eps[0]); err != nil {
		t.Fatal(err)
	}
	got, _ := recvAll(t, fa[0], 1, 128)
	if len(got[0]) != 77 {
		t.Fatal("reply lost")
	}
}

func TestUDPBindZeroAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	a, _, _, fb, _, pb := openPair(t, true)
	ep, _ := a.ParseEndpoint(fmt.Sprintf("127.0.0.1:%d", pb))
	sent := datagrams(64, 1400)
	bufs := make([][]byte, 128)
	for i := range bufs {
		bufs[i] = make([]byte, 65536)
	}
	sizes := make([]int, 128)
	eps := make([]conn.Endpoint, 128)
	round := func() {
		if err := a.Send(sent, ep); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(sent); {
			n, err := fb[0](bufs, sizes, eps)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}
	round()
	if allocs := testing.AllocsPerRun(50, round); allocs > 0 {
		t.Fatalf("%.1f allocations per batch of 64 send+receive", allocs)
	}
}

func TestUDPBindClose(t *testing.T) {
	b := &UDPBind{}
	fns, _, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		bufs := [][]byte{make([]byte, 100)}
		_, err := fns[0](bufs, make([]int, 1), make([]conn.Endpoint, 1))
		done <- err
	}()
	b.Close()
	if err := <-done; err == nil {
		t.Fatal("receive did not fail after Close")
	}
}

// TestUDPBindSmallBuffers: the caller's buffers hold one segment; coalesced datagrams are
// split across calls, and a datagram larger than a buffer goes to the Oversize hook in its
// place (or, without one, is counted), the others keeping their order.
func TestUDPBindSmallBuffers(t *testing.T) {
	for _, hook := range []bool{true, false} {
		t.Run(fmt.Sprintf("hook=%v", hook), func(t *testing.T) {
			a := &UDPBind{Offload: true}
			b := &UDPBind{Offload: true}
			var big [][]byte
			if hook {
				b.Oversize = func(d []byte, ep conn.Endpoint) { big = append(big, append([]byte(nil), d...)) }
			}
			if _, _, err := a.Open(0); err != nil {
				t.Fatal(err)
			}
			fb, pb, err := b.Open(0)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			defer b.Close()
			ep, _ := a.ParseEndpoint(fmt.Sprintf("127.0.0.1:%d", pb))
			sent := datagrams(200, 1400)
			large := datagrams(1, 4000)[0]
			if err := a.Send(sent[:100], ep); err != nil {
				t.Fatal(err)
			}
			if err := a.Send([][]byte{large}, ep); err != nil {
				t.Fatal(err)
			}
			if err := a.Send(sent[100:], ep); err != nil {
				t.Fatal(err)
			}
			bufs := make([][]byte, 128)
			for i := range bufs {
				bufs[i] = make([]byte, 1500)
			}
			sizes := make([]int, 128)
			eps := make([]conn.Endpoint, 128)
			var got [][]byte
			for len(got) < len(sent) {
				n, err := fb[0](bufs, sizes, eps)
				if err != nil {
					t.Fatal(err)
				}
				for i := range n {
					got = append(got, append([]byte(nil), bufs[i][:sizes[i]]...))
				}
			}
			for i := range sent {
				if !bytes.Equal(got[i], sent[i]) {
					t.Fatalf("datagram %d differs or is out of order", i)
				}
			}
			if hook && (len(big) != 1 || !bytes.Equal(big[0], large)) {
				t.Fatalf("the Oversize hook got %d datagrams, want the 4000-byte one", len(big))
			}
			if !hook && b.Offloads().Oversized != 1 {
				t.Fatalf("oversized count %d, want 1", b.Offloads().Oversized)
			}
		})
	}
}
