package ikev2

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMSCHAPv2RFC2759 checks the example of RFC 2759 §9.2 step by step, and the master key
// and send key of RFC 3079 §3.5.3 (the same password and NT-Response).
func TestMSCHAPv2RFC2759(t *testing.T) {
	const user, pass = "User", "clientPass"
	authChal := unhex(t, "5B5D7C7D7B3F2F3E3C2C602132262628")
	peerChal := unhex(t, "21402324255E262A28295F2B3A337C7E")
	if got := challengeHash(peerChal, authChal, user); !bytes.Equal(got, unhex(t, "D02E4386BCE91226")) {
		t.Errorf("ChallengeHash %X", got)
	}
	pw := ntPasswordHash([]byte(pass))
	if !bytes.Equal(pw, unhex(t, "44EBBA8D5312B8D611474411F56989AE")) {
		t.Errorf("NtPasswordHash %X", []byte(pw))
	}
	if got := hashNtPasswordHash(pw); !bytes.Equal(got, unhex(t, "41C00C584BD2D91C4017A2A12FA59F3F")) {
		t.Errorf("PasswordHashHash %X", []byte(got))
	}
	nt := generateNTResponse(authChal, peerChal, user, []byte(pass))
	if !bytes.Equal(nt, unhex(t, "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")) {
		t.Errorf("NT-Response %X", nt)
	}
	if got := generateAuthenticatorResponse(pw, nt, peerChal, authChal, user); got != "S=407A5589115FD0D6209F510FE9C04566932CDA56" {
		t.Errorf("AuthenticatorResponse %s", got)
	}
	// A domain prefix is not hashed (§8.2).
	if got := generateNTResponse(authChal, peerChal, `CORP\User`, []byte(pass)); !bytes.Equal(got, nt) {
		t.Errorf("the domain changed the NT-Response")
	}
	// Negative controls: another password or another user name gives another response.
	if bytes.Equal(generateNTResponse(authChal, peerChal, user, []byte("clientPasS")), nt) {
		t.Error("a wrong password gave the same NT-Response")
	}
	if generateAuthenticatorResponse(pw, nt, peerChal, authChal, "user") == "S=407A5589115FD0D6209F510FE9C04566932CDA56" {
		t.Error("another user name gave the same authenticator response")
	}
	mk := mschapMasterKey(pw, nt)
	if !bytes.Equal(mk, unhex(t, "FDECE3717A8C838CB388E527AE3CDD31")) {
		t.Errorf("MasterKey %X", []byte(mk))
	}
	// RFC 3079's example key is the server's send key (Magic3), the peer's receive key: the
	// second half of the MSK (checked against strongSwan in e2e TestInteropEAPClient).
	recv := asymmetricStartKey(mk, mppeMagic3)
	if !bytes.Equal(recv, unhex(t, "8B7CDC149B993A1BA118CB153F56DCCB")) {
		t.Errorf("SendStartKey128 %X", []byte(recv))
	}
	msk := mschapMSK(pw, nt)
	if len(msk) != 32 || !bytes.Equal(msk[16:], recv) || bytes.Equal(msk[:16], recv) {
		t.Errorf("MSK %X", []byte(msk))
	}
}
