"""A minimal SIP-over-WebSocket agent (RFC 7118) for the lab, on python3-websockets:
connects to wss://NAME/ at ADDRESS:443 trusting the lab CA, with subprotocol "sip",
REGISTERs (answering one digest challenge, no qop, as the lab's Kamailio asks), sends an
OPTIONS, and prints what it sent and received as JSON on stdout.

    /usr/bin/python3 ws_sip_client.py '{"name": ..., "address": ..., "ca": ..., "user": ...,
                                        "password": ..., "domain": ..., "subprotocols": ["sip"]}'
Exits 0 after the exchange, 2 when the WebSocket handshake is refused (the status code in
the output's "refused")."""
import asyncio
import hashlib
import json
import re
import secrets
import ssl
import sys

import websockets

CRLF = "\r\n"


def request(method, uri, cfg, call_id, cseq, extra=()):
    host = f"{secrets.token_hex(4)}.invalid"  # as browsers do: the proxy must use the connection
    lines = [f"{method} {uri} SIP/2.0",
             f"Via: SIP/2.0/WSS {host};branch=z9hG4bK{secrets.token_hex(6)}",
             "Max-Forwards: 70",
             f"From: <sip:{cfg['user']}@{cfg['domain']}>;tag={secrets.token_hex(4)}",
             f"To: <sip:{cfg['user']}@{cfg['domain']}>",
             f"Call-ID: {call_id}",
             f"CSeq: {cseq} {method}",
             *extra,
             "User-Agent: outpost-lab ws_sip_client",
             "Content-Length: 0"]
    return CRLF.join(lines) + CRLF + CRLF


def digest(cfg, method, uri, challenge):
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    ha1 = hashlib.md5(f"{cfg['user']}:{fields['realm']}:{cfg['password']}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{fields['nonce']}:{ha2}".encode()).hexdigest()
    return (f'Digest username="{cfg["user"]}", realm="{fields["realm"]}", nonce="{fields["nonce"]}", '
            f'uri="{uri}", response="{response}", algorithm=MD5')


def header(message, name):
    m = re.search(rf"^{name}:\s*(.*)$", message, re.M | re.I)
    return m.group(1).strip() if m else None


async def exchange(ws, text, log):
    log.append({"sent": text})
    await ws.send(text)
    reply = await asyncio.wait_for(ws.recv(), 10)
    reply = reply.decode() if isinstance(reply, bytes) else reply
    log.append({"received": reply})
    return reply


async def main(cfg):
    ctx = ssl.create_default_context(cafile=cfg["ca"])
    log, out = [], {"messages": None}
    try:
        ws = await websockets.connect(f"wss://{cfg['name']}/", ssl=ctx, host=cfg["address"], port=443, server_hostname=cfg["name"],
                                      subprotocols=cfg.get("subprotocols", ["sip"]), open_timeout=10)
    except websockets.exceptions.InvalidStatusCode as e:
        print(json.dumps({"refused": e.status_code}))
        return 2
    try:
        out["subprotocol"] = ws.subprotocol
        uri = f"sip:{cfg['domain']}"
        call_id = secrets.token_hex(8)
        contact = f"Contact: <sip:{secrets.token_hex(4)}@{secrets.token_hex(4)}.invalid;transport=ws>;expires=300"
        first = await exchange(ws, request("REGISTER", uri, cfg, call_id, 1, [contact]), log)
        challenge = header(first, "WWW-Authenticate")
        if first.startswith("SIP/2.0 401") and challenge:
            await exchange(ws, request("REGISTER", uri, cfg, call_id, 2,
                                       [contact, "Authorization: " + digest(cfg, "REGISTER", uri, challenge)]), log)
        await exchange(ws, request("OPTIONS", uri, cfg, secrets.token_hex(8), 1), log)
    finally:
        await ws.close()
    out["messages"] = log
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(json.loads(sys.argv[1]))))
