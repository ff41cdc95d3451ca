"""Split-horizon DNS in the lab: `dig` from the LAN against outpost (10.20.0.1:53).

A site resolver sits in the LAN: NSD on 10.20.0.53, authoritative for corp.example (the
customer's zone) and for the public view of vendor.example. outpost forwards to it
(dns.forwarders). The vendor's own NSD (203.0.113.53, behind the uplink) is what the
uplink resolver asks. Assertions are on answers, bytes and counters, never on timings.
"""
import json
import re
import struct

import pytest

from helpers import PYTHON, assert_subset, metric, needs_root, udp_exchange, wait_json

pytestmark = needs_root

OUTPOST = "10.20.0.1"
SITE = "10.20.0.53"        # the customer's resolver (NSD) in the LAN
BURST_CLIENT = "10.20.0.60"  # a LAN client of its own for the rate-limit test
OUTSIDER = "10.20.0.200"   # on the LAN, outside lan.client_subnets (10.20.0.0/25)
VENDOR_REAL = "203.0.113."

CORP_ZONE = """\
$ORIGIN corp.example.
$TTL 300
@       IN SOA ns hostmaster 1 3600 600 86400 60
@       IN NS ns
@       IN MX 10 mail.vendor.example.
ns      IN A 10.20.0.53
host1   IN A 10.20.1.1
host2   IN A 10.20.1.2
host2   IN AAAA 2001:db8:20::2
pbx     IN CNAME sip.vendor.example.
chain   IN CNAME alias
alias   IN CNAME www.vendor.example.
app     IN HTTPS 1 www.vendor.example. alpn=h2 ipv4hint=203.0.113.20
web     IN HTTPS 1 . alpn=h2 ipv4hint=198.51.100.80
""" + "".join(f'mid IN TXT "{i:02d}{"m" * 98}"\n' for i in range(6)) \
    + "".join(f'big IN TXT "{i:02d}{"b" * 198}"\n' for i in range(12))

# vendor.example as the public internet sees it (what the site resolver would answer).
PUBLIC_VENDOR_ZONE = """\
$ORIGIN vendor.example.
$TTL 300
@       IN SOA ns.corp.example. hostmaster.corp.example. 1 3600 600 86400 60
@       IN NS ns.corp.example.
@       IN A 203.0.113.20
sip     IN A 203.0.113.10
www     IN A 203.0.113.20
www     IN AAAA 2001:db8:113::20
www     IN HTTPS 1 . alpn=h2 ipv4hint=203.0.113.20
mail    IN A 203.0.113.25
"""


def dig(lab, name, qtype="A", *extra, server=OUTPOST, source=None):
    """Full dig output from the LAN, parsed: status, flags, sections (lists of
    (name, ttl, type, data)) and the raw text."""
    argv = ["dig", "+time=2", "+tries=1", "+noall", "+comments", "+question", "+answer", "+authority",
            "+additional", f"@{server}", name, qtype, *extra]
    if source:
        argv += ["-b", source]
    text = lab.run("lan", argv, check=False).stdout
    out = {"text": text, "status": None, "flags": [], "answer": [], "authority": [], "additional": [],
           "question": None}
    section = None
    for line in text.splitlines():
        if m := re.search(r"status: (\w+)", line):
            out["status"] = m.group(1)
        if m := re.match(r";; flags: ([a-z ]*);", line):
            out["flags"] = m.group(1).split()
        if m := re.match(r";; (\w+) SECTION:", line):
            section = m.group(1).lower()
            continue
        if section == "question" and line.startswith(";") and not line.startswith(";;"):
            out["question"] = line[1:].split()[0]
            continue
        if not line.strip() or line.startswith(";") or section not in ("answer", "authority", "additional"):
            continue
        f = line.split(None, 4)
        out[section].append((f[0], int(f[1]), f[3], f[4] if len(f) > 4 else ""))
    return out


def counters(lab):
    return lab.ctl("show", "dns")["counters"]


def delta(before, after, key):
    return after.get(key, 0) - before.get(key, 0)


