#!/usr/bin/python3
"""STARTTLS handshakes per second on one core, and memory per TLS session.

    tools/bench/tls_handshake.py [--tern BIN] [--kind rsa|ecdsa]
                                 [--version 1.2|1.3] [--count N]
                                 [--threads T] [--idle N]

Starts tern on a scratch configuration on 127.0.0.1 with a self-signed
certificate made by openssl (RSA 2048 or ECDSA P-256), pins it to one CPU,
and runs T client threads (Python's ssl, no verification) that each
connect, read the greeting, say EHLO, STARTTLS, do the handshake, EHLO
again and QUIT, N times in all. tern's CPU time (utime+stime from
/proc/PID/stat) over the run gives the rate per core:

    handshakes: N in S s wall, C s tern CPU
    rate: H handshakes/s per core (tern, TLSv1.3, rsa)

With --idle N (0 to skip; default 200) it then opens N idle cleartext
sessions (past EHLO), reads tern's RSS, closes them, opens N idle TLS
sessions (past STARTTLS and the second EHLO), reads RSS again, and prints
the difference per session:

    memory: rss-cleartext=A KiB rss-tls=B KiB per-tls-session=D KiB
"""
import argparse
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def make_cert(d, kind):
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    newkey = ["-newkey", "rsa:2048"] if kind == "rsa" else \
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-keyout",
                    key, "-out", cert, "-days", "2", "-subj", "/CN=bench"],
                   check=True, capture_output=True)
    return cert, key


def start_tern(binary, d, port, cert, key, sessions):
    conf = os.path.join(d, "tern.conf")
    with open(conf, "w") as f:
        f.write(f"hostname bench.test\nspool {d}/spool\ndrop {d}/drop\n"
                f"badmail {d}/bad\nlog-level warn\n"
                f"max-sessions {sessions}\n"
                "domain localhost { mailbox postmaster }\n"
                f"server default {{\n    listen 127.0.0.1:{port}\n"
                f"    max-connections {sessions}\n"
                f"    tls cert {cert} key {key}\n}}\n")
    p = subprocess.Popen([binary, "-c", conf], stderr=subprocess.DEVNULL)
    if not bl.wait_for(lambda: bl.listening(port), 10):
        p.kill()
        sys.exit("tern did not start")
    return p


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def reply(self):
        while True:
            lines = self.buf.split(b"\r\n")
            for k, ln in enumerate(lines[:-1]):
                if len(ln) >= 4 and ln[3:4] == b" ":
                    rest = b"\r\n".join(lines[k + 1:])
                    self.buf = rest
                    return int(ln[:3])
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.buf += data

    def cmd(self, line, want):
        self.sock.sendall(line + b"\r\n")
        code = self.reply()
        if code != want:
            raise RuntimeError(f"{line!r}: {code}")

    def starttls(self, ctx):
        self.reply()
        self.cmd(b"EHLO bench.client", 250)
        self.cmd(b"STARTTLS", 220)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="bench")
        self.cmd(b"EHLO bench.client", 250)


def context(version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    return ctx


def handshakes(port, ctx, count, threads):
    left = [count]
    lock = threading.Lock()
    errors = []

    def work():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                c = Client(port)
                c.starttls(ctx)
                c.cmd(b"QUIT", 221)
                c.sock.close()
            except Exception as e:     # noqa: BLE001 (reported below)
                errors.append(repr(e))
                return

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        sys.exit(f"client errors: {errors[:3]}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def idle_memory(pid, port, ctx, n):
    """RSS with n idle cleartext sessions, then with n idle TLS sessions."""
    out = []
    for tls in (False, True):
        conns = []
        for _ in range(n):
            c = Client(port)
            if tls:
                c.starttls(ctx)
            else:
                c.reply()
                c.cmd(b"EHLO bench.client", 250)
            conns.append(c)
        time.sleep(0.5)
        out.append(rss_kib(pid))
        for c in conns:
            c.sock.close()
        time.sleep(1.0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tern", default=os.path.join(bl.REPO,
                                                   "output/x86_64/tern"))
    ap.add_argument("--kind", choices=("rsa", "ecdsa"), default="rsa")
    ap.add_argument("--version", choices=("1.2", "1.3"), default="1.3")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--idle", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tern-tlsbench.") as d:
        cert, key = make_cert(d, args.kind)
        port = bl.free_port()
        p = start_tern(args.tern, d, port, cert, key, max(args.idle, 64) + 16)
        try:
            os.sched_setaffinity(p.pid, {min(os.sched_getaffinity(0))})
            ctx = context(args.version)
            handshakes(port, ctx, 20, 2)            # warm up
            cpu0, t0 = bl.proc_cpu(p.pid), time.monotonic()
            handshakes(port, ctx, args.count, args.threads)
            cpu, wall = bl.proc_cpu(p.pid) - cpu0, time.monotonic() - t0
            print(f"handshakes: {args.count} in {wall:.2f} s wall, "
                  f"{cpu:.2f} s tern CPU")
            print(f"rate: {args.count / max(cpu, 0.01):.0f} handshakes/s per "
                  f"core (tern, TLSv{args.version}, {args.kind})")
            if args.idle > 0:
                plain, tls = idle_memory(p.pid, port, ctx, args.idle)
                print(f"memory: sessions={args.idle} rss-cleartext={plain} KiB"
                      f" rss-tls={tls} KiB per-tls-session="
                      f"{(tls - plain) / args.idle:.1f} KiB")
        finally:
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    main()
