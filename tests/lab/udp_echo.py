#!/usr/bin/python3
"""UDP echo for the lab's vendor: every datagram is sent back to its sender, unchanged.

One process serves many ports (the media echo has a hundred), so it is one selectors
loop over one socket per port. Prints "ready" on stdout once every socket is bound,
which is what tests/lab/lab.py waits for.

usage: udp_echo.py ADDRESS PORTS [ADDRESS PORTS ...]
       PORTS is "7", "16384-16483" or "5004,5006,7000-7009"
"""
import selectors
import signal
import socket
import sys


def parse_ports(spec):
    ports = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        lo, hi = int(first), int(last or first)
        if not 0 < lo <= hi <= 65535:
            raise ValueError(f"bad port range {part!r}")
        ports.extend(range(lo, hi + 1))
    return ports


def main(argv):
    if len(argv) < 2 or len(argv) % 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    selector = selectors.DefaultSelector()
    for address, spec in zip(argv[0::2], argv[1::2]):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        for port in parse_ports(spec):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.bind((address, port))
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
    print(f"ready: {len(selector.get_map())} sockets", flush=True)
    while True:
        for key, _ in selector.select():
            sock = key.fileobj
            try:  # drain what is queued; a full send buffer drops, as a network would
                while True:
                    data, peer = sock.recvfrom(65535)
                    sock.sendto(data, peer)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:  # e.g. ICMP unreachable reported on the socket
                print(f"{sock.getsockname()}: {e}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(0)
