package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"oakley/crypto"
)

// maxSecretFile bounds how much of a psk_file or password_file is read.
const maxSecretFile = 64 << 10

// minPSKBits is the entropy estimate below which a PSK draws a warning. STANDARDS.md asks for
// 128 bits; the estimate is coarse, so the threshold leaves room for 16 random bytes written
// as 32 hex digits (which the estimator rates at 120–128 bits) to pass.
const minPSKBits = 120

// resolvePath interprets a file name from the configuration relative to its directory.
func resolvePath(baseDir, name string) string {
	if filepath.IsAbs(name) || baseDir == "" {
		return name
	}
	return filepath.Join(baseDir, name)
}

// statFile checks that a configured file exists and is a regular file; key names the TOML
// key and written the name as written, for the message.
func statFile(key, written, path string) (fs.FileInfo, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s %s does not exist (looked for %s)", key, written, path)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("%s %s cannot be read: permission denied", key, written)
	case err != nil:
		return nil, fmt.Errorf("%s %s cannot be read: %v", key, written, errors.Unwrap(err))
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s %s is not a regular file", key, written)
	}
	return fi, nil
}

// checkPrivate refuses a secret file that group or other may read or write. Windows has no
// such mode bits (Go synthesises them), so the check is skipped there.
func checkPrivate(key, written string, fi fs.FileInfo) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	perm := fi.Mode().Perm()
	switch {
	case perm&0o044 != 0:
		return fmt.Errorf("%s %s is readable by group/other (mode %04o); chmod 600 it", key, written, perm)
	case perm&0o022 != 0:
		return fmt.Errorf("%s %s is writable by group/other (mode %04o); chmod 600 it", key, written, perm)
	}
	return nil
}

// readPSKFile reads a psk_file after the permission check. Trailing newlines and blanks are
// not part of the secret.
func readPSKFile(written, path string) ([]byte, error) {
	return readSecretFile("psk_file", written, path)
}

// readSecretFile reads a secret file (psk_file, password_file) named by key after the
// existence and permission checks, at most maxSecretFile bytes; trailing newlines and blanks
// are cut off (and wiped). Errors name the file, never its content.
func readSecretFile(key, written, path string) ([]byte, error) {
	fi, err := statFile(key, written, path)
	if err != nil {
		return nil, err
	}
	if err := checkPrivate(key, written, fi); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s cannot be read: %v", key, written, errors.Unwrap(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s cannot be read: %v", key, written, err)
	}
	if len(data) > maxSecretFile {
		crypto.Wipe(data)
		return nil, fmt.Errorf("%s %s is larger than %d bytes", key, written, maxSecretFile)
	}
	end := len(data)
	for end > 0 && strings.IndexByte(" \t\r\n", data[end-1]) >= 0 {
		end--
	}
	crypto.Wipe(data[end:])
	return data[:end], nil
}

// decodePSK turns the PSK text into key bytes. As in strongSwan's secrets, a "0x" prefix
// means hex and "0s" base64; anything else is used as written (UTF-8 bytes). The boolean says
// whether the text was an encoding of binary data.
func decodePSK(text []byte) (crypto.Key, bool, error) {
	switch {
	case len(text) == 0:
		return nil, false, errors.New("is empty")
	case len(text) > 2 && (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')):
		k := make(crypto.Key, hex.DecodedLen(len(text)-2))
		if _, err := hex.Decode(k, text[2:]); err != nil {
			k.Wipe()
			return nil, true, errors.New(`starts with "0x" but is not valid hex`)
		}
		return k, true, nil
	case len(text) > 2 && text[0] == '0' && text[1] == 's':
		k := make(crypto.Key, base64.StdEncoding.DecodedLen(len(text)-2))
		n, err := base64.StdEncoding.Decode(k, text[2:])
		if err != nil {
			k.Wipe()
			return nil, true, errors.New(`starts with "0s" but is not valid base64`)
		}
		return k[:n], true, nil
	}
	return crypto.Key(append([]byte(nil), text...)), false, nil
}

// pskEntropy estimates a PSK's entropy in bits (STANDARDS.md: warn below 128 bits). Text is
// rated by the character classes it uses (digits 10, hex digits 16, lower or upper case 26
// each, anything else 33, non-ASCII 128); binary keys (0x / 0s) by 256 values a byte. A
// character that repeats the previous two, or continues a step of −1, 0 or +1 ("aaa", "123",
// "cba"), adds nothing.
func pskEntropy(k []byte, binary bool) float64 {
	alphabet := 256.0
	if !binary {
		var lower, upper, digit, other, high, hexOnly bool
		hexOnly = len(k) > 0
		for _, c := range k {
			switch {
			case c >= 'a' && c <= 'z':
				lower = true
			case c >= 'A' && c <= 'Z':
				upper = true
			case c >= '0' && c <= '9':
				digit = true
			case c >= 0x80:
				high = true
			default:
				other = true
			}
			if !isHex(c) {
				hexOnly = false
			}
		}
		alphabet = 0
		for _, cls := range []struct {
			on   bool
			size float64
		}{{lower, 26}, {upper, 26}, {digit, 10}, {other, 33}, {high, 128}} {
			if cls.on {
				alphabet += cls.size
			}
		}
		if hexOnly && (lower || upper) && !(lower && upper) {
			alphabet = 16
		}
		if alphabet < 2 {
			alphabet = 2
		}
	}
	effective := 0
	for i := range k {
		if i >= 2 {
			d1, d2 := int(k[i])-int(k[i-1]), int(k[i-1])-int(k[i-2])
			if d1 == d2 && d1 >= -1 && d1 <= 1 {
				continue
			}
		}
		effective++
	}
	return float64(effective) * math.Log2(alphabet)
}

// decodeHexKey decodes a manual-keying key: hex digits, optionally prefixed by "0x" and
// optionally separated by ':' between bytes. The error never quotes the key.
func decodeHexKey(s string) (crypto.Key, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		t = t[2:]
	}
	t = strings.ReplaceAll(t, ":", "")
	if t == "" {
		return nil, errors.New("is empty")
	}
	if len(t)%2 != 0 {
		return nil, errors.New("has an odd number of hex digits")
	}
	k := make(crypto.Key, len(t)/2)
	if _, err := hex.Decode(k, []byte(t)); err != nil {
		k.Wipe()
		return nil, errors.New("is not valid hex (want hex digits, optionally prefixed by 0x)")
	}
	return k, nil
}
