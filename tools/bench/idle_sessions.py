#!/usr/bin/python3
"""Memory with N idle connected SMTP sessions (default 1000), tern vs Postfix.

    tools/bench/idle_sessions.py [--tern BIN] [--sessions N] [--no-postfix]
                                 [--postfix-root DIR] [--keep-log FILE]

tern: starts tern on a scratch configuration on 127.0.0.1, opens N
connections, waits for every 220 greeting, and reports the tern process's
RSS and PSS (from /proc/PID/smaps_rollup) before and with the sessions, and
per session.

Postfix (skipped with --no-postfix; needs root): in the same run, does the
same against Debian's Postfix package and prints the ratios Postfix/tern of
PSS and RSS with the sessions open; the last line is
`ratio: postfix/tern pss=NNNx rss=NNNx`.

Which Postfix: --postfix-root DIR (a tree holding usr/lib/postfix/sbin and
usr/sbin, "/" for an installed package); else the installed package if
/usr/lib/postfix/sbin/master exists; else the Debian binary package is
fetched with `apt-get download postfix` and unpacked with `dpkg-deb -x` into
output/bench/postfix/ (reused by later runs; `apt-get install` is run only
for missing runtime libraries listed in the package's Depends). The package
is never installed by this script, so /etc/postfix, the system's users and
other MTAs (exim4) are left alone.

How Postfix runs: `master -c CONF -d -s` in the foreground with
LD_LIBRARY_PATH=ROOT/usr/lib/postfix (imported into the daemons via
import_environment) and a scratch config, queue and data directory in a
temp dir. master.cf has only smtpd on 127.0.0.1:PORT (process limit N+10,
no chroot, no postscreen, no TLS) and postlogd (maillog_file = /dev/stdout,
so Postfix's log lands in a file; it is shown on failure). main.cf sets
default_process_limit = N+10, smtpd_client_connection_count_limit = 0,
smtpd_client_connection_rate_limit = 0, smtpd_peername_lookup = no and an
empty local_recipient_maps (so smtpd needs neither anvil nor proxymap), so
every connection gets its own smtpd process and greeting. mail_owner is
"postfix" when that user exists, else "nobody" (no user is created).
Memory is summed over the master and every process descending from it
(master, postlogd, N smtpd): the PSS sum is the instance's real share; the
RSS sum counts shared pages once per process, as `ps` totals do. Afterwards
the master gets SIGTERM (which it passes on to its children, like `postfix
abort`); the bench is a child subreaper, so the daemons it orphans are
reaped here; survivors (any process whose cwd is the scratch queue
directory) are killed by pid, and the temp dir is removed.
"""
import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (REPO, become_subreaper, find_postfix,  # noqa: E402
                      free_port, listening, postfix_scratch, stop_tree, tree)


def mem_kib(pid):
    out = {"Rss": 0, "Pss": 0}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("Rss:", "Pss:"):
                out[parts[0][:-1]] = int(parts[1])
    return out


def open_sessions(port, n, timeout=60):
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            socks.append(s)
        for s in socks:
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(512)
                if not chunk:
                    raise RuntimeError("connection %d closed before the greeting"
                                       % (socks.index(s) + 1))
                data += chunk
            if not data.startswith(b"220"):
                raise RuntimeError("no greeting: %r" % data)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def tree_mem(root_pid):
    """Summed Rss/Pss (KiB) and per-program process counts of a process tree."""
    total = {"Rss": 0, "Pss": 0}
    counts = {}
    for pid, comm in tree(root_pid).items():
        try:
            m = mem_kib(pid)
        except (OSError, ProcessLookupError):
            continue  # exited meanwhile
        total["Rss"] += m["Rss"]
        total["Pss"] += m["Pss"]
        counts[comm] = counts.get(comm, 0) + 1
    total["procs"] = sum(counts.values())
    total["counts"] = counts
    return total


# --------------------------------------------------------------------- tern

