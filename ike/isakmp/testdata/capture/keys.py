#!/usr/bin/env python3
import re, sys
def dumps(path):
    L = open(path).read().split('\n'); out = []
    for i, l in enumerate(L):
        m = re.search(r'\] <[^>]*> (.+?) => (\d+) bytes @', l)
        if not m: continue
        name, n = m.group(1), int(m.group(2)); data = b''; j = i + 1
        while len(data) < n:
            mm = re.search(r'<[^>]*>\s+\d+: ((?:[0-9A-F]{2} )+)', L[j]); data += bytes.fromhex(mm.group(1).replace(' ', '')); j += 1
        out.append((name, data))
    return out
d = dumps(sys.argv[1] + '/out-ikev1-main-psk/left.log')
want = ['HASH_I data', 'HASH_I', 'HASH_R data', 'HASH_R', 'SKEYID_a', 'encryption key Ka', 'initial IV']
got = {}
for name, data in d:
    if name in want and name not in got: got[name] = data
print('# ikev1-main-psk: values from the initiator charon log (ike=4) of the same session as')
print('# strongswan-main-psk.hex. Throw-away test-session values (interop PSK of the harness),')
print('# used to check that payload bytes are the ones IKE hashes and encrypts. NAME HEX.')
for w in want:
    print(w.replace(' ', '_'), got[w].hex())
