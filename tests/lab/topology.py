"""The lab's topology as data, and its errors. lab.py builds and prints the topology from
these tables; peers.py places the vendor's services on VENDOR_HOSTS. Keep in step with the
lab contract (tests/lab/README.md)."""

ROLES = ("lan", "outpost", "wanp", "inet", "vendor")

# (namespace A, interface in A, address in A, namespace B, interface in B, address in B)
LINKS = (
    ("lan", "lan0", "10.20.0.10/24", "outpost", "lan0", "10.20.0.1/24"),
    ("outpost", "wanp0", "198.51.100.1/30", "wanp", "out0", "198.51.100.2/30"),
    ("outpost", "inet0", "192.0.2.1/30", "inet", "out0", "192.0.2.2/30"),
    ("wanp", "ven0", "198.51.100.5/30", "vendor", "wanp0", "198.51.100.6/30"),
    ("inet", "ven0", "192.0.2.5/30", "vendor", "inet0", "192.0.2.6/30"),
)

# The vendor's services, on addresses of its loopback.
VENDOR_HOSTS = {
    "sip.vendor.example": "203.0.113.10",
    "sip2.vendor.example": "203.0.113.11",
    "ns.vendor.example": "203.0.113.53",
    "www.vendor.example": "203.0.113.20",
    "app.vendor.example": "203.0.113.21",
    "wss.vendor.example": "203.0.113.20",
    "probe.vendor.example": "203.0.113.7",
    "media.vendor.example": "203.0.113.30",
}

EXTRA_ADDRESSES = (
    ("lan", "lan0", "10.20.0.200/24"),  # a LAN client outside lan.client_subnets (10.20.0.0/25)
    *(("vendor", "lo", f"{a}/32") for a in sorted(set(VENDOR_HOSTS.values()))),
)

# (namespace, destination, gateway). No default routes anywhere: nothing leaves the machine.
ROUTES = (
    ("wanp", "203.0.113.0/24", "198.51.100.6"),
    ("inet", "203.0.113.0/24", "192.0.2.6"),
    ("vendor", "198.51.100.0/30", "198.51.100.5"),  # the vendor reaches outpost's uplink
    ("vendor", "192.0.2.0/30", "192.0.2.5"),        # addresses, never the LAN
    ("outpost", "192.0.2.4/30", "192.0.2.2"),       # "the internet": the vendor's public side
)
# outpost's route to the vendor over the primary uplink: static for now (Lab.up's
# static_vendor_route), owned by the uplink component later.
VENDOR_ROUTE = ("outpost", "203.0.113.0/24", "198.51.100.2")
FORWARDING = ("wanp", "inet")


class LabError(Exception):
    """A lab operation failed; the message names the command and shows its output."""


class LabTimeout(LabError):
    def __init__(self, what, last, timeout):
        super().__init__(f"timed out after {timeout:g} s waiting for {what}; last value: {last!r}")
        self.what, self.last, self.timeout = what, last, timeout

# The encrypted backup uplink (issue 8): WireGuard between outpost (over inet0) and the
# vendor's public side. Inner addresses; the vendor's end listens on 192.0.2.6:51820.
BACKUP_TUNNEL = {
    "outpost_inner": "198.51.100.17/30",
    "vendor_inner": "198.51.100.18/30",
    "vendor_endpoint": "192.0.2.6:51820",
    "port": 51820,
    # Calls across a switch (vpn/README.md): outpost's vendor-facing address is its primary
    # address on both paths; start_backup_tunnel(carry_primary=True) lets it through.
    "primary_address": "198.51.100.1",
    "primary_subnet": "198.51.100.0/30",
}
