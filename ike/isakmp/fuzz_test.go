package isakmp

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets for every decoder entry point. Seed corpora live in testdata/fuzz/FuzzXxx/
// (real strongSwan messages and chains, plus the synthetic sample payloads); regenerate
// them with: go test ./ike/isakmp/ -run TestWriteFuzzCorpus -update-corpus

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz seed corpora")

func FuzzDecodeMessage(f *testing.F) {
	if m, err := EncodeMessage(sampleHeader(), samplePayloads()); err == nil {
		f.Add(m.Raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			if m != nil {
				t.Fatal("message and error")
			}
			var e *Error
			if !asErrorType(err, &e) {
				t.Fatalf("error %T", err)
			}
			return
		}
		// Accepted input is canonical: re-encoding gives the same bytes and structs.
		checkReencodeMessage(t, m, b)
		if m.Header.Flags.Has(FlagEncryption) {
			// What the engine does after decrypting: never panics.
			_, _ = DecodePayloads(m.Header.NextPayload, m.Encrypted, DecodeOptions{AllowPadding: true})
		}
	})
}

func FuzzDecodePayloads(f *testing.F) {
	if c, err := EncodePayloads(samplePayloads()); err == nil {
		f.Add(uint8(PayloadSA), false, c.Bytes)
	}
	f.Fuzz(func(t *testing.T, first uint8, allowPadding bool, b []byte) {
		c, err := DecodePayloads(PayloadType(first), b, DecodeOptions{AllowPadding: allowPadding})
		if err != nil {
			var e *Error
			if c != nil || !asErrorType(err, &e) {
				t.Fatalf("chain %v, error %T", c, err)
			}
			return
		}
		if !bytes.Equal(append(bytes.Clone(c.Bytes), c.Padding...), b) {
			t.Fatal("Bytes+Padding is not the input")
		}
		if !allowPadding && len(c.Padding) != 0 {
			t.Fatal("padding without AllowPadding")
		}
		for i, p := range c.Payloads {
			if !bytes.Equal(p.Raw(), c.Payload(i)) || !bytes.Equal(p.Body(), c.Body(i)) {
				t.Fatalf("payload %d: Raw/Body differ from its span", i)
			}
		}
		checkReencodeChain(t, PayloadType(first), c)
	})
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(sampleHeader().Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			return
		}
		if !bytes.Equal(h.Append(nil), b[:HeaderLen]) {
			t.Fatalf("header %+v does not re-encode to %x", h, b[:HeaderLen])
		}
	})
}

func FuzzDecodeAttributes(f *testing.F) {
	f.Add([]byte{0x80, 0x01, 0x00, 0x07, 0x00, 0x0c, 0x00, 0x04, 0x00, 0x01, 0x51, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		as, err := DecodeAttributes(b)
		if err != nil {
			return
		}
		out, err := appendAttributes(PayloadNone, nil, as)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("attributes %v re-encode to %x (%v), want %x", as, out, err, b)
		}
		for _, a := range as {
			if v, err := a.Uint(); err == nil && len(a.Value) <= 2 && a.TV && v > 0xffff {
				t.Fatal("TV value beyond 16 bits")
			}
		}
	})
}

// The net/netip helpers of Identification on arbitrary data.
func FuzzIdentification(f *testing.F) {
	f.Add(uint8(IDIPv4AddrSubnet), []byte{192, 0, 2, 0, 255, 255, 255, 0})
	f.Add(uint8(IDIPv6AddrRange), make([]byte, 32))
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		id := &Identification{IDType: IDType(typ), Data: data}
		verr := id.Validate()
		first, last, err := id.IPRange()
		if err != nil {
			return
		}
		if first.Compare(last) > 0 || first.Is4() != last.Is4() {
			t.Fatalf("range %v..%v", first, last)
		}
		if verr != nil {
			t.Fatalf("IPRange ok but Validate: %v", verr)
		}
		var id2 *Identification
		switch id.IDType {
		case IDIPv4Addr, IDIPv6Addr:
			a, err := id.Addr()
			if err != nil {
				t.Fatal(err)
			}
			id2, err = IDFromAddr(a)
			if err != nil {
				t.Fatal(err)
			}
		case IDIPv4AddrSubnet, IDIPv6AddrSubnet:
			p, err := id.Prefix()
			if err != nil {
				t.Fatal(err)
			}
			id2, err = IDFromPrefix(p)
			if err != nil {
				t.Fatal(err)
			}
		default:
			id2, err = IDFromRange(first, last)
			if err != nil {
				t.Fatal(err)
			}
		}
		f2, l2, err := id2.IPRange()
		if err != nil || f2 != first || l2 != last || id2.IDType != id.IDType {
			t.Fatalf("%v %x -> %v %x: %v..%v vs %v..%v (%v)", id.IDType, id.Data, id2.IDType, id2.Data, first, last, f2, l2, err)
		}
		_ = netip.PrefixFrom(first, first.BitLen())
	})
}

