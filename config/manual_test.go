package config

import (
	"strings"
	"testing"
)

const (
	key20a = "000102030405060708090a0b0c0d0e0f10111213" // aes128gcm16: 16-byte key + 4-byte salt
	key20b = "202122232425262728292a2b2c2d2e2f30313233"
	key16a = "000102030405060708090a0b0c0d0e0f"
	key16b = "101112131415161718191a1b1c1d1e1f"
	key32a = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
	key32b = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
)

const manualGCM = `[[connection]]
name = "m"
keying = "manual"
remote_addr = "198.51.100.2"
  [[connection.child]]
  name = "c"
  local_ts = ["192.0.2.0/24"]
  remote_ts = ["203.0.113.0/24"]
  esp_proposals = ["aes128gcm16"]
  in_spi = "0x00001000"
  out_spi = "0x00002000"
  in_key = "` + key20a + `"
  out_key = "` + key20b + `"
`

const manualCBC = `[[connection]]
name = "m"
keying = "manual"
remote_addr = "198.51.100.2"
  [[connection.child]]
  name = "c"
  local_ts = ["192.0.2.0/24"]
  remote_ts = ["203.0.113.0/24"]
  esp_proposals = ["aes128-sha256"]
  in_spi = 4096
  out_spi = "8192"
  in_key = "0x` + key16a + `"
  out_key = "` + key16b + `"
  in_auth_key = "` + key32a + `"
  out_auth_key = "` + key32b + `"
`

func TestManualValid(t *testing.T) {
	cfg, err := Parse("m.toml", []byte(manualGCM), "")
	if err != nil {
		t.Fatal(err)
	}
	ch := cfg.Connections[0].Children[0]
	if ch.InSPI != 0x1000 || ch.OutSPI != 0x2000 || len(ch.InKey) != 20 || ch.InKey[19] != 0x13 ||
		ch.OutKey[0] != 0x20 || ch.InAuthKey != nil || ch.OutAuthKey != nil {
		t.Errorf("child = %+v", ch)
	}
	if !hasWarning(cfg.Warnings, 9, "manual keying with the AEAD aes128gcm16 is discouraged (RFC 4106 §8)") {
		t.Errorf("warnings = %v", cfg.Warnings)
	}

	cfg, err = Parse("m.toml", []byte(manualCBC), "")
	if err != nil {
		t.Fatal(err)
	}
	ch = cfg.Connections[0].Children[0]
	if ch.InSPI != 4096 || ch.OutSPI != 8192 || len(ch.InKey) != 16 || len(ch.OutKey) != 16 ||
		len(ch.InAuthKey) != 32 || ch.OutAuthKey[0] != 0x40 || len(cfg.Warnings) != 0 {
		t.Errorf("child = %+v, warnings %v", ch, cfg.Warnings)
	}

	// AH: integrity keys only, raw encapsulation.
	ah := strings.Replace(strings.Replace(manualCBC, `esp_proposals = ["aes128-sha256"]`, `ah_proposals = ["sha256"]`, 1),
		"keying = \"manual\"", "keying = \"manual\"\nencap = \"raw\"", 1)
	ah = strings.Replace(strings.Replace(ah, "  in_key = \"0x"+key16a+"\"\n", "", 1), "  out_key = \""+key16b+"\"\n", "", 1)
	cfg, err = Parse("ah.toml", []byte(ah), "")
	if err != nil {
		t.Fatal(err)
	}
	if ch := cfg.Connections[0].Children[0]; len(ch.AHProposals) != 1 || ch.ESPProposals != nil || len(ch.InAuthKey) != 32 || ch.InKey != nil {
		t.Errorf("AH child = %+v", ch)
	}

	// IKE-only keys are ignored with a warning, not refused (version = 2 included).
	ign := strings.Replace(manualGCM, "keying = \"manual\"", "keying = \"manual\"\nversion = 2\npsk = \"x\"", 1)
	cfg, err = Parse("i.toml", []byte(ign), "")
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(cfg.Warnings, 4, `version is ignored with keying = "manual"`) || !hasWarning(cfg.Warnings, 5, "psk is ignored") {
		t.Errorf("warnings = %v", cfg.Warnings)
	}
}

