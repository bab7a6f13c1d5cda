"""
tern's own DNS stub resolver through `tern resolve -s 127.0.0.1:PORT TYPE
NAME`, against Debian's dnsmasq (real MX, A, AAAA and CNAME records, NODATA
and NXDOMAIN) and against scripted servers in this file (plain sockets) for
what dnsmasq will not do: a null MX (RFC 7505), truncated UDP answers that
force TCP, a server that never answers, wrong ids, answers from the wrong
port, garbage, SERVFAIL. All servers listen on loopback high ports.

Exit codes of `tern resolve`: 0 records, 1 nxdomain / nodata / null-mx
(printed), 2 temporary failure (printed), 64 usage.
"""
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import TERN_BIN, require_binary

HOST = "127.0.0.1"
T_A, T_CNAME, T_SOA, T_MX, T_AAAA = 1, 5, 6, 15, 28


# ---- running tern resolve --------------------------------------------------

class Result:
    def __init__(self, proc, elapsed):
        self.rc = proc.returncode
        self.out = proc.stdout.decode()
        self.err = proc.stderr.decode()
        self.lines = self.out.splitlines()
        self.elapsed = elapsed

    def __repr__(self):
        return (f"Result(rc={self.rc}, out={self.out!r}, "
                f"err={self.err[-2000:]!r}, {self.elapsed:.2f}s)")


def resolve(*args, servers=(), timeout_ms=None, rounds=None, verbose=False):
    cmd = [str(TERN_BIN), "resolve"]
    if verbose:
        cmd.append("-v")
    for s in servers:
        cmd += ["-s", s]
    if timeout_ms is not None:
        cmd += ["-t", str(timeout_ms)]
    if rounds is not None:
        cmd += ["-r", str(rounds)]
    cmd += list(args)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, timeout=60)
    r = Result(p, time.monotonic() - t0)
    for bad in ("panic", "AddressSanitizer", "runtime error"):
        assert bad not in r.err, r
    return r


@pytest.fixture(scope="module", autouse=True)
def resolve_command():
    require_binary()
    p = subprocess.run([str(TERN_BIN), "resolve"], capture_output=True,
                       timeout=10)
    if p.returncode != 64 or b"usage: tern resolve" not in p.stderr:
        pytest.skip(f"{TERN_BIN} has no 'resolve' command (main.c must call "
                    f"dnsc_cli_main)")