func asErrorType(err error, target **Error) bool {
	e, ok := err.(*Error)
	*target = e
	return ok
}

// TestWriteFuzzCorpus writes the seed corpora (only with -update-corpus).
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	dir := func(name string) string {
		d := filepath.Join("testdata", "fuzz", name)
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	write := func(d, name string, args ...string) {
		body := "go test fuzz v1\n" + strings.Join(args, "\n") + "\n"
		if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bs := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	msgDir, chainDir, hdrDir, attrDir := dir("FuzzDecodeMessage"), dir("FuzzDecodePayloads"), dir("FuzzDecodeHeader"), dir("FuzzDecodeAttributes")
	idDir := dir("FuzzIdentification")
	// inner writes the attribute runs of SA transforms and the ID payloads' data.
	inner := func(name string, ps []Payload) {
		for i, p := range ps {
			switch p := p.(type) {
			case *SA:
				for j, pr := range p.Proposals {
					for k, tr := range pr.Transforms {
						write(attrDir, fmt.Sprintf("%s-%d-%d-%d", name, i, j, k), bs(tr.Body()[4:]))
					}
				}
			case *Identification:
				write(idDir, fmt.Sprintf("%s-%d", name, i), fmt.Sprintf("uint8(%d)", p.IDType), bs(p.Data))
			}
		}
	}
	for _, file := range vectorFiles {
		base := strings.TrimSuffix(file, ".hex")
		for _, v := range loadVectors(t, file) {
			name := base + "-" + v.label
			if v.chain {
				write(chainDir, name, fmt.Sprintf("uint8(%d)", v.first), "bool(true)", bs(v.data))
				c, err := DecodePayloads(v.first, v.data, DecodeOptions{AllowPadding: true})
				if err != nil {
					t.Fatal(err)
				}
				inner(name, c.Payloads)
				continue
			}
			write(msgDir, name, bs(v.data))
			write(hdrDir, name, bs(v.data[:HeaderLen]))
			m, err := DecodeMessage(v.data)
			if err != nil {
				t.Fatal(err)
			}
			inner(name, m.Payloads)
			if !m.Header.Flags.Has(FlagEncryption) {
				write(chainDir, name, fmt.Sprintf("uint8(%d)", m.Header.NextPayload), "bool(false)", bs(m.Bytes))
			}
		}
	}
	m, err := EncodeMessage(sampleHeader(), samplePayloads())
	if err != nil {
		t.Fatal(err)
	}
	write(msgDir, "synthetic-all-payloads", bs(m.Raw))
	write(chainDir, "synthetic-all-payloads", fmt.Sprintf("uint8(%d)", m.Header.NextPayload), "bool(false)", bs(m.Bytes))
	for i, p := range samplePayloads() {
		if id, ok := p.(*Identification); ok {
			write(idDir, fmt.Sprintf("synthetic-%d", i), fmt.Sprintf("uint8(%d)", id.IDType), bs(id.Data))
		}
	}
}

// FuzzModeCfgValues: the Mode Config value decoders (addresses, netmask, Cisco Unity split
// networks) on arbitrary values; what decodes re-encodes to the same networks.
func FuzzModeCfgValues(f *testing.F) {
	f.Add(uint16(CfgInternalIP4Address), []byte{203, 0, 113, 17})
	f.Add(uint16(CfgInternalIP6Address), append(make([]byte, 16), 64))
	f.Add(uint16(CfgInternalIP4Netmask), []byte{255, 255, 255, 0})
	f.Add(uint16(CfgUnitySplitInclude), []byte{198, 51, 100, 0, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, typ uint16, v []byte) {
		at := AttributeType(typ)
		if a, err := DecodeCfgAddr(at, v); err == nil && len(v) > 0 && !a.IsValid() {
			t.Fatalf("attribute %d value %x: no address and no error", typ, v)
		}
		if bits, err := DecodeIP4Netmask(v); err == nil && (bits < 0 || bits > 32) {
			t.Fatalf("netmask %x gave /%d", v, bits)
		}
		nets, err := DecodeSplitInclude(v)
		if err != nil {
			return
		}
		again, err := DecodeSplitInclude(AppendSplitInclude(nil, nets))
		if err != nil || len(again) != len(nets) {
			t.Fatalf("split networks %v re-encode to %v (%v)", nets, again, err)
		}
		for i := range nets {
			if nets[i] != again[i] {
				t.Fatalf("split network %v re-encodes as %v", nets[i], again[i])
			}
		}
	})
}
