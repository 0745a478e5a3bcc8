#!/usr/bin/env python3
"""Lab attacker for wlb's spoofed SYN-ACK test.

Runs in a lab router on the path (it sees the client's SYN, as an on-path
attacker would), and for each SYN to port 80 it sees, at once sends the
client SYN-ACKs with the right ports but no valid wlb echo:
  - one from --from-a with no option at all,
  - one from --from-b carrying a wlb echo option with a wrong nonce.
They race ahead of the genuine answers; wlb-clientgw must drop both.

usage: spoof-synack.py IFACE FROM_A FROM_B [COUNT] [SECONDS]
Only ever sends to the source address of a SYN seen on IFACE (a lab host).
"""
import socket
import struct
import sys
import time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def synack(src, dst, sport, dport, ack, opts):
    thl = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 0x5EED0000, ack,
                      (thl // 4) << 4, 0x12, 65535, 0, 0) + opts
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    c = csum(pseudo + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6,
                     0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp


def main():
    iface, from_a, from_b = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    deadline = time.time() + (float(sys.argv[5]) if len(sys.argv) > 5 else 20)
    a, b = socket.inet_aton(from_a), socket.inet_aton(from_b)
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    rx.bind((iface, 0))
    rx.settimeout(0.2)
    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    # a wlb tag with the echo bit and a nonce nobody issued
    bad_echo = bytes([1, 1, 253, 10, 0x57, 0x4C, 0x81, 1, 0xBA, 0xD0, 0xBA, 0xD0])
    sent = 0
    while sent < count and time.time() < deadline:
        try:
            frame = rx.recv(65535)
        except socket.timeout:
            continue
        ip = frame[14:] if len(frame) > 14 and frame[12:14] == b"\x08\x00" else frame
        if len(ip) < 40 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 15) * 4
        tcp = ip[ihl:]
        sport, dport, seq = struct.unpack("!HHI", tcp[:8])
        if dport != 80 or tcp[13] & 0x17 != 0x02:
            continue
        client = ip[12:16]
        for src, opts in ((a, b""), (b, bad_echo)):
            pkt = synack(src, client, 80, sport, (seq + 1) & 0xFFFFFFFF, opts)
            tx.sendto(pkt, (socket.inet_ntoa(client), 0))
        sent += 1
    print("spoofed %d SYNs" % sent, flush=True)
    return 0 if sent == count else 1


if __name__ == "__main__":
    sys.exit(main())
