"""The lab vendor's peers: configs rendered from the templates beside this file, processes
started through Lab.start(), and a wait until each one listens. Used by lab.py (the public
interface is Lab.start_nsd / start_kamailio / start_nginx / start_udp_echo / start_vendor).

Every peer runs in the foreground with its config, pid file and runtime files in its own
folder of the run dir; Debian's packaged services are never used (no systemd here).
"""
import os
import re
import shlex
import subprocess
from pathlib import Path

try:  # as part of a package, or with tests/lab on sys.path
    from .topology import VENDOR_HOSTS, LabError
except ImportError:
    from topology import VENDOR_HOSTS, LabError

HERE = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"

VENDOR_ZONE = """\
; vendor.example as the lab vendor's authoritative server (NSD) serves it.
$ORIGIN vendor.example.
$TTL 300
@       IN SOA  ns.vendor.example. hostmaster.vendor.example. 1 3600 600 86400 300
@       IN NS   ns
@       IN A    203.0.113.20
ns      IN A    203.0.113.53
sip     IN A    203.0.113.10
sip2    IN A    203.0.113.11
www     IN A    203.0.113.20
app     IN A    203.0.113.21
wss     IN A    203.0.113.20
probe   IN A    203.0.113.7
media   IN A    203.0.113.30
; RFC 3263: NAPTR -> SRV -> A; sip2 is the second-choice server (failover tests)
@       IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp
@       IN NAPTR 20 50 "s" "SIP+D2T" "" _sip._tcp
_sip._udp IN SRV 10 50 5060 sip
_sip._udp IN SRV 20 50 5060 sip2
_sip._tcp IN SRV 10 50 5060 sip
_sip._tcp IN SRV 20 50 5060 sip2
; a domain whose NAPTR records prefer TLS (`transport: auto` tests): SIPS+D2T first
secure  IN NAPTR 10 50 "s" "SIPS+D2T" "" _sips._tcp.secure
secure  IN NAPTR 20 50 "s" "SIP+D2U" "" _sip._udp
_sips._tcp.secure IN SRV 10 50 5061 sip
"""


def _run(argv):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise LabError(f"command failed (exit {r.returncode}): {shlex.join(map(str, argv))}\n"
                     f"{r.stderr.strip()}\n{r.stdout.strip()}".rstrip())
    return r


def _render(template, **tokens):
    text = (HERE / template).read_text()
    for key, value in tokens.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise LabError(f"{template}: tokens not filled in: {', '.join(sorted(set(left)))}")
    return text


def _addresses(listen):
    return [listen] if isinstance(listen, str) else list(listen)


def _folder(lab, name):
    path = lab.rundir / name
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---- test CA -------------------------------------------------------------------------

def ensure_ca(rundir):
    """The lab CA in <rundir>/ca (made once): (ca.pem, ca.key)."""
    folder = Path(rundir) / "ca"
    cert, key = folder / "ca.pem", folder / "ca.key"
    if not cert.exists():
        folder.mkdir(parents=True, exist_ok=True)
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=outpost lab CA",
              "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    return cert, key


def make_cert(rundir, name):
    """A server certificate for `name` (SAN = name) signed by the lab CA: (cert, key)."""
    ca_cert, ca_key = ensure_ca(rundir)
    folder = ca_cert.parent
    cert, key, csr, ext = (folder / f"{name}.{s}" for s in ("pem", "key", "csr", "ext"))
    if not cert.exists():
        ext.write_text(f"subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
        _run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", key, "-out", csr, "-subj", f"/CN={name}"])
        _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
              "-out", cert, "-days", "30", "-extfile", ext])
    return cert, key


# ---- NSD -----------------------------------------------------------------------------

def launch_nsd(lab, role, listen, zones, name):
    folder = _folder(lab, name)
    addresses = _addresses(listen)
    zone_blocks = []
    for zone, text in zones.items():
        zone_file = folder / f"{zone}.zone"
        zone_file.write_text(text)
        _run(["nsd-checkzone", zone, zone_file])
        zone_blocks.append(f'\nzone:\n    name: "{zone}"\n    zonefile: "{zone_file.name}"\n')
    conf = folder / "nsd.conf"
    conf.write_text(_render("nsd.conf.in", DIR=str(folder),
                            LISTEN="\n".join(f"    ip-address: {a}" for a in addresses),
                            ZONES="".join(zone_blocks)))
    _run(["nsd-checkconf", conf])
    peer = lab.start(role, name, ["nsd", "-d", "-c", conf])
    return peer, lambda: all(lab.listening(role, p, a, 53) for a in addresses for p in ("udp", "tcp"))


def start_nsd(lab, role, listen, zones, name="nsd"):
    return _wait(lab, launch_nsd(lab, role, listen, zones, name))


# ---- Kamailio ------------------------------------------------------------------------

