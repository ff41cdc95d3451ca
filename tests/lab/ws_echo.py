#!/usr/bin/python3
"""WebSocket echo for the lab's vendor (python3-websockets): every message, text or binary,
is sent back unchanged on the same connection. Plain ws:// on ADDRESS:PORT (the vendor's
loopback); the vendor's nginx terminates TLS and proxies `location /ws` of every vendor name
to it, so a browser's wss://<vendor name>/ws is TLS from the vendor's own certificate.

Prints "ready:" on stdout once listening, which is what tests/lab/peers.py waits for.

usage: ws_echo.py ADDRESS PORT
"""
import asyncio
import signal
import sys

import websockets


async def echo(websocket, path=None):  # websockets 10 passes the path; newer versions do not
    async for message in websocket:
        await websocket.send(message)


async def serve(address, port):
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(echo, address, port, max_size=16 << 20):
        print(f"ready: ws://{address}:{port}", flush=True)
        await stop


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    asyncio.run(serve(argv[0], int(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