def raw_query(name, qtype, qid=0x5A5A, edns=True, rd=True):
    """A query with the name's letter case as given (0x20)."""
    q = struct.pack(">HHHHHH", qid, 0x0100 if rd else 0, 1, 0, 0, 1 if edns else 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", qtype, 1)
    if edns:
        q += b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 0)
    return q


@pytest.fixture(scope="module")
def site(lab):
    """The site resolver in the LAN, and outpostd forwarding to it."""
    for address in (SITE, BURST_CLIENT):
        lab.run("lan", ["ip", "addr", "add", f"{address}/24", "dev", "lan0"])
    lab.start_nsd("lan", SITE, {"corp.example": CORP_ZONE, "vendor.example": PUBLIC_VENDOR_ZONE}, name="nsd-site")
    lab.stop("outpostd")
    config = lab.config(dns={"forwarders": [SITE]})
    lab.start_outpostd(config)
    lab.wait_until(lambda: dig(lab, "host1.corp.example")["answer"], timeout=15,
                   what="outpost to answer a forwarded name")
    yield config


@pytest.fixture
def restore(lab, site):
    yield
    lab.write("outpost.yaml", site)
    lab.ctl("config", "reload")


def test_vendor_names_get_the_lan_address(lab, site):
    for name in ("sip.vendor.example", "WWW.Vendor.Example", "vendor.example", "a.b.c.vendor.example"):
        r = dig(lab, name)
        assert r["status"] == "NOERROR", r["text"]
        assert [(t, d) for _, _, t, d in r["answer"]] == [("A", OUTPOST)], r["text"]
        assert r["answer"][0][1] == 30  # dns.ttl default
        assert "aa" in r["flags"]
    for qtype in ("AAAA", "HTTPS", "SVCB", "MX", "TXT"):
        r = dig(lab, "www.vendor.example", qtype)
        assert r["status"] == "NOERROR" and r["answer"] == [], r["text"]
    assert VENDOR_REAL not in dig(lab, "www.vendor.example", "ANY")["text"]


def test_rewrite_bytes_echo_the_question_and_case(lab, site):
    query = raw_query("SiP.VeNdOr.ExAmPlE", 1, qid=0x1F2E)
    reply = udp_exchange(lab, "lan", OUTPOST, 53, query)
    assert reply is not None
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", reply[:12])
    assert (qid, flags, qd, an, ns, ar) == (0x1F2E, 0x8580, 1, 1, 0, 1)
    qlen = len(query) - 12 - 11
    assert reply[12:12 + qlen] == query[12:12 + qlen]
    answer = reply[12 + qlen:12 + qlen + 16]
    assert answer == bytes.fromhex("c00c 0001 0001 0000001e 0004 0a140001".replace(" ", ""))
    assert reply[12 + qlen + 16:] == bytes.fromhex("0000290" + "4d0" + "00000000" + "0000")


def test_forwarded_answers_match_the_site_resolver(lab, site):
    cases = [("host1.corp.example", "A"), ("host2.corp.example", "AAAA"), ("corp.example", "SOA"),
             ("nope.corp.example", "A"), ("host1.corp.example", "TXT"), ("mid.corp.example", "TXT")]
    for name, qtype in cases:
        direct = dig(lab, name, qtype, server=SITE)
        for attempt in ("first", "cached"):
            got = dig(lab, name, qtype)
            assert got["status"] == direct["status"], f"{name} {qtype} ({attempt}):\n{got['text']}"
            # libunbound answers minimally: no NS in the authority section of positive answers.
            for section in ("answer",) if direct["answer"] else ("answer", "authority"):
                want = sorted((n, t, d) for n, _, t, d in direct[section])
                have = sorted((n, t, d) for n, _, t, d in got[section])
                assert have == want, f"{name} {qtype} {section} ({attempt}):\n{got['text']}\nvs\n{direct['text']}"
                ttl_direct = {(n, t, d): ttl for n, ttl, t, d in direct[section]}
                for n, ttl, t, d in got[section]:
                    assert ttl <= ttl_direct[(n, t, d)]
    assert dig(lab, "nope.corp.example")["status"] == "NXDOMAIN"