def kamailio_cfg(name, addresses, auth=None, uas=None, websocket=None, tls=None):
    """The vendor SIP server's config text (tests/lab/kamailio.cfg rendered).
    auth: {user: password} turns on digest auth (realm vendor.example) for REGISTER and for
    new requests from our domain; uas: "sip:HOST:PORT" gets requests for unknown AORs;
    websocket: a TCP port for SIP over plain WebSocket (browsers registered at the vendor);
    tls: {"config": path of the tls module's file, "wss": a port for WSS or None}: SIP over
    TLS on 5061 (and WSS)."""
    defines = []
    users = []
    if auth:
        defines.append("#!define WITH_AUTH")
        for user, password in auth.items():
            if not re.fullmatch(r"[A-Za-z0-9._+-]+", user) or re.search(r'["\\$]', password):
                raise LabError(f"kamailio auth: unusable user or password for {user!r}")
            users.append(f'\t$sht(users=>{user}) = "{password}";')
    if uas:
        defines.append(f'#!define UAS_ADDR "{uas}"')
    listen = [f"listen={proto}:{a}:5060" for a in addresses for proto in ("udp", "tcp")]
    if websocket:
        defines.append("#!define WITH_WEBSOCKET")
        listen += [f"listen=tcp:{a}:{websocket}" for a in addresses]
    if tls:
        defines += ["#!define WITH_TLS", f'#!define TLS_CFG "{tls["config"]}"']
        listen += [f"listen=tls:{a}:5061" for a in addresses]
        if tls.get("wss"):
            defines += [] if websocket else ["#!define WITH_WEBSOCKET"]
            listen += [f"listen=tls:{a}:{tls['wss']}" for a in addresses]
    aliases = ["vendor.example"] + [h for h, a in VENDOR_HOSTS.items() if a in addresses]
    return _render("kamailio.cfg", DEFINES="\n".join(defines), LISTEN="\n".join(listen),
                   ALIASES="\n".join(f"alias={h}" for h in aliases), SERVER=f"outpost-lab {name}",
                   USERS="\n".join(users))


def kamailio_tls_cfg(folder, cert, key):
    """The tls module's file: the server certificate, no client certificates asked for."""
    path = Path(folder) / "tls.cfg"
    path.write_text(f"[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
                    f"certificate = {cert}\nprivate_key = {key}\n\n"
                    f"[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n")
    return path


def launch_kamailio(lab, role, listen, cfg, name, auth=None, uas=None, websocket=None, tls=None):
    """tls: None, or {"name": the certificate's name, "wss": a WSS port or None}."""
    folder = _folder(lab, name)
    addresses = _addresses(listen)
    if tls:
        cert, key = make_cert(lab.rundir, tls["name"])
        tls = {"config": kamailio_tls_cfg(folder, cert, key), "wss": tls.get("wss")}
    text = (cfg.replace("@RUN@", str(lab.rundir)) if cfg is not None
            else kamailio_cfg(name, addresses, auth, uas, websocket, tls))
    conf = folder / "kamailio.cfg"
    conf.write_text(text)
    argv = ["kamailio", "-DD", "-E", "-f", conf, "-Y", folder, "-P", folder / "kamailio.pid", "-m", "64", "-M", "8"]
    peer = lab.start(role, name, argv)
    tcp_ports = [websocket] + ([5061, tls["wss"]] if tls else [])
    return peer, lambda: (all(lab.listening(role, p, a, 5060) for a in addresses for p in ("udp", "tcp")) and
                          all(lab.listening(role, "tcp", a, port) for a in addresses for port in tcp_ports if port))


def start_kamailio(lab, role="vendor", listen=("203.0.113.10",), cfg=None, name="kamailio", auth=None, uas=None,
                   websocket=None, tls=None):
    return _wait(lab, launch_kamailio(lab, role, listen, cfg, name, auth, uas, websocket, tls))


# ---- nginx ---------------------------------------------------------------------------

def www_files(rundir):
    """The files nginx serves, made once: {"1k.bin": path, "4m.bin": path}."""
    www = Path(rundir) / "www"
    files = {"1k.bin": www / "1k.bin", "4m.bin": www / "4m.bin"}
    if not files["4m.bin"].exists():
        www.mkdir(mode=0o755, parents=True, exist_ok=True)
        files["1k.bin"].write_bytes(os.urandom(1024))
        files["4m.bin"].write_bytes(os.urandom(4 << 20))
        (www / "index.html").write_text("<p>outpost lab vendor</p>\n")
        for f in www.iterdir():
            f.chmod(0o644)
    return files


def launch_nginx(lab, role, names, name):
    folder = _folder(lab, name)
    www = www_files(lab.rundir)["1k.bin"].parent
    servers, addresses = [], []
    for host in names:  # the first name on an address is its default server (no SNI)
        address = VENDOR_HOSTS.get(host, "203.0.113.20")
        default = "" if address in addresses else " default_server"
        addresses += [] if address in addresses else [address]
        cert, key = make_cert(lab.rundir, host)
        servers.append(f"""
    server {{
        listen {address}:443 ssl{default};
        listen {address}:80{default};
        server_name {host};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {www};
        location = /whoami {{ default_type text/plain; return 200 "{host}\\n"; }}
        location = /ws {{  # WebSocket echo (ws_echo.py on the vendor's loopback)
            proxy_pass http://{WS_ECHO[0]}:{WS_ECHO[1]};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
        }}
    }}""")
    conf = folder / "nginx.conf"
    conf.write_text(_render("nginx.conf.in", DIR=str(folder), SERVERS="".join(servers)))
    peer = lab.start(role, name, ["nginx", "-e", "stderr", "-p", folder, "-c", conf])
    return peer, lambda: all(lab.listening(role, "tcp", a, 443) for a in addresses)


