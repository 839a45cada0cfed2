#!/usr/bin/env python3
"""Turn a strongSwan charon log (ike=4 chd=4 enc=4, the responder of an oakley session: IKE_SA_INIT,
IKE_AUTH with PSK, a child rekey with PFS, an IKE SA rekey) and the oakley log of the same session
into the known-answer file keys_test.go reads. Usage: extract.py CHARON_LOG OAKLEY_LOG > strongswan-kat.txt

Inputs come from the wire (nonces, SPIs) and from charon's dumps of its own secrets (DH secrets),
outputs are charon's dumps of what it derived (SKEYSEED, SK_*, AUTH, child keys)."""
import json, re, sys

def dumps(path):
    """(label, hex) for every 'LABEL => N bytes @ ADDR' dump, in order; nonce events as ('NONCE', hex)."""
    out, cur, want, nonce_state = [], None, 0, None
    for line in open(path, errors="replace"):
        m = re.search(r"\] (?:<[^>]*> )?(.*?) => (\d+) bytes @", line)
        if m:
            if cur:
                out.append(cur)
            label = m.group(1).strip()
            want = int(m.group(2))
            if nonce_state == "chunk":
                label, nonce_state = "NONCE", None
            cur = [label, ""] if want else None
            if not want:
                out.append([label, ""])
            continue
        if "parsing NONCE payload," in line or "generating payload of type NONCE" in line:
            nonce_state = "payload"
        elif nonce_state == "payload" and "CHUNK_DATA" in line:
            nonce_state = "chunk"
        m = re.match(r".*\]\s*(?:<[^>]*>)?\s+\d+: ((?:[0-9A-F]{2} ){1,16})", line)
        if m and cur is not None and len(cur[1]) < 2 * want:
            cur[1] += m.group(1).replace(" ", "").lower()
            if len(cur[1]) >= 2 * want:
                out.append(cur)
                cur = None
    if cur:
        out.append(cur)
    return out

def main():
    d = dumps(sys.argv[1])
    olog = [json.loads(l[l.index("{"):]) for l in open(sys.argv[2]) if "IKE SA rekeyed" in l and "{" in l]
    nonces = [h for l, h in d if l == "NONCE"]
    def take(label, start=0):
        for i in range(start, len(d)):
            if d[i][0] == label:
                return i, d[i][1]
        raise SystemExit("no dump " + label)
    print("# strongSwan 5.9.8 charon (responder) against oakley: IKEv2 aes128-sha256-modp2048,")
    print("# ESP aes128-sha256-modp2048, PSK interop-test-psk-0123456789. Recorded with ike=4 chd=4 enc=4;")
    print("# see README.md. Throw-away session: these keys protect nothing.")
    i, gir = take("shared Diffie Hellman secret")
    _, seed = take("SKEYSEED", i)
    sks = []
    for name in ["Sk_d secret", "Sk_ai secret", "Sk_ar secret", "Sk_ei secret", "Sk_er secret", "Sk_pi secret", "Sk_pr secret"]:
        i, v = take(name, i)
        sks.append(v)
    j, oct1 = take("octets = message + nonce + prf(Sk_px, IDx')", i)
    j, auth1 = take("AUTH = prf(prf(secret, keypad), octets)", j)
    j, oct2 = take("octets = message + nonce + prf(Sk_px, IDx')", j)
    j, auth2 = take("AUTH = prf(prf(secret, keypad), octets)", j)
    print("ike 1")
    print("gir", gir); print("ni", nonces[0]); print("nr", nonces[1])
    print("spii", oct1[:16]); print("spir", oct2[16:32])
    print("skeyseed", seed)
    for n, v in zip(["sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr"], sks):
        print(n, v)
    print("octets_i", oct1); print("auth_i", auth1)
    print("octets_r", oct2); print("auth_r", auth2)
    keys = []
    for name in ["encryption initiator key", "encryption responder key", "integrity initiator key", "integrity responder key"]:
        j, v = take(name, j)
        keys.append(v)
    print("child 1")
    print("ni", nonces[0]); print("nr", nonces[1])
    for n, v in zip(["ei", "er", "ai", "ar"], keys):
        print(n, v)
    j, dh2 = take("DH secret", j)
    keys = []
    for name in ["encryption initiator key", "encryption responder key", "integrity initiator key", "integrity responder key"]:
        j, v = take(name, j)
        keys.append(v)
    print("child 2")
    print("gir", dh2); print("ni", nonces[2]); print("nr", nonces[3])
    for n, v in zip(["ei", "er", "ai", "ar"], keys):
        print(n, v)
    j, gir3 = take("shared Diffie Hellman secret", j)
    _, seed3 = take("SKEYSEED", j)
    print("ike 2")
    print("gir", gir3); print("ni", nonces[4]); print("nr", nonces[5])
    print("spii", olog[0]["spi_i"]); print("spir", olog[0]["spi_r"])
    print("skeyseed", seed3)
    for n, name in zip(["sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr"],
                       ["Sk_d secret", "Sk_ai secret", "Sk_ar secret", "Sk_ei secret", "Sk_er secret", "Sk_pi secret", "Sk_pr secret"]):
        j, v = take(name, j)
        print(n, v)

main()