def test_cname_into_the_vendor_zone_ends_at_outpost(lab, site):
    r = dig(lab, "pbx.corp.example")
    assert r["status"] == "NOERROR", r["text"]
    assert [(n, t, d) for n, _, t, d in r["answer"]] == [
        ("pbx.corp.example.", "CNAME", "sip.vendor.example."), ("sip.vendor.example.", "A", OUTPOST)]
    assert VENDOR_REAL not in r["text"]
    r = dig(lab, "chain.corp.example")
    assert [t for _, _, t, _ in r["answer"]] == ["CNAME", "CNAME", "A"]
    assert r["answer"][-1][3] == OUTPOST and VENDOR_REAL not in r["text"]
    r = dig(lab, "chain.corp.example", "AAAA")
    assert [t for _, _, t, _ in r["answer"]] == ["CNAME", "CNAME"], r["text"]
    assert "2001:db8:113" not in r["text"]
    r = dig(lab, "chain.corp.example", "HTTPS")
    assert VENDOR_REAL not in r["text"] and "HTTPS" not in [t for _, _, t, _ in r["answer"]]


def test_https_hints_and_glue_do_not_leak(lab, site):
    r = dig(lab, "app.corp.example", "HTTPS")
    assert r["status"] == "NOERROR" and len(r["answer"]) == 1, r["text"]
    assert "alpn=" in r["answer"][0][3] and "ipv4hint" not in r["answer"][0][3], r["text"]
    r = dig(lab, "web.corp.example", "HTTPS")
    assert "ipv4hint=198.51.100.80" in r["answer"][0][3], r["text"]  # not the vendor's: kept
    r = dig(lab, "corp.example", "MX")
    assert r["answer"] and VENDOR_REAL not in r["text"], r["text"]
    assert dig(lab, "corp.example", "MX", server=SITE)["additional"]  # the site resolver does send glue


def test_outside_client_is_refused_and_counted(lab, site):
    before = counters(lab)
    r = dig(lab, "sip.vendor.example", source=OUTSIDER)
    assert r["status"] == "REFUSED" and r["answer"] == [], r["text"]
    assert dig(lab, "host1.corp.example", source=OUTSIDER)["status"] == "REFUSED"
    after = counters(lab)
    assert delta(before, after, "refused_clients") == 2
    assert delta(before["by_rcode"], after["by_rcode"], "REFUSED") == 2


def test_tcp(lab, site):
    before = counters(lab)
    r = dig(lab, "sip.vendor.example", "A", "+tcp")
    assert [d for _, _, _, d in r["answer"]] == [OUTPOST]
    r = dig(lab, "host2.corp.example", "A", "+tcp")
    assert [d for _, _, _, d in r["answer"]] == ["10.20.1.2"]
    r = dig(lab, "pbx.corp.example", "A", "+tcp")
    assert r["answer"][-1][3] == OUTPOST
    assert delta(before, counters(lab), "tcp_queries") == 3


def test_truncation_over_udp_and_full_answers_over_tcp(lab, site):
    before = counters(lab)
    r = dig(lab, "mid.corp.example", "TXT", "+ignore", "+noedns")  # ~700 octets > 512
    assert "tc" in r["flags"] and r["answer"] == [], r["text"]
    r = dig(lab, "mid.corp.example", "TXT", "+ignore")  # EDNS 1232: fits
    assert "tc" not in r["flags"] and len(r["answer"]) == 6, r["text"]
    r = dig(lab, "big.corp.example", "TXT", "+ignore", "+bufsize=4096")  # ~2.5 kB > 1232 (our cap)
    assert "tc" in r["flags"] and r["answer"] == [], r["text"]
    r = dig(lab, "big.corp.example", "TXT", "+tcp")
    assert "tc" not in r["flags"] and len(r["answer"]) == 12, r["text"]
    r = dig(lab, "big.corp.example", "TXT")  # dig retries over TCP by itself
    assert len(r["answer"]) == 12
    assert delta(before, counters(lab), "truncated") >= 3


