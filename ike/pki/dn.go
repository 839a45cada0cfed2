package pki

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A distinguished name (RFC 5280 §4.1.2.4) as this package handles it: the RDNs in DER
// order (strongSwan prints and parses them in that order: "C=CH, O=Example, CN=gw"), each a
// set of attribute type and value pairs. Values keep their ASN.1 tag and bytes; string
// values are also decoded for comparison and printing.

type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rawRDNSET's name ends in SET so encoding/asn1 treats it as SET OF.
type rawRDNSET []rawATV

type ava struct {
	oid   asn1.ObjectIdentifier
	value asn1.RawValue // tag, class and content; FullBytes the whole TLV
	text  string        // decoded string value
	isStr bool          // value is a string type that decoded cleanly
}

type dn [][]ava

// maxDNLen bounds a DER DN or its text form (an ID payload is at most 64 KiB anyway).
const maxDNLen = 8 << 10

// parseDN decodes a DER Name (RDNSequence) strictly: no trailing bytes, no empty RDN.
func parseDN(der []byte) (dn, error) {
	if len(der) > maxDNLen {
		return nil, errorf(ErrMalformed, "DN longer than %d bytes", maxDNLen)
	}
	var seq []rawRDNSET
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil {
		return nil, errorf(ErrMalformed, "DN is not DER: %v", err)
	}
	if len(rest) != 0 {
		return nil, errorf(ErrMalformed, "DN has %d trailing bytes", len(rest))
	}
	out := make(dn, 0, len(seq))
	for _, set := range seq {
		if len(set) == 0 {
			return nil, errorf(ErrMalformed, "DN has an empty RDN")
		}
		rdn := make([]ava, 0, len(set))
		for _, a := range set {
			if a.Value.Class != asn1.ClassUniversal {
				return nil, errorf(ErrMalformed, "DN attribute %s has a non-universal value tag", a.Type)
			}
			v := ava{oid: a.Type, value: a.Value}
			v.text, v.isStr = decodeString(a.Value.Tag, a.Value.Bytes)
			rdn = append(rdn, v)
		}
		out = append(out, rdn)
	}
	return out, nil
}

// decodeString decodes the ASN.1 string types a DN uses (X.520 DirectoryString and friends).
func decodeString(tag int, b []byte) (string, bool) {
	switch tag {
	case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String, 18 /* Numeric */, 26 /* Visible */ :
		if !utf8.Valid(b) {
			return "", false
		}
		return string(b), true
	case asn1.TagT61String: // in practice Latin-1
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r), true
	case asn1.TagBMPString:
		if len(b)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		return string(utf16.Decode(u)), true
	case 28: // UniversalString, UTF-32BE
		if len(b)%4 != 0 {
			return "", false
		}
		r := make([]rune, len(b)/4)
		for i := range r {
			r[i] = rune(uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3]))
			if !utf8.ValidRune(r[i]) {
				return "", false
			}
		}
		return string(r), true
	}
	return "", false
}

// Attribute names, as strongSwan prints them (src/libstrongswan/asn1/oid.txt).
var dnNames = []struct {
	name string
	oid  asn1.ObjectIdentifier
}{
	{"C", asn1.ObjectIdentifier{2, 5, 4, 6}},
	{"ST", asn1.ObjectIdentifier{2, 5, 4, 8}},
	{"L", asn1.ObjectIdentifier{2, 5, 4, 7}},
	{"O", asn1.ObjectIdentifier{2, 5, 4, 10}},
	{"OU", asn1.ObjectIdentifier{2, 5, 4, 11}},
	{"CN", asn1.ObjectIdentifier{2, 5, 4, 3}},
	{"SN", asn1.ObjectIdentifier{2, 5, 4, 4}},
	{"serialNumber", asn1.ObjectIdentifier{2, 5, 4, 5}},
	{"STREET", asn1.ObjectIdentifier{2, 5, 4, 9}},
	{"T", asn1.ObjectIdentifier{2, 5, 4, 12}},
	{"D", asn1.ObjectIdentifier{2, 5, 4, 13}},
	{"postalCode", asn1.ObjectIdentifier{2, 5, 4, 17}},
	{"N", asn1.ObjectIdentifier{2, 5, 4, 41}},
	{"G", asn1.ObjectIdentifier{2, 5, 4, 42}},
	{"I", asn1.ObjectIdentifier{2, 5, 4, 43}},
	{"ID", asn1.ObjectIdentifier{2, 5, 4, 45}},
	{"dnQualifier", asn1.ObjectIdentifier{2, 5, 4, 46}},
	{"pseudonym", asn1.ObjectIdentifier{2, 5, 4, 65}},
	{"role", asn1.ObjectIdentifier{2, 5, 4, 72}},
	{"organizationIdentifier", asn1.ObjectIdentifier{2, 5, 4, 97}},
	{"E", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}},
	{"UID", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}},
	{"DC", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}},
}

// dnAliases are further names accepted when parsing (OpenSSL's and RFC 4519's spellings).
var dnAliases = map[string]string{
	"s": "ST", "title": "T", "description": "D", "name": "N", "givenname": "G",
	"initials": "I", "uniqueidentifier": "ID", "email": "E", "emailaddress": "E",
	"street": "STREET", "surname": "SN",
}

