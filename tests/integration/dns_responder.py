#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""A tiny authoritative DNS responder for the integration tests (stdlib only).

    python3 dns_responder.py --zone ZONE.json --port-file F [--host 127.0.0.1]
                             [--log QUERIES.log]

Answers UDP queries on loopback from ZONE.json, re-read at every query so a
test changes records by rewriting the file (write a temporary file, then
rename it over the old one):

    {"origin.test": {"A": ["127.0.0.2", "127.0.0.3"], "AAAA": [], "ttl": 1},
     "_outpost._tcp.pop.test": {"SRV": [[10, 1, 8080, "origin.test"]], "ttl": 2}}

A name in the zone gets its A / AAAA / SRV records (SRV: [priority, weight,
port, target]; an empty list: NOERROR without answers); a name not in the
zone gets NXDOMAIN; other query types get NOERROR without answers.  Each query is appended to the log as
"NAME TYPE" (one line), so tests can count lookups.  Runs until SIGTERM.
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys

QTYPES = {1: "A", 28: "AAAA", 33: "SRV"}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def parse_query(pkt):
    """(id, flags, qname, qtype, question bytes) or None."""
    if len(pkt) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", pkt[:6])
    if qd != 1 or flags & 0x8000:
        return None
    labels, i = [], 12
    while True:
        if i >= len(pkt):
            return None
        n = pkt[i]
        i += 1
        if n == 0:
            break
        if n & 0xC0 or i + n > len(pkt):
            return None
        labels.append(pkt[i:i + n].decode("ascii", "replace").lower())
        i += n
    if i + 4 > len(pkt):
        return None
    qtype, _qclass = struct.unpack("!HH", pkt[i:i + 4])
    return qid, flags, ".".join(labels), qtype, pkt[12:i + 4]


def answer(query, zone):
    qid, flags, name, qtype, question = query
    rcode, records = 0, []
    entry = zone.get(name)
    if entry is None:
        rcode = 3   # NXDOMAIN
    else:
        ttl = int(entry.get("ttl", 1))
        kind = QTYPES.get(qtype)
        for addr in entry.get(kind, []) if kind else []:
            if kind == "SRV":
                prio, weight, port, target = addr
                rdata = struct.pack("!HHH", prio, weight, port) + encode_name(target)
            else:
                fam = socket.AF_INET if kind == "A" else socket.AF_INET6
                rdata = socket.inet_pton(fam, addr)
            # name: pointer to the question (offset 12)
            records.append(struct.pack("!HHHIH", 0xC00C, qtype, 1, ttl, len(rdata)) + rdata)
    rflags = 0x8000 | 0x0400 | (flags & 0x0100) | rcode   # QR, AA, RD copied
    head = struct.pack("!HHHHHH", qid, rflags, 1, len(records), 0, 0)
    return head + question + b"".join(records)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--zone", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((a.host, a.port))
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(sock.getsockname()[1]))
    os.rename(tmp, a.port_file)
    while True:
        pkt, peer = sock.recvfrom(4096)
        q = parse_query(pkt)
        if q is None:
            continue
        try:
            with open(a.zone) as f:
                zone = {k.lower().rstrip("."): v for k, v in json.load(f).items()}
        except (OSError, ValueError):
            zone = {}
        if a.log:
            with open(a.log, "a") as f:
                f.write("%s %s\n" % (q[2], QTYPES.get(q[3], q[3])))
        sock.sendto(answer(q, zone), peer)


if __name__ == "__main__":
    main()