BURST = r"""
import socket, struct, sys, time
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
q = b"\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03sip\x06vendor\x07example\x00\x00\x01\x00\x01"
for i in range(n):
    s.sendto(struct.pack(">H", i) + q[2:], (dst, 53))
s.settimeout(1.0)
got = 0
try:
    while True:
        s.recv(512); got += 1
except socket.timeout:
    pass
print(got)
"""


def test_rate_limiting_drops_a_burst(lab, site):
    before = counters(lab)
    sent = 3000
    got = int(lab.run("lan", [PYTHON, "-c", BURST, BURST_CLIENT, OUTPOST, str(sent)]).stdout)
    after = counters(lab)
    limited = delta(before, after, "rate_limited")
    assert limited > 0 and got < sent
    assert got + limited <= sent
    assert delta(before, after, "dropped") >= limited
    # Others are not affected.
    assert [d for _, _, _, d in dig(lab, "sip.vendor.example")["answer"]] == [OUTPOST]


def test_malformed_packets_are_answered_or_dropped_and_counted(lab, site):
    before = counters(lab)
    header = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    bad = {
        "short": b"\x12\x34\x01",
        "truncated label": header + b"\x05ab",
        "label too long": header + b"\x40" + b"x" * 64 + b"\x00\x00\x01\x00\x01",
        "compression loop": header + b"\xc0\x0c\x00\x01\x00\x01",
        "pointer forward": header + b"\xc0\x20\x00\x01\x00\x01",
        "no question": struct.pack(">HHHHHH", 0x1234, 0x0100, 0, 0, 0, 0),
        "response": struct.pack(">HHHHHH", 0x1234, 0x8100, 1, 0, 0, 0) + b"\x00\x00\x01\x00\x01",
        # an OPT whose option claims 8 octets where the record holds 2
        "bad opt": raw_query("a.corp.example", 1, edns=False)[:10] + b"\x00\x01"
                   + raw_query("a.corp.example", 1, edns=False)[12:]
                   + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x06\x00\x0a\x00\x08\x01\x02",
    }
    rcodes = {}
    for what, payload in bad.items():
        reply = udp_exchange(lab, "lan", OUTPOST, 53, payload, timeout=1.0)
        rcodes[what] = None if reply is None else reply[3] & 0x0F
    assert rcodes["short"] is None and rcodes["response"] is None
    for what in ("truncated label", "label too long", "compression loop", "pointer forward", "no question",
                 "bad opt"):
        assert rcodes[what] == 1, (what, rcodes)  # FORMERR
    two = raw_query("a.corp.example", 1, edns=False)
    two = two[:5] + b"\x02" + two[6:] + two[12:]
    reply = udp_exchange(lab, "lan", OUTPOST, 53, two)
    assert reply is not None and reply[3] & 0x0F == 4  # NOTIMP
    after = counters(lab)
    assert delta(before, after, "malformed") == len(bad)
    assert delta(before, after, "dropped") == 2
    assert lab.peer("outpostd").alive()
    assert [d for _, _, _, d in dig(lab, "sip.vendor.example")["answer"]] == [OUTPOST]


def test_any_is_answered_minimally_and_other_classes_refused(lab, site):
    r = dig(lab, "host1.corp.example", "ANY")
    assert [(t, d) for _, _, t, d in r["answer"]] == [("HINFO", '"RFC8482" ""')], r["text"]
    r = dig(lab, "sip.vendor.example", "ANY")
    assert [(t, d) for _, _, t, d in r["answer"]] == [("A", OUTPOST)], r["text"]
    assert dig(lab, "sip.vendor.example", "A", "-c", "ANY")["status"] == "REFUSED"
    assert dig(lab, "version.bind", "TXT", "-c", "CH")["status"] == "REFUSED"
    assert dig(lab, "vendor.example", "AXFR")["status"] in ("REFUSED", None)