func oidName(oid asn1.ObjectIdentifier) string {
	for _, n := range dnNames {
		if n.oid.Equal(oid) {
			return n.name
		}
	}
	return oid.String()
}

func nameOID(name string) (asn1.ObjectIdentifier, bool) {
	l := strings.ToLower(name)
	if a, ok := dnAliases[l]; ok {
		l = strings.ToLower(a)
	}
	for _, n := range dnNames {
		if strings.ToLower(n.name) == l {
			return n.oid, true
		}
	}
	return parseDottedOID(name)
}

func parseDottedOID(s string) (asn1.ObjectIdentifier, bool) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 32 {
		return nil, false
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		if p == "" || len(p) > 9 {
			return nil, false
		}
		for _, d := range []byte(p) {
			if d < '0' || d > '9' {
				return nil, false
			}
			oid[i] = oid[i]*10 + int(d-'0')
		}
	}
	if oid[0] > 2 || oid[0] < 2 && oid[1] > 39 {
		return nil, false
	}
	return oid, true
}

// FormatDN prints a DER DN the way strongSwan does ("C=CH, O=Example, CN=gw"), with RFC 4514
// §2.4 escapes for the characters that would make it ambiguous (, + " \ < > ; and leading
// or trailing blanks), and \XX hex escapes for every byte that is not a printable character,
// so a peer cannot forge log lines. Non-string values print as #hex of their DER.
func FormatDN(der []byte) string {
	d, err := parseDN(der)
	if err != nil {
		return "(invalid DN)"
	}
	return d.String()
}

func (d dn) String() string {
	var b strings.Builder
	for i, rdn := range d {
		if i > 0 {
			b.WriteString(", ")
		}
		for j, a := range rdn {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(oidName(a.oid))
			b.WriteByte('=')
			if !a.isStr || a.text == "" {
				// Not a string, or an empty one (valid DER, which "C=" cannot say: the
				// parser refuses an empty value): the #hex form, which parses back to it.
				b.WriteByte('#')
				b.WriteString(hex.EncodeToString(a.value.FullBytes))
				continue
			}
			escapeValue(&b, a.text)
		}
	}
	return b.String()
}

// escapeValue writes an attribute value with RFC 4514 §2.4 escaping, non-printables as \XX.
func escapeValue(b *strings.Builder, s string) {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1, r != ' ' && !unicode.IsPrint(r):
			for _, c := range []byte(s[i : i+n]) {
				fmt.Fprintf(b, `\%02X`, c)
			}
		case strings.ContainsRune(`,+"\<>;=`, r),
			(r == ' ' || r == '#') && i == 0,
			r == ' ' && i+n == len(s):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
}

// parseDNString parses the text form of a DN (the inverse of FormatDN, and what CONFIG.md's
// local_id/remote_id accept): RDNs separated by ',' (or ';'), multi-valued RDNs joined by
// '+', attribute names as strongSwan prints them (case-insensitive) or dotted OIDs, values
// with \X and \XX escapes, "quoted" or #hex (a DER value). String values are encoded as
// strongSwan encodes them: PrintableString when the text allows, UTF8String otherwise,
// IA5String for E and DC.
func parseDNString(s string) (dn, error) {
	if len(s) > 4*maxDNLen {
		return nil, errorf(ErrMalformed, "DN longer than %d bytes", 4*maxDNLen)
	}
	var out dn
	var rdn []ava
	var cur []byte
	var attr string
	haveAttr, inQuote, hexValue := false, false, false
	protected := 0 // cur[:protected] came from escapes or quotes: its blanks are kept
	flush := func(endRDN bool) error {
		end := len(cur)
		for end > protected && cur[end-1] == ' ' {
			end--
		}
		val := string(cur[:end])
		cur, protected = cur[:0], 0
		if !haveAttr {
			return errorf(ErrMalformed, "DN %q: %q is not attribute=value", s, val)
		}
		oid, ok := nameOID(strings.TrimSpace(attr))
		if !ok {
			return errorf(ErrMalformed, "DN %q: unknown attribute %q", s, strings.TrimSpace(attr))
		}
		a, err := makeAVA(oid, val, hexValue)
		if err != nil {
			return errorf(ErrMalformed, "DN %q: %v", s, err)
		}
		rdn = append(rdn, a)
		haveAttr, hexValue = false, false
		if endRDN {
			out = append(out, rdn)
			rdn = nil
		}
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errorf(ErrMalformed, "DN %q ends in a lone backslash", s)
			}
			if i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]) {
				v, _ := hex.DecodeString(s[i+1 : i+3])
				cur = append(cur, v[0])
				i += 2
			} else {
				cur = append(cur, s[i+1])
				i++
			}
			protected = len(cur)
		case c == '"':
			inQuote = !inQuote
		case inQuote:
			cur = append(cur, c)
			protected = len(cur)
		case c == '=' && !haveAttr:
			attr, haveAttr = string(cur), true
			cur, protected = cur[:0], 0
			for i+1 < len(s) && s[i+1] == ' ' {
				i++
			}
			if i+1 < len(s) && s[i+1] == '#' {
				hexValue = true
				i++
			}
		case c == ',' || c == ';' || c == '+':
			if err := flush(c != '+'); err != nil {
				return nil, err
			}
			for i+1 < len(s) && s[i+1] == ' ' {
				i++
			}
		case c == ' ' && len(cur) == 0 && !haveAttr:
			// blanks before an attribute name
		default:
			cur = append(cur, c)
		}
	}
	if inQuote {
		return nil, errorf(ErrMalformed, "DN %q has an unterminated quote", s)
	}
	if err := flush(true); err != nil {
		return nil, err
	}
	return out, nil
}

