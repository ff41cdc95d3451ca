#!/usr/bin/python3
"""A phone's RTP stream for the lab, long enough to live through an uplink switch: sends
COUNT RTP packets (PCMA, INTERVAL_MS apart, 160-byte payload, sequence numbers 0..COUNT-1)
from SRC to DST and records which sequence numbers come back (an echo at the far end).
Prints one line per event, flushed, so a test can follow it while it runs:

    sent SEQ        a packet left
    echo SEQ        its echo came back (unchanged, else "bad SEQ")

and at the end one JSON line {"sent": COUNT, "received": [SEQ, ...]}.

    rtp_stream.py 10.20.0.10:7100 10.20.0.1:10000 450 20
"""
import json
import socket
import struct
import sys
import time

SSRC = 0x5EED0002


def endpoint(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def packet(seq):
    payload = bytes((seq * 7 + j) & 0xFF for j in range(160))
    return struct.pack("!BBHII", 0x80, 8, seq & 0xFFFF, 160 * seq, SSRC) + payload


def main(src, dst, count, interval_ms):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(endpoint(src))
    received = set()

    def drain(until):
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            sock.settimeout(left)
            try:
                data = sock.recv(2048)
            except socket.timeout:
                return
            if len(data) < 12:
                continue
            seq = struct.unpack("!H", data[2:4])[0]
            ok = seq < count and data == packet(seq)
            if ok:
                received.add(seq)
            print(("echo " if ok else "bad ") + str(seq), flush=True)

    start = time.monotonic()
    for seq in range(count):
        sock.sendto(packet(seq), endpoint(dst))
        print(f"sent {seq}", flush=True)
        drain(start + (seq + 1) * interval_ms / 1000)  # paced on the start, not on the last send
    drain(time.monotonic() + 1.0)  # the last echoes
    print(json.dumps({"sent": count, "received": sorted(received)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 20.0)
