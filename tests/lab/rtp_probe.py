#!/usr/bin/python3
"""An RTP phone's media for the lab: sends COUNT RTP packets (PCMA, 20 ms apart, 160-byte
payload, sequence from 1000) from SRC to DST and collects whatever comes back to SRC.
Prints JSON {"sent": [hex], "received": [hex]}.

    rtp_probe.py 10.20.0.10:7100 10.20.0.1:10000 50
"""
import json
import socket
import struct
import sys


def endpoint(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def drain(sock, into):
    try:
        while True:
            into.append(sock.recv(2048).hex())
    except socket.timeout:
        pass


def main(src, dst, count):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(endpoint(src))
    sent, received = [], []
    sock.settimeout(0.02)  # the packet interval: receive between sends
    for i in range(count):
        payload = bytes((i * 7 + j) & 0xFF for j in range(160))
        packet = struct.pack("!BBHII", 0x80, 8, 1000 + i, 160 * i, 0x5EED0001) + payload
        sock.sendto(packet, endpoint(dst))
        sent.append(packet.hex())
        drain(sock, received)
    sock.settimeout(1.0)  # the last echoes
    drain(sock, received)
    print(json.dumps({"sent": sent, "received": received}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