var (
	oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidDC    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
)

func makeAVA(oid asn1.ObjectIdentifier, val string, hexValue bool) (ava, error) {
	if hexValue {
		der, err := hex.DecodeString(val)
		if err != nil {
			return ava{}, fmt.Errorf("#value of %s is not hex", oidName(oid))
		}
		var rv asn1.RawValue
		rest, err := asn1.Unmarshal(der, &rv)
		if err != nil || len(rest) != 0 || rv.Class != asn1.ClassUniversal {
			return ava{}, fmt.Errorf("#value of %s is not one DER value", oidName(oid))
		}
		a := ava{oid: oid, value: rv}
		a.text, a.isStr = decodeString(rv.Tag, rv.Bytes)
		return a, nil
	}
	if val == "" {
		return ava{}, fmt.Errorf("attribute %s has an empty value", oidName(oid))
	}
	if !utf8.ValidString(val) {
		return ava{}, fmt.Errorf("value of %s is not UTF-8", oidName(oid))
	}
	tag := asn1.TagPrintableString
	if oid.Equal(oidEmail) || oid.Equal(oidDC) {
		tag = asn1.TagIA5String
		for _, c := range []byte(val) {
			if c >= 0x80 {
				return ava{}, fmt.Errorf("%s must be ASCII (IA5String)", oidName(oid))
			}
		}
	} else if !isPrintableString(val) {
		tag = asn1.TagUTF8String
	}
	rv := asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(val)}
	full, err := asn1.Marshal(rv)
	if err != nil {
		return ava{}, err
	}
	rv.FullBytes = full
	return ava{oid: oid, value: rv, text: val, isStr: true}, nil
}

// isPrintableString reports whether s fits ASN.1 PrintableString (X.680 §41.4).
func isPrintableString(s string) bool {
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte(" '()+,-./:=?", c) >= 0) {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// marshal encodes the DN as DER.
func (d dn) marshal() ([]byte, error) {
	seq := make([]rawRDNSET, len(d))
	for i, rdn := range d {
		for _, a := range rdn {
			seq[i] = append(seq[i], rawATV{Type: a.oid, Value: a.value})
		}
	}
	return asn1.Marshal(seq)
}

// Comparison follows RFC 5280 §7.1: attribute types in the same order, values compared as
// strings after the insignificant-space handling and case folding of the caseIgnoreMatch
// rules (RFC 4518 §2.6.1); values that are not strings compare byte for byte. Multi-valued
// RDNs compare as sets. strongSwan's compare_dn does the same walk (it folds case only for
// PrintableString and email values; oakley folds every string value, which X.520 declares
// caseIgnore for all standard naming attributes).

// dnEqualDER compares two DER DNs semantically; a DN that does not parse equals nothing but
// an identical byte string.
func dnEqualDER(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	da, err := parseDN(a)
	if err != nil {
		return false
	}
	db, err := parseDN(b)
	if err != nil {
		return false
	}
	return dnMatch(da, db, false)
}

// dnMatch reports whether got matches pattern: the same number of RDNs, each with the same
// attribute types; with wildcards, a pattern value of exactly "*" matches any value of its
// attribute (strongSwan's wildcard DN matching).
func dnMatch(pattern, got dn, wildcards bool) bool {
	if len(pattern) != len(got) {
		return false
	}
	for i := range pattern {
		if !rdnMatch(pattern[i], got[i], wildcards) {
			return false
		}
	}
	return true
}

func rdnMatch(p, g []ava, wildcards bool) bool {
	if len(p) != len(g) {
		return false
	}
	if len(p) == 1 {
		return avaMatch(p[0], g[0], wildcards)
	}
	used := make([]bool, len(g))
outer:
	for _, pa := range p {
		for j, ga := range g {
			if !used[j] && avaMatch(pa, ga, wildcards) {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}

func avaMatch(p, g ava, wildcards bool) bool {
	if !p.oid.Equal(g.oid) {
		return false
	}
	if wildcards && p.isStr && p.text == "*" {
		return true
	}
	if p.isStr && g.isStr {
		return strings.EqualFold(foldSpace(p.text), foldSpace(g.text))
	}
	return p.value.Tag == g.value.Tag && bytes.Equal(p.value.Bytes, g.value.Bytes)
}

// foldSpace trims leading and trailing spaces and collapses inner runs to one (RFC 4518
// §2.6.1).
func foldSpace(s string) string {
	if !strings.Contains(s, " ") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