func TestManualErrors(t *testing.T) {
	hdr := strings.Replace(manualGCM, "  [[connection.child]]", "  [[connection.child]] #!", 1)
	cases := []struct{ name, src, frag string }{
		{"two proposals", strings.Replace(manualGCM, `esp_proposals = ["aes128gcm16"]`, `esp_proposals = ["aes128gcm16", "aes256gcm16"] #!`, 1), `needs exactly one proposal in esp_proposals, not 2`},
		{"no proposal", strings.Replace(hdr, "  esp_proposals = [\"aes128gcm16\"]\n", "", 1), `needs esp_proposals (or ah_proposals) with exactly one proposal`},
		{"dh group", strings.Replace(manualGCM, `esp_proposals = ["aes128gcm16"]`, `esp_proposals = ["aes128gcm16-modp2048"] #!`, 1), `manual keying has no key exchange; drop modp2048`},
		{"two ciphers", strings.Replace(manualGCM, `esp_proposals = ["aes128gcm16"]`, `esp_proposals = ["aes128gcm16-aes256gcm16"] #!`, 1), `exactly one algorithm of each kind`},
		{"spi reserved", strings.Replace(manualGCM, `in_spi = "0x00001000"`, `in_spi = "0xff" #!`, 1), "in_spi = 0x000000ff is reserved (RFC 4303 §2.1"},
		{"spi zero", strings.Replace(manualGCM, `out_spi = "0x00002000"`, `out_spi = 0 #!`, 1), "out_spi = 0x00000000 is reserved"},
		{"spi syntax", strings.Replace(manualGCM, `in_spi = "0x00001000"`, `in_spi = "0x1g" #!`, 1), `in_spi = "0x1g" is not a 32-bit SPI`},
		{"spi range", strings.Replace(manualGCM, `in_spi = "0x00001000"`, `in_spi = 4294967296 #!`, 1), "in_spi = 4294967296 is not a 32-bit SPI"},
		{"spi type", strings.Replace(manualGCM, `in_spi = "0x00001000"`, `in_spi = true #!`, 1), "in_spi must be an SPI"},
		{"spi missing", strings.Replace(hdr, "  in_spi = \"0x00001000\"\n", "", 1), `needs in_spi`},
		{"spi duplicate", manualGCM + strings.Replace(strings.Replace(manualGCM, `name = "m"`, `name = "n"`, 1), `in_spi = "0x00001000"`, `in_spi = 4096 #!`, 1), `in_spi 0x00001000 is already used by child "c" of connection "m" (line 10)`},
		{"key length", strings.Replace(manualGCM, `in_key = "`+key20a+`"`, `in_key = "`+key16a+`" #!`, 1), "in_key has 16 bytes; aes128gcm16 needs 20 bytes (a 16-byte key followed by a 4-byte salt)"},
		{"key hex", strings.Replace(manualGCM, `out_key = "`+key20b+`"`, `out_key = "xyz0" #!`, 1), "out_key is not valid hex"},
		{"key odd", strings.Replace(manualGCM, `out_key = "`+key20b+`"`, `out_key = "abc" #!`, 1), "out_key has an odd number of hex digits"},
		{"key missing", strings.Replace(hdr, "  out_key = \""+key20b+"\"\n", "", 1), "needs out_key (20 bytes for aes128gcm16, in hex)"},
		{"auth key with AEAD", manualGCM + "  in_auth_key = \"" + key32a + "\" #!\n", "in_auth_key must be absent: aes128gcm16 is an AEAD"},
		{"same AEAD keys", strings.Replace(manualGCM, `out_key = "`+key20b+`"`, `out_key = "`+key20a+`" #!`, 1), "in_key and out_key are identical: with aes128gcm16 both directions would reuse the same nonces"},
		{"auth key length", strings.Replace(manualCBC, `in_auth_key = "`+key32a+`"`, `in_auth_key = "`+key16a+`" #!`, 1), "in_auth_key has 16 bytes; sha256 needs 32 bytes"},
		{"cbc key length", strings.Replace(manualCBC, `out_key = "`+key16b+`"`, `out_key = "`+key20b+`" #!`, 1), "out_key has 20 bytes; aes128 needs 16 bytes"},
		{"ah with enc key", strings.Replace(strings.Replace(strings.Replace(manualCBC, `in_key = "0x`+key16a+`"`, `in_key = "0x`+key16a+`" #!`, 1), `esp_proposals = ["aes128-sha256"]`, `ah_proposals = ["sha256"]`, 1), "keying = \"manual\"", "keying = \"manual\"\nencap = \"raw\"", 1), "in_key must be absent: AH does not encrypt"},
		{"remote any", strings.Replace(manualGCM, `remote_addr = "198.51.100.2"`, `remote_addr = "%any" #!`, 1), `remote_addr = "%any" cannot be used with keying = "manual"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := markedLine(t, tc.src)
			_, err := Parse("m.toml", []byte(tc.src), "")
			if err == nil {
				t.Fatalf("no error, want line %d: %s", want, tc.frag)
			}
			if es := asErrors(t, err); !hasError(es, want, tc.frag) {
				t.Fatalf("want line %d: ...%s...; got\n%v", want, tc.frag, err)
			}
			for _, k := range []string{key20a, key20b, key16a, key16b, key32a, key32b} {
				if strings.Contains(err.Error(), k[:12]) {
					t.Errorf("error reveals a key: %v", err)
				}
			}
		})
	}
}

func TestCBCIdenticalKeysWarn(t *testing.T) {
	src := strings.Replace(manualCBC, `out_auth_key = "`+key32b+`"`, `out_auth_key = "`+key32a+`"`, 1)
	cfg, err := Parse("m.toml", []byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(cfg.Warnings, 13, "the keys of both directions are identical") {
		t.Errorf("warnings = %v", cfg.Warnings)
	}
}
