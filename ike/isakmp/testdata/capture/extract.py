#!/usr/bin/env python3
"""Extract ISAKMP datagrams (pcap) and decrypted payload chains (charon logs)."""
import re, subprocess, sys
EXCH = {1:'Base',2:'MM',4:'AM',5:'INFO',6:'TRANS',32:'QM'}
PT = {'SECURITY_ASSOCIATION_V1':1,'KEY_EXCHANGE_V1':4,'ID_V1':5,'CERTIFICATE_V1':6,'CERTREQ_V1':7,
      'HASH_V1':8,'SIGNATURE_V1':9,'NONCE_V1':10,'NOTIFY_V1':11,'DELETE_V1':12,'VENDOR_ID_V1':13,
      'NAT_D_V1':20,'NAT_OA_V1':21,'FRAGMENT_V1':132}
def pcap(case, path, out):
    rows = subprocess.run(['tshark','-r',path,'-T','fields','-e','frame.number','-e','ip.src','-e','udp.srcport',
        '-e','udp.payload'], capture_output=True, text=True).stdout.strip().split('\n')
    lines = [f'# {case}: ISAKMP datagrams captured with tshark on isk-left veth0 (strongSwan 5.9.8 charon',
             '# initiator 198.18.0.1 <-> responder 198.18.0.2, libipsec forces NAT-T so IKE floats to 4500;',
             '# the 4-byte non-ESP marker of port 4500 is stripped). Format: LABEL HEX (one message per line).']
    cnt = {}
    for r in rows:
        fn, src, sport, hexp = r.split('\t')
        b = bytes.fromhex(hexp)
        if sport == '4500':
            assert b[:4] == b'\0\0\0\0', (case, fn)
            b = b[4:]
        ex = EXCH.get(b[18], str(b[18])); enc = b[19] & 1
        d = 'i' if src == '198.18.0.1' else 'r'
        key = ex
        if b[16] == 132:  # FRAG: fragments of one message share its number
            last = b[28+7] & 1
            label = f'{ex}{cnt.get(key, 0) + 1}-frag{b[28+6]}'
            if last: cnt[key] = cnt.get(key, 0) + 1
        else:
            cnt[key] = cnt.get(key, 0) + 1
            label = f'{ex}{cnt[key]}{"-enc" if enc else ""}'
        lines.append(f'# frame {fn}, from {"initiator" if d=="i" else "responder"} {src}:{sport}')
        lines.append(f'{label} {b.hex()}')
    open(out, 'w').write('\n'.join(lines) + '\n')
def logs(case, paths, out):
    lines = [f'# {case}: decrypted payload chains as dumped by strongSwan 5.9.8 charon (enc=4:',
             '# "decrypting payloads: ... plain => N bytes"), padding included. Format: LABEL FIRST-PAYLOAD-TYPE MESSAGE-ID HEX.']
    n = 0
    for side, p in paths:
        L = open(p).read().split('\n')
        i = 0
        while i < len(L):
            if L[i].endswith('decrypting payloads:'):
                j = i + 1
                while 'plain =>' not in L[j]: j += 1
                nb = int(re.search(r'plain => (\d+) bytes', L[j]).group(1))
                data = b''; j += 1
                while len(data) < nb:
                    m = re.search(r'<[^>]*>\s+\d+: ((?:[0-9A-F]{2} )+)', L[j])
                    data += bytes.fromhex(m.group(1).replace(' ', '')); j += 1
                # first payload type: next "parsing X payload" line
                k = j
                while not re.search(r'parsing (\w+) payload', L[k]): k += 1
                first = PT[re.search(r'parsing (\w+) payload', L[k]).group(1)]
                k2 = k
                while not re.search(r'parsed \w+ (request|response) \d+ \[', L[k2]): k2 += 1
                desc = re.search(r'parsed (.*)', L[k2]).group(1)
                mid = int(re.search(r'parsed \w+ (?:request|response) (\d+) \[', L[k2]).group(1))
                n += 1
                lines.append(f'# decrypted by the {side} ({desc})')
                lines.append(f'P{n} {first} {mid} {data.hex()}')
                i = j
            i += 1
    open(out, 'w').write('\n'.join(lines) + '\n')
W = sys.argv[1]
for case in sys.argv[2:]:
    short = case.replace('ikev1-', '')
    pcap(case, f'{W}/out-{case}/cap.pcap', f'{W}/strongswan-{short}.hex')
    logs(case, [('initiator', f'{W}/out-{case}/left.log'), ('responder', f'{W}/out-{case}/right.log')], f'{W}/strongswan-{short}-plain.hex')
