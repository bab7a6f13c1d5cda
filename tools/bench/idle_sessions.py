#!/usr/bin/python3
"""Memory with N idle connected sessions (default 1000).

    tools/bench/idle_sessions.py [--tern BIN] [--sessions N] [--postfix]

Starts tern on a scratch configuration on loopback, opens N connections,
waits for every greeting, and reports the tern process's RSS and PSS
(from /proc/PID/smaps_rollup), before and with the sessions, and per
session. With --postfix it does the same against Debian's Postfix
(master + smtpd processes, summed PSS), when postfix is installed.
"""
import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mem_kib(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("Rss:", "Pss:"):
                out[parts[0][:-1]] = int(parts[1])
    return out


def open_sessions(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(s)
    for s in socks:
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(512)
            if not chunk:
                raise SystemExit("connection closed before the greeting")
            data += chunk
        if not data.startswith(b"220"):
            raise SystemExit("no greeting: %r" % data)
    return socks


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--tern", default=os.path.join(here, "../../output/x86_64/tern"))
    ap.add_argument("--sessions", type=int, default=1000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        conf = os.path.join(tmp, "tern.conf")
        with open(conf, "w") as f:
            f.write("hostname bench.test\nspool %s/spool\ndrop %s/drop\n"
                    "badmail %s/badmail\nmax-sessions %d\n"
                    "domain localhost {\n mailbox postmaster\n}\n"
                    "server default {\n listen 127.0.0.1:%d\n}\n"
                    % (tmp, tmp, tmp, args.sessions + 24, port))
        p = subprocess.Popen([args.tern, "-c", conf], stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            time.sleep(0.2)
            before = mem_kib(p.pid)
            socks = open_sessions(port, args.sessions)
            time.sleep(0.3)
            after = mem_kib(p.pid)
            for s in socks:
                s.close()
        finally:
            p.terminate()
            p.wait(5)
    n = args.sessions
    print("tern idle sessions=%d" % n)
    print("  before: rss=%d KiB pss=%d KiB" % (before["Rss"], before["Pss"]))
    print("  with sessions: rss=%d KiB (%.2f MiB) pss=%d KiB" % (
        after["Rss"], after["Rss"] / 1024.0, after["Pss"]))
    print("  per session: %.2f KiB rss" % ((after["Rss"] - before["Rss"]) / n))


if __name__ == "__main__":
    sys.exit(main())
