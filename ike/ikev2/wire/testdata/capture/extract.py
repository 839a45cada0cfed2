#!/usr/bin/env python3
"""extract.py WORKDIR CASE... - turn capture.sh output into the golden test files.

For each CASE it writes WORKDIR/strongswan-CASE.hex (the IKEv2 datagrams captured on v2w-left
veth0, one per line, the 4-byte non-ESP marker of port 4500 stripped) and
WORKDIR/strongswan-CASE-keys.txt (from the initiator's charon log at ike=4: the SK_* keys of
every IKE SA in the order charon derived them, with the SPIs of that IKE SA taken from the
capture, and the RestOfIDPayload octets charon logged as IDx').
"""
import re, subprocess, sys

EXCH = {34: 'IKE_SA_INIT', 35: 'IKE_AUTH', 36: 'CREATE_CHILD_SA', 37: 'INFORMATIONAL', 43: 'IKE_INTERMEDIATE'}

def datagrams(path):
    rows = subprocess.run(['tshark', '-r', path, '-T', 'fields', '-e', 'frame.number', '-e', 'ip.src',
                           '-e', 'udp.srcport', '-e', 'udp.payload'],
                          capture_output=True, text=True, check=True).stdout.strip().split('\n')
    for r in rows:
        fn, src, sport, hexp = r.split('\t')
        b = bytes.fromhex(hexp)
        if sport == '4500':
            assert b[:4] == b'\0\0\0\0', (path, fn)
            b = b[4:]
        yield int(fn), src, int(sport), b

def hexdumps(log):
    """(label, bytes) for every 'LABEL => N bytes @ ...' dump in a charon log, in order."""
    hdr = re.compile(r'\] <[^>]*> (.+?) => (\d+) bytes @ 0x')
    row = re.compile(r'\] <[^>]*>\s+\d+: ((?:[0-9A-F]{2} )+)')
    out, cur = [], None
    for line in log:
        m = hdr.search(line)
        if m:
            cur = [m.group(1), b'', int(m.group(2))]
            out.append(cur)
            continue
        m = row.search(line)
        if m and cur is not None and len(cur[1]) < cur[2]:
            cur[1] += bytes.fromhex(m.group(1).replace(' ', ''))
        elif not m:
            cur = None
    return [(l, b) for l, b, _ in out]

def extract(W, case):
    out = W + '/out-' + case
    lines = [f'# {case}: IKEv2 datagrams captured with tshark on v2w-left veth0 (strongSwan 5.9.8 charon,',
             '# initiator 198.18.0.1 = left, responder 198.18.0.2 = right; libipsec forces NAT-T, so IKE',
             '# floats to 4500 after IKE_SA_INIT and the 4-byte non-ESP marker is stripped here).',
             '# Format: LABEL HEX; LABEL = sequence-EXCHANGE-mMESSAGEID-(req|resp)[-fragN.TOTAL].']
    pairs = []
    for n, (fn, src, sport, b) in enumerate(datagrams(out + '/cap.pcap'), 1):
        ispi, rspi = b[0:8].hex(), b[8:16].hex()
        if rspi != '0' * 16 and (ispi, rspi) not in pairs:
            pairs.append((ispi, rspi))
        ex = EXCH.get(b[18], 'X%d' % b[18])
        mid = int.from_bytes(b[20:24], 'big')
        rr = 'resp' if b[19] & 0x20 else 'req'
        label = f'{n:02d}-{ex}-m{mid}-{rr}'
        if b[16] == 53:  # SKF: fragment number and total
            label += f'-frag{int.from_bytes(b[32:34], "big")}.{int.from_bytes(b[34:36], "big")}'
        who = 'initiator' if src == '198.18.0.1' else 'responder'
        lines.append(f'# frame {fn}, from the {who} {src}:{sport}')
        lines.append(f'{label} {b.hex()}')
    open(f'{W}/strongswan-{case}.hex', 'w').write('\n'.join(lines) + '\n')

    log = open(out + '/left.log').read().split('\n')
    props = [m.group(1) for m in (re.search(r'selected proposal: IKE:(\S+)', l) for l in log) if m]
    dumps = hexdumps(log)
    sets, cur = [], None
    for label, b in dumps:
        m = re.fullmatch(r'Sk_(d|ei|er|ai|ar|pi|pr) secret', label)
        if m:
            if m.group(1) == 'd':
                cur = {}
                sets.append(cur)
            cur['SK_' + m.group(1)] = b
    ids = [b for label, b in dumps if label == "IDx'"]
    k = [f'# {case}: keys of a throw-away test session, from the initiator charon log at ike=4.',
         '# "sa N SPIi SPIr PROPOSAL" starts IKE SA N (in the order charon derived its keys; the SPIs are the',
         '# N-th distinct SPI pair with a non-zero SPIr in the capture); "SK_x HEX" lines follow.',
         "# \"IDx' HEX\" are the RestOfIDPayload octets charon hashed: first its own IDi, then the peer's IDr."]
    assert len(sets) == len(pairs) == len(props), (case, len(sets), len(pairs), len(props))
    for i, (s, p, prop) in enumerate(zip(sets, pairs, props), 1):
        k.append(f'sa {i} {p[0]} {p[1]} {prop}')
        for name in ('SK_d', 'SK_ei', 'SK_er', 'SK_ai', 'SK_ar', 'SK_pi', 'SK_pr'):
            if name in s:
                k.append(f'{name} {s[name].hex()}')
    for b in ids:
        k.append(f"IDx' {b.hex()}")
    open(f'{W}/strongswan-{case}-keys.txt', 'w').write('\n'.join(k) + '\n')

W = sys.argv[1]
for case in sys.argv[2:]:
    extract(W, case)