def test_reload_swaps_the_rules_and_a_bad_config_changes_nothing(lab, site, restore):
    text = lab.config(dns={"forwarders": [SITE], "overrides": {"host1.corp.example": "192.0.2.99",
                                                                "sip.vendor.example": "10.20.0.5"}})
    lab.write("outpost.yaml", text)
    lab.reload_outpostd()
    lab.wait_until(lambda: [d for _, _, _, d in dig(lab, "host1.corp.example")["answer"]] == ["192.0.2.99"],
                   timeout=10, what="the override to take effect")
    assert [d for _, _, _, d in dig(lab, "sip.vendor.example")["answer"]] == ["10.20.0.5"]
    assert [d for _, _, _, d in dig(lab, "www.vendor.example")["answer"]] == [OUTPOST]
    rules = lab.ctl("show", "dns")["rules"]
    assert any(r["pattern"] == "host1.corp.example" and r["origin"] == "dns.overrides" for r in rules)

    lab.write("outpost.yaml", text + "\ndns_typo: 1\n")
    reply = lab.ctl("config", "reload", check=False)
    assert reply.returncode == 1
    assert [d for _, _, _, d in dig(lab, "host1.corp.example")["answer"]] == ["192.0.2.99"]
    assert [d for _, _, _, d in dig(lab, "pbx.corp.example")["answer"]][-1] == "10.20.0.5"  # the chain ends at the override
    assert lab.ctl("status")["last_reload"]["ok"] is False


def test_outpostctl_lookup_and_show_dns(lab, site):
    r = lab.ctl("dns", "lookup", "WWW.vendor.example", "--type", "AAAA")
    assert_subset({"verdict": "rewrite", "rcode": "NOERROR", "answer": [], "forwarded": False}, r)
    assert r["rule"].startswith("*.vendor.example -> A 10.20.0.1")
    r = lab.ctl("dns", "lookup", "sip.vendor.example", "--client", OUTSIDER)
    assert_subset({"verdict": "refuse-client", "rcode": "REFUSED", "client": OUTSIDER}, r)
    r = lab.ctl("dns", "lookup", "pbx.corp.example")
    assert r["verdict"] == "forward" and r["rcode"] == "NOERROR"
    assert r["answer"][-1]["data"] == OUTPOST
    assert r["from_cache"] or r["upstream_rewritten"]
    r = lab.ctl("dns", "lookup", "sip.vendor.example", "--uplink")
    assert r["addresses"] == ["203.0.113.10"]  # outpost's own look-ups see the real address
    bad = lab.ctl("dns", "lookup", check=False)
    assert bad.returncode == 2

    # Counters move by exactly what we send (lookups are not counted).
    before = counters(lab)
    for name in ("a.vendor.example", "b.vendor.example", "c.vendor.example"):
        dig(lab, name)
    dig(lab, "a.vendor.example", "AAAA")
    dig(lab, "host2.corp.example", "A")
    after = counters(lab)
    assert delta(before, after, "queries") == 5
    assert delta(before, after, "rewritten") == 4
    assert delta(before["by_type"], after["by_type"], "A") == 4
    assert delta(before["by_type"], after["by_type"], "AAAA") == 1
    assert delta(before["by_rcode"], after["by_rcode"], "NOERROR") == 5
    assert delta(before, after, "cache_hits") + delta(before, after, "forwarded") == 1

    show = lab.ctl("show", "dns")
    assert_subset({"upstream": {"role": "lan", "upstream": f"forward to {SITE}:53"},
                   "uplink": {"role": "uplink", "upstream": "forward to 203.0.113.53:53"},
                   "listeners": [{"address": f"{OUTPOST}:53", "transport": "udp"},
                                 {"address": f"{OUTPOST}:53", "transport": "tcp"}],
                   "client_subnets": ["10.20.0.0/25"]}, show, "show dns")
    assert show["cache"]["entries"] > 0
    text = lab.metrics()
    assert metric(text, "outpost_dns_queries_total") == after["queries"]
    assert metric(text, "outpost_dns_queries_by_type_total", qtype="AAAA") == after["by_type"]["AAAA"]
    assert metric(text, "outpost_dns_upstream_up", resolver="lan") == 1
    human = lab.ctl("show", "dns", json=False)
    assert human.returncode == 0 and "*.vendor.example" in human.stdout