def start_nginx(lab, role="vendor", names=("www.vendor.example", "app.vendor.example", "wss.vendor.example"),
                name="nginx"):
    return _wait(lab, launch_nginx(lab, role, names, name))


# ---- UDP echo ------------------------------------------------------------------------

def port_spec(ports):
    """7, "16384-16483", range(...) or a list of ints -> udp_echo.py's PORTS argument."""
    if isinstance(ports, (int, str)):
        return str(ports)
    ports = sorted(ports)
    if ports and ports == list(range(ports[0], ports[-1] + 1)):
        return f"{ports[0]}-{ports[-1]}"
    return ",".join(map(str, ports))


def launch_udp_echo(lab, role, address, ports, name):
    peer = lab.start(role, name, [PYTHON, HERE / "udp_echo.py", address, port_spec(ports)])
    return peer, lambda: "ready:" in peer.log_text()


def start_udp_echo(lab, role, address, ports, name):
    return _wait(lab, launch_udp_echo(lab, role, address, ports, name))


# ---- WebSocket echo (behind nginx's `location /ws`) ----------------------------------

WS_ECHO = ("127.0.0.1", 8765)  # in the vendor namespace


def launch_ws_echo(lab, role, address, port, name):
    peer = lab.start(role, name, [PYTHON, HERE / "ws_echo.py", address, str(port)])
    return peer, lambda: "ready:" in peer.log_text()


def start_ws_echo(lab, role="vendor", address=WS_ECHO[0], port=WS_ECHO[1], name="ws-echo"):
    return _wait(lab, launch_ws_echo(lab, role, address, port, name))


# ---- the whole vendor ----------------------------------------------------------------

def _wait(lab, launched, timeout=20):
    peer, ready = launched
    lab.wait_ready(peer, ready, timeout)
    return peer


def start_vendor(lab):
    """Every vendor peer with the lab's defaults; started together, then waited for.
    Returns {name: Peer}."""
    launched = [
        launch_nsd(lab, "vendor", "203.0.113.53", {"vendor.example": VENDOR_ZONE}, "nsd"),
        launch_kamailio(lab, "vendor", ("203.0.113.10",), None, "kamailio"),
        launch_kamailio(lab, "vendor", ("203.0.113.11",), None, "kamailio2"),
        launch_nginx(lab, "vendor", ("www.vendor.example", "app.vendor.example", "wss.vendor.example"), "nginx"),
        launch_udp_echo(lab, "vendor", "203.0.113.7", 7, "probe-echo"),
        launch_udp_echo(lab, "vendor", "203.0.113.30", "16384-16483", "media-echo"),
        launch_ws_echo(lab, "vendor", *WS_ECHO, "ws-echo"),
    ]
    started = [_wait(lab, item) for item in launched]
    return {peer.name: peer for peer in started}


# ---- WireGuard (wireguard-go: this kernel has no WireGuard module) ----------------------

def wireguard_keypair(rundir, name):
    """(private key file, public key) made with `wg genkey` / `wg pubkey` in <rundir>/wg/."""
    folder = Path(rundir) / "wg"
    folder.mkdir(mode=0o700, exist_ok=True)
    key_file = folder / f"{name}.key"
    if not key_file.exists():
        key_file.write_text(_run(["wg", "genkey"]).stdout)
        key_file.chmod(0o600)
    public = subprocess.run(["wg", "pubkey"], input=key_file.read_text(), capture_output=True, text=True,
                            check=True).stdout.strip()
    return key_file, public


def start_wireguard(lab, role, name, ifname, address, listen_port, key_file, peer_public_key,
                    peer_allowed_ips, peer_endpoint=None, keepalive=None):
    """wireguard-go -f IFNAME in `role`, configured with `wg set`. The UAPI socket
    (/var/run/wireguard/IFNAME.sock) is not per namespace: IFNAME must be unique on the machine."""
    sock = Path("/var/run/wireguard") / f"{ifname}.sock"
    peer = lab.start(role, name, ["wireguard-go", "-f", ifname], env={"WG_PROCESS_FOREGROUND": "1"})
    lab.wait_ready(peer, sock.exists, what=f"wireguard-go {ifname} UAPI socket")
    argv = ["wg", "set", ifname, "listen-port", str(listen_port), "private-key", str(key_file),
            "peer", peer_public_key, "allowed-ips", ",".join(peer_allowed_ips)]
    if peer_endpoint:
        argv += ["endpoint", peer_endpoint]
    if keepalive:
        argv += ["persistent-keepalive", str(keepalive)]
    lab.run(role, argv)
    lab.run(role, ["ip", "addr", "replace", address, "dev", ifname])
    lab.run(role, ["ip", "link", "set", ifname, "up"])
    return peer