def run_tern(binary, n):
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        conf = os.path.join(tmp, "tern.conf")
        with open(conf, "w") as f:
            f.write("hostname bench.test\nspool %s/spool\ndrop %s/drop\n"
                    "badmail %s/badmail\nmax-sessions %d\n"
                    "domain localhost {\n mailbox postmaster\n}\n"
                    "server default {\n listen 127.0.0.1:%d\n}\n"
                    % (tmp, tmp, tmp, n + 24, port))
        p = subprocess.Popen([binary, "-c", conf], stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            time.sleep(0.2)
            before = mem_kib(p.pid)
            socks = open_sessions(port, n)
            time.sleep(0.3)
            after = mem_kib(p.pid)
            for s in socks:
                s.close()
        finally:
            p.terminate()
            p.wait(5)
    return before, after


# ------------------------------------------------------------------ Postfix

def write_postfix_conf(tmp, root, port, n):
    conf, queue, head, _ = postfix_scratch(tmp, root)
    limit = n + 10
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write(head + """\
maillog_file = /dev/stdout
myhostname = bench.test
mydomain = bench.test
mydestination = localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
default_process_limit = {limit}
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_peername_lookup = no
local_recipient_maps =
""".format(limit=limit))
    with open(os.path.join(conf, "master.cf"), "w") as f:
        f.write("127.0.0.1:%d inet n - n - %d smtpd\n"
                "postlog unix-dgram n - n - 1 postlogd\n" % (port, limit))
    open(os.path.join(conf, "dynamicmaps.cf"), "w").close()
    return conf, queue


def run_postfix(args, n):
    if os.geteuid() != 0:
        raise RuntimeError("the Postfix comparison needs root (or --no-postfix)")
    root, desc = find_postfix(args)
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(root, "usr/lib/postfix"))
    become_subreaper()
    with tempfile.TemporaryDirectory(prefix="bench-postfix.") as tmp:
        port = free_port()
        conf, queue = write_postfix_conf(tmp, root, port, n)
        log_path = os.path.join(tmp, "maillog")
        log = open(log_path, "w")
        master = subprocess.Popen(
            [os.path.join(root, "usr/lib/postfix/sbin/master"), "-c", conf, "-d", "-s"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, cwd=tmp)
        seen = set()
        socks = []
        try:
            for _ in range(200):
                if listening(port) or master.poll() is not None:
                    break
                time.sleep(0.05)
            if master.poll() is not None or not listening(port):
                raise RuntimeError(
                    "Postfix master did not start (exit %s); its errors before "
                    "postlogd runs go to syslog only (try strace -f)" % master.poll())
            time.sleep(0.5)  # postlogd starts on the master's first log line
            before = tree_mem(master.pid)
            t0 = time.time()
            socks = open_sessions(port, n)
            greet_s = time.time() - t0
            time.sleep(0.5)
            seen.update(tree(master.pid))
            after = tree_mem(master.pid)
            smtpd = after["counts"].get("smtpd", 0)
            if smtpd < n:
                raise RuntimeError("only %d smtpd processes for %d sessions" % (smtpd, n))
        except BaseException:
            log.flush()
            with open(log_path) as f:
                sys.stderr.write("--- Postfix log:\n" + f.read()[-4000:])
            raise
        finally:
            for s in socks:
                s.close()
            seen.update(tree(master.pid))
            stop_tree(master, seen, queue)
            log.close()
            if args.keep_log:
                shutil.copyfile(log_path, args.keep_log)
    return desc, before, after, greet_s


# --------------------------------------------------------------------- main

def ratio(a, b):
    r = a / float(b)
    return "%.0fx" % r if r >= 100 else "%.1fx" % r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tern", default=os.path.join(REPO, "output/x86_64/tern"))
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--no-postfix", action="store_true",
                    help="measure tern only")
    ap.add_argument("--postfix-root",
                    help="tree with usr/lib/postfix/sbin and usr/sbin ('/' if installed)")
    ap.add_argument("--keep-log", help="copy Postfix's log to this file")
    args = ap.parse_args()
    n = args.sessions
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * n + 256  # tern and the bench share the limit; Postfix's master inherits it
    if hard != resource.RLIM_INFINITY and hard < want:
        sys.exit("RLIMIT_NOFILE hard limit %d is below %d for %d sessions" % (hard, want, n))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, max(want, 65536))), hard))

    before, after = run_tern(args.tern, n)
    print("tern idle sessions=%d" % n)
    print("  before: rss=%d KiB pss=%d KiB" % (before["Rss"], before["Pss"]))
    print("  with sessions: rss=%d KiB (%.2f MiB) pss=%d KiB" % (
        after["Rss"], after["Rss"] / 1024.0, after["Pss"]))
    print("  per session: %.2f KiB rss, %.2f KiB pss" % (
        (after["Rss"] - before["Rss"]) / n, (after["Pss"] - before["Pss"]) / n))
    sys.stdout.flush()
    if args.no_postfix:
        return 0

    desc, pbefore, pafter, greet_s = run_postfix(args, n)
    print("postfix idle sessions=%d (%s; master -d, smtpd per connection)" % (n, desc))
    print("  before: processes=%d rss=%d KiB pss=%d KiB" % (
        pbefore["procs"], pbefore["Rss"], pbefore["Pss"]))
    print("  with sessions: processes=%d (%s) rss=%d KiB (%.2f MiB, summed) "
          "pss=%d KiB (%.2f MiB)" % (
              pafter["procs"],
              " ".join("%s=%d" % kv for kv in sorted(pafter["counts"].items())),
              pafter["Rss"], pafter["Rss"] / 1024.0,
              pafter["Pss"], pafter["Pss"] / 1024.0))
    print("  per session: %.2f KiB rss, %.2f KiB pss (all greeted in %.1f s)" % (
        (pafter["Rss"] - pbefore["Rss"]) / n, (pafter["Pss"] - pbefore["Pss"]) / n,
        greet_s))
    print("ratio: postfix/tern pss=%s rss=%s" % (
        ratio(pafter["Pss"], after["Pss"]), ratio(pafter["Rss"], after["Rss"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