def free_port():
    """A port free for both UDP and TCP on loopback."""
    for _ in range(50):
        t = socket.socket()
        t.bind((HOST, 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind((HOST, port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


# ---- DNS messages by hand ----------------------------------------------------

def wire(name):
    name = name.rstrip(".")
    if not name:
        return b"\0"
    return b"".join(bytes([len(label)]) + label.encode()
                    for label in name.split(".")) + b"\0"


def query(name, qtype, qid=0x1234):
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire(name) + \
        struct.pack(">HH", qtype, 1)


def parse_query(data):
    """(id, name, type, question bytes) of a query; None if it is none."""
    if len(data) < 17:
        return None
    qid = struct.unpack(">H", data[:2])[0]
    pos, labels = 12, []
    while pos < len(data) and data[pos] != 0:
        n = data[pos]
        labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    pos += 1
    qtype = struct.unpack(">H", data[pos:pos + 2])[0]
    return qid, ".".join(labels), qtype, data[12:pos + 4]


def rr(name_or_ptr, rtype, ttl, rdata):
    owner = name_or_ptr if isinstance(name_or_ptr, bytes) else wire(name_or_ptr)
    return owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def mx_rdata(pref, host):
    return struct.pack(">H", pref) + wire(host)


def answer(q, records=(), rcode=0, tc=False, qid=None, authority=()):
    qid = q[0] if qid is None else qid
    flags = 0x8180 | rcode | (0x0200 if tc else 0)
    return struct.pack(">HHHHHH", qid, flags, 1, len(records),
                       len(authority), 0) + q[3] + b"".join(records) + \
        b"".join(authority)


def soa(zone, minimum=60):
    rdata = wire("ns." + zone) + wire("host." + zone) + \
        struct.pack(">IIIII", 1, 3600, 600, 86400, minimum)
    return rr(zone, T_SOA, 300, rdata)


# ---- a scripted server --------------------------------------------------------

class ScriptedDNS:
    """UDP and TCP on one loopback port; handler(query, proto, peer) returns
    a list of datagrams to send back (UDP) or one message (TCP: first item),
    or [] to stay silent. Records every query it gets."""

    def __init__(self, handler, family=socket.AF_INET, host=HOST):
        self.handler = handler
        self.queries = []  # (proto, peer, id, name, type)
        self.stop = threading.Event()
        self.udp = socket.socket(family, socket.SOCK_DGRAM)
        self.tcp = socket.socket(family, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(20):
            port = free_port() if family == socket.AF_INET else 0
            try:
                self.udp.bind((host, port))
                port = self.udp.getsockname()[1]
                self.tcp.bind((host, port))
                break
            except OSError:
                self.udp.close()
                self.udp = socket.socket(family, socket.SOCK_DGRAM)
        self.port = self.udp.getsockname()[1]
        self.tcp.listen(8)
        self.udp.settimeout(0.1)
        self.tcp.settimeout(0.1)
        self.addr = (f"{host}:{self.port}" if family == socket.AF_INET
                     else f"[{host}]:{self.port}")
        self.threads = [threading.Thread(target=self._udp_loop, daemon=True),
                        threading.Thread(target=self._tcp_loop, daemon=True)]
        for t in self.threads:
            t.start()

    def _note(self, proto, peer, data):
        q = parse_query(data)
        if q is not None:
            self.queries.append((proto, peer, q[0], q[1], q[2]))
        return q

    def _udp_loop(self):
        while not self.stop.is_set():
            try:
                data, peer = self.udp.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            q = self._note("udp", peer, data)
            if q is None:
                continue
            for out in self.handler(q, "udp", peer, self):
                self.udp.sendto(out, peer)

    def _tcp_loop(self):
        while not self.stop.is_set():
            try:
                c, peer = self.tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with c:
                c.settimeout(2)
                try:
                    n = struct.unpack(">H", recv_exact(c, 2))[0]
                    data = recv_exact(c, n)
                except (OSError, ValueError):
                    continue
                q = self._note("tcp", peer, data)
                out = self.handler(q, "tcp", peer, self) if q else []
                if out:
                    c.sendall(struct.pack(">H", len(out[0])) + out[0])

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(2)
        self.udp.close()
        self.tcp.close()


def recv_exact(c, n):
    data = b""
    while len(data) < n:
        chunk = c.recv(n - len(data))
        if not chunk:
            raise ValueError("eof")
        data += chunk
    return data


@pytest.fixture
def scripted():
    servers = []

    def start(handler, **kw):
        s = ScriptedDNS(handler, **kw)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.close()


# ---- dnsmasq ---------------------------------------------------------------------

DNSMASQ_RECORDS = [
    "--mx-host=example.test,mx1.example.test,10",
    "--mx-host=example.test,mx2.example.test,20",
    "--host-record=mx1.example.test,127.0.0.2",
    "--host-record=mx2.example.test,127.0.0.3,::3",
    "--mx-host=eq.test,a.eq.test,10",
    "--mx-host=eq.test,b.eq.test,10",
    "--mx-host=eq.test,c.eq.test,20",
    "--host-record=a.eq.test,127.0.0.6",
    "--host-record=b.eq.test,127.0.0.7",
    "--host-record=c.eq.test,127.0.0.8",
    "--host-record=implicit.test,127.0.0.5,::5",
    "--mx-host=noaddr.test,ghost.noaddr.test,10",
    "--txt-record=empty.test,nothing here",
    "--cname=alias.test,mx1.example.test",
    "--mx-host=half.test,ghost.half.test,5",
    "--mx-host=half.test,mx1.example.test,10",
] + [f"--mx-host=many.test,m{i:02d}.many.test,{i}" for i in range(12)] + [
    f"--host-record=m{i:02d}.many.test,127.0.1.{i}" for i in range(12)]


@pytest.fixture(scope="module")
def dnsmasq(tmp_path_factory):
    exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.access(exe, os.X_OK):
        pytest.fail("dnsmasq not installed (Debian package dnsmasq-base)",
                    pytrace=False)
    log = tmp_path_factory.mktemp("dnsmasq") / "dnsmasq.log"
    for _ in range(5):
        port = free_port()
        cmd = [exe, "-d", "-k", "-p", str(port),
               "--listen-address=127.0.0.1", "--bind-interfaces",
               "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
               "--pid-file=", "--user=root", "--local=/test/",
               "--local-ttl=60"] + DNSMASQ_RECORDS
        with open(log, "wb") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        if dnsmasq_ready(port, proc):
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail("dnsmasq did not start: " + log.read_text()[-2000:])
    yield f"{HOST}:{port}"
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def dnsmasq_ready(port, proc):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.1)
    try:
        for _ in range(50):
            if proc.poll() is not None:
                return False
            s.sendto(query("mx1.example.test", T_A), (HOST, port))
            try:
                if s.recv(512):
                    return True
            except socket.timeout:
                pass
        return False
    finally:
        s.close()


# ---- against dnsmasq ----------------------------------------------------------

def test_mx_by_preference(dnsmasq):
    r = resolve("mx", "example.test", servers=[dnsmasq])
    assert r.rc == 0, r
    assert r.lines == ["10 mx1.example.test", "20 mx2.example.test"]


def test_a_aaaa_cname(dnsmasq):
    r = resolve("a", "MX1.Example.Test.", servers=[dnsmasq])
    assert (r.rc, r.lines) == (0, ["127.0.0.2"]), r
    r = resolve("aaaa", "mx2.example.test", servers=[dnsmasq])
    assert (r.rc, r.lines) == (0, ["::3"]), r
    r = resolve("a", "alias.test", servers=[dnsmasq])
    assert (r.rc, r.lines) == (0, ["127.0.0.2"]), r


def test_mxhosts_order(dnsmasq):
    r = resolve("mxhosts", "example.test", servers=[dnsmasq])
    assert r.rc == 0, r
    assert r.lines == ["10 mx1.example.test 127.0.0.2",
                       "20 mx2.example.test 127.0.0.3",
                       "20 mx2.example.test ::3"]
    r = resolve("-6", "mxhosts", "example.test", servers=[dnsmasq])
    assert (r.rc, r.lines) == (0, ["20 mx2.example.test ::3"]), r
    r = resolve("-4", "mxhosts", "example.test", servers=[dnsmasq])
    assert r.lines == ["10 mx1.example.test 127.0.0.2",
                       "20 mx2.example.test 127.0.0.3"], r


def test_equal_preference_randomised(dnsmasq):
    """RFC 5321 5.1: hosts of equal preference in random order; the
    preference order itself never changes."""
    seen = set()
    for _ in range(24):
        r = resolve("mxhosts", "eq.test", servers=[dnsmasq])
        assert r.rc == 0, r
        assert len(r.lines) == 3, r
        first = tuple(line.split()[1] for line in r.lines[:2])
        assert sorted(first) == ["a.eq.test", "b.eq.test"], r
        assert r.lines[2] == "20 c.eq.test 127.0.0.8", r
        seen.add(first)
        if len(seen) == 2:
            break
    assert len(seen) == 2, f"always the same order: {seen}"


def test_implicit_mx(dnsmasq):
    r = resolve("mxhosts", "implicit.test", servers=[dnsmasq])
    assert r.rc == 0, r
    assert r.lines == ["0 implicit.test 127.0.0.5", "0 implicit.test ::5"]
    r = resolve("mx", "implicit.test", servers=[dnsmasq])
    assert (r.rc, r.lines) == (1, ["nodata"]), r


def test_nxdomain(dnsmasq):
    for t in ("mx", "a", "aaaa", "mxhosts"):
        r = resolve(t, "nosuch.test", servers=[dnsmasq])
        assert (r.rc, r.lines) == (1, ["nxdomain"]), r


def test_nodata(dnsmasq):
    r = resolve("a", "example.test", servers=[dnsmasq])
    assert (r.rc, r.lines) == (1, ["nodata"]), r
    # no MX, no address: nowhere to deliver
    r = resolve("mxhosts", "empty.test", servers=[dnsmasq])
    assert (r.rc, r.lines) == (1, ["nodata"]), r
    # an MX host without an address
    r = resolve("mxhosts", "noaddr.test", servers=[dnsmasq])
    assert (r.rc, r.lines) == (1, ["nodata"]), r


def test_unresolvable_host_skipped(dnsmasq):
    r = resolve("mxhosts", "half.test", servers=[dnsmasq])
    assert (r.rc, r.lines) == (0, ["10 mx1.example.test 127.0.0.2"]), r


def test_mx_hosts_bounded(dnsmasq):
    r = resolve("mx", "many.test", servers=[dnsmasq])
    assert r.rc == 0 and len(r.lines) == 12, r
    r = resolve("mxhosts", "many.test", servers=[dnsmasq])
    assert r.rc == 0, r
    assert [line.split()[1] for line in r.lines] == \
        [f"m{i:02d}.many.test" for i in range(10)], r


def test_bad_input(dnsmasq):
    r = resolve("a", "a..b", servers=[dnsmasq])
    assert (r.rc, r.lines) == (1, ["bad-name"]), r
    r = resolve("a", "x" * 64 + ".test", servers=[dnsmasq])
    assert (r.rc, r.lines) == (1, ["bad-name"]), r
    r = resolve("txt", "example.test", servers=[dnsmasq])
    assert r.rc == 64, r
    r = resolve("a", servers=[dnsmasq])
    assert r.rc == 64, r
    r = resolve("a", "x.test", servers=["not-an-address"])
    assert r.rc == 64, r


def test_no_nameserver(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# nothing\nsearch test\n")
    r = resolve("-f", str(conf), "a", "x.test")
    assert r.rc == 2 and "no nameserver" in r.err, r


# ---- against scripted servers ----------------------------------------------------

def test_null_mx(scripted):
    def handler(q, proto, peer, srv):
        if q[2] == T_MX:
            return [answer(q, [rr(b"\xc0\x0c", T_MX, 300, mx_rdata(0, "."))])]
        return [answer(q, authority=[soa("test")])]
    s = scripted(handler)
    r = resolve("mxhosts", "nomail.test", servers=[s.addr])
    assert (r.rc, r.lines) == (1, ["null-mx"]), r
    r = resolve("mx", "nomail.test", servers=[s.addr])
    assert (r.rc, r.lines) == (1, ["null-mx"]), r
    # no address lookups after a null MX
    assert [q for q in s.queries if q[4] != T_MX] == []


def test_truncated_answer_goes_tcp(scripted):
    """RFC 7766: TC over UDP, the same server again over TCP; the long
    answer (more than 512 octets) comes whole."""
    hosts = [f"mail-exchanger-number-{i:02d}.long-domain-name.test"
             for i in range(14)]

    def handler(q, proto, peer, srv):
        if proto == "udp":
            return [answer(q, tc=True)]
        return [answer(q, [rr(b"\xc0\x0c", T_MX, 60, mx_rdata(i, h))
                           for i, h in enumerate(hosts)])]
    s = scripted(handler)
    r = resolve("mx", "big.test", servers=[s.addr])
    assert r.rc == 0, r
    assert r.lines == [f"{i} {h}" for i, h in enumerate(hosts)]
    assert [q[0] for q in s.queries] == ["udp", "tcp"]


def test_silent_server_then_next(scripted, dnsmasq):
    silent = scripted(lambda q, proto, peer, srv: [])
    r = resolve("mx", "example.test", servers=[silent.addr, dnsmasq],
                timeout_ms=300)
    assert r.rc == 0, r
    assert r.lines == ["10 mx1.example.test", "20 mx2.example.test"]
    assert r.elapsed >= 0.3, r
    assert len(silent.queries) == 1


def test_all_silent_times_out(scripted):
    silent = scripted(lambda q, proto, peer, srv: [])
    r = resolve("a", "x.test", servers=[silent.addr], timeout_ms=200,
                rounds=2)
    assert (r.rc, r.lines) == (2, ["timeout"]), r
    # two rounds, the second with a doubled time-out
    assert len(silent.queries) == 2
    assert r.elapsed >= 0.6, r


def test_wrong_ids_ignored(scripted):
    """Answers with another id (or to another question) are not answers:
    the real one after them is taken."""
    def handler(q, proto, peer, srv):
        good = answer(q, [rr(b"\xc0\x0c", T_A, 60, bytes([192, 0, 2, 1]))])
        spoof = answer(q, [rr(b"\xc0\x0c", T_A, 60, bytes([6, 6, 6, 6]))],
                       qid=(q[0] + 1) & 0xffff)
        other = answer(parse_query(query("other.test", T_A, q[0])),
                       [rr(b"\xc0\x0c", T_A, 60, bytes([6, 6, 6, 7]))])
        return [spoof, other, b"\x00" * 3, good]
    s = scripted(handler)
    r = resolve("a", "x.test", servers=[s.addr])
    assert (r.rc, r.lines) == (0, ["192.0.2.1"]), r


def test_only_wrong_ids_time_out(scripted, dnsmasq):
    def handler(q, proto, peer, srv):
        return [answer(q, [rr(b"\xc0\x0c", T_A, 60, bytes([6, 6, 6, 6]))],
                       qid=q[0] ^ 0x8000)]
    s = scripted(handler)
    r = resolve("a", "mx1.example.test", servers=[s.addr, dnsmasq],
                timeout_ms=300)
    assert (r.rc, r.lines) == (0, ["127.0.0.2"]), r
    assert r.elapsed >= 0.3, r


def test_answer_from_other_port_ignored(scripted):
    """The client's socket is connected to the server: a datagram from
    another port, even with the right id, never reaches it."""
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind((HOST, 0))

    def handler(q, proto, peer, srv):
        other.sendto(answer(q, [rr(b"\xc0\x0c", T_A, 60,
                                   bytes([6, 6, 6, 6]))]), peer)
        return []
    try:
        s = scripted(handler)
        r = resolve("a", "x.test", servers=[s.addr], timeout_ms=300,
                    rounds=1)
        assert (r.rc, r.lines) == (2, ["timeout"]), r
    finally:
        other.close()


def test_garbage_then_next_server(scripted, dnsmasq):
    """Garbage with the right id and question is a malformed answer from
    the server itself: on to the next server at once."""
    def handler(q, proto, peer, srv):
        bad = struct.pack(">HHHHHH", q[0], 0x8180, 1, 9, 0, 0) + q[3] + \
            b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\xff\x01"
        return [os.urandom(40), bad]
    s = scripted(handler)
    r = resolve("a", "mx1.example.test", servers=[s.addr, dnsmasq],
                timeout_ms=2000)
    assert (r.rc, r.lines) == (0, ["127.0.0.2"]), r
    assert r.elapsed < 1.5, r


def test_servfail_then_next_server(scripted, dnsmasq):
    failing = scripted(lambda q, proto, peer, srv: [answer(q, rcode=2)])
    r = resolve("mxhosts", "example.test", servers=[failing.addr, dnsmasq],
                timeout_ms=2000)
    assert r.rc == 0, r
    assert r.lines[0] == "10 mx1.example.test 127.0.0.2"
    assert r.elapsed < 1.5, r
    r = resolve("mxhosts", "example.test", servers=[failing.addr])
    assert (r.rc, r.lines) == (2, ["servfail"]), r


def test_refused_port_then_next_server(dnsmasq):
    closed = free_port()
    r = resolve("a", "mx1.example.test",
                servers=[f"{HOST}:{closed}", dnsmasq], timeout_ms=2000)
    assert (r.rc, r.lines) == (0, ["127.0.0.2"]), r
    assert r.elapsed < 1.5, r


def test_random_ids_and_ports(scripted):
    def handler(q, proto, peer, srv):
        return [answer(q, [rr(b"\xc0\x0c", T_A, 60, bytes([192, 0, 2, 9]))])]
    s = scripted(handler)
    for _ in range(6):
        r = resolve("a", "x.test", servers=[s.addr])
        assert (r.rc, r.lines) == (0, ["192.0.2.9"]), r
    ids = [q[2] for q in s.queries]
    ports = [q[1][1] for q in s.queries]
    assert len(set(ids)) >= 5, ids
    assert len(set(ports)) >= 5, ports


def test_ipv6_server(scripted):
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback")

    def handler(q, proto, peer, srv):
        return [answer(q, [rr(b"\xc0\x0c", T_AAAA, 60,
                              socket.inet_pton(socket.AF_INET6,
                                               "2001:db8::25"))])]
    s = scripted(handler, family=socket.AF_INET6, host="::1")
    r = resolve("aaaa", "x.test", servers=[s.addr])
    assert (r.rc, r.lines) == (0, ["2001:db8::25"]), r


def test_mx_with_cname_and_nxdomain_hosts(scripted):
    """A CNAME'd MX host is followed; a host that does not exist is
    skipped; the domain still resolves."""
    def handler(q, proto, peer, srv):
        _, name, qtype, _ = q
        if name == "d.test" and qtype == T_MX:
            return [answer(q, [
                rr(b"\xc0\x0c", T_MX, 60, mx_rdata(10, "gone.d.test")),
                rr(b"\xc0\x0c", T_MX, 60, mx_rdata(20, "alias.d.test"))])]
        if name == "alias.d.test" and qtype == T_A:
            return [answer(q, [
                rr(b"\xc0\x0c", T_CNAME, 60, wire("real.d.test")),
                rr("real.d.test", T_A, 60, bytes([192, 0, 2, 20]))])]
        if name == "gone.d.test":
            return [answer(q, rcode=3, authority=[soa("d.test")])]
        return [answer(q, authority=[soa("d.test")])]
    s = scripted(handler)
    r = resolve("mxhosts", "d.test", servers=[s.addr])
    assert (r.rc, r.lines) == (0, ["20 alias.d.test 192.0.2.20"]), r
