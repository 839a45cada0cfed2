#!/usr/bin/env python3
"""extract.py WORKDIR CASE... - write ../strongswan-CASE.txt from a record.sh run: the ISAKMP
datagrams of the pcap (non-ESP marker stripped) and the values both charons logged at level 4."""
import re, subprocess, sys

EXCH = {2: 'MM', 4: 'AM', 5: 'INFO', 6: 'TRANS', 32: 'QM'}
KEEP = ['shared Diffie Hellman secret', 'SKEYID', 'SKEYID_d', 'SKEYID_a', 'SKEYID_e', 'encryption key Ka',
        'initial IV', 'HASH_I', 'HASH_R', 'Hash(1)', 'Hash(2)', 'Hash(3)', 'Hash', 'DH secret',
        'initiator SA seed', 'responder SA seed', 'encryption initiator key', 'encryption responder key',
        'integrity initiator key', 'integrity responder key', 'natd_chunk', 'natd_hash']

def dumps(path):
    L = open(path).read().split('\n')
    out = []
    for i, l in enumerate(L):
        m = re.search(r'\] (?:<[^>]*> )?(.+?) => (\d+) bytes @', l)
        if not m:
            continue
        name, n = m.group(1), int(m.group(2))
        data = b''
        j = i + 1
        while len(data) < n:
            mm = re.search(r'^\S+ \S+ (?:<[^>]*>)?\s+\d+: ((?:[0-9A-F]{2} )+)', L[j])
            if not mm:
                break
            data += bytes.fromhex(mm.group(1).replace(' ', ''))
            j += 1
        out.append((name, data[:n]))
    return out

def pcap(path):
    rows = subprocess.run(['tshark', '-r', path, '-T', 'fields', '-e', 'ip.src', '-e', 'udp.srcport', '-e', 'udp.payload'],
                          capture_output=True, text=True).stdout.strip().split('\n')
    out, cnt = [], {}
    for r in rows:
        src, sport, hexp = r.split('\t')
        b = bytes.fromhex(hexp)
        if len(b) == 1:
            continue  # NAT keepalive
        if sport == '4500':
            if b[:4] != b'\0\0\0\0':
                continue  # ESP
            b = b[4:]
        ex = EXCH.get(b[18], str(b[18]))
        cnt[ex] = cnt.get(ex, 0) + 1
        label = f'{ex}{cnt[ex]}'
        out.append((label, 'i' if src == '198.18.0.1' else 'r', sport, b))
    return out

W = sys.argv[1]
for case in sys.argv[2:]:
    d = f'{W}/{case}'
    lines = [f'# {case}: strongSwan 5.9.8 charon <-> charon (kernel-libipsec: NAT-T forced, IKE floats to 4500),',
             '# initiator 198.18.0.1 (left.test, 192.0.2.1/32), responder 198.18.0.2 (right.test, 198.51.100.1/32),',
             '# PSK "interop-test-psk-0123456789". Throw-away test session. Recorded by capture/record.sh.',
             '# msg LABEL FROM(i|r) SRCPORT HEX  -- every ISAKMP datagram in order (non-ESP marker removed)',
             '# val SIDE(i|r) NAME HEX          -- values the charon of that side logged at ike=4/chd=4, in order']
    conf = open(f'{d}/left/swanctl.conf').read()
    for key in ['aggressive', 'proposals', 'esp_proposals']:
        lines.append(f'conf {key} ' + re.search(rf'\b{key} = (\S+)', conf).group(1))
    for label, frm, sport, b in pcap(f'{d}/cap.pcap'):
        lines.append(f'msg {label} {frm} {sport} {b.hex()}')
    for side, log in (('i', 'left.log'), ('r', 'right.log')):
        for name, data in dumps(f'{d}/{log}'):
            m = re.match(r'next IV for MID (\d+)', name)
            if m:
                name = 'IV ' + m.group(1)
            elif name not in KEEP:
                continue
            lines.append(f'val {side} {name.replace(" ", "_")} {data.hex()}')
    open(f'{W}/strongswan-{case}.txt', 'w').write('\n'.join(lines) + '\n')
