#!/usr/bin/python3
"""Acceptance throughput with smtp-source: the ceiling, tern and Postfix.

    tools/bench/accept.py [--quick] [--no-postfix] [--tern BIN]
                          [--sessions 1,20,100] [--modes 1,d] [--sizes 1K,100K]
                          [--scale F] [--postfix-root DIR] [--tmpdir DIR]
                          [--timeout S] [--drain-timeout S] [--settle S]
                          [--keep]

One run measures, for every cell of the matrix sessions (1, 20, 100) x
messages per connection (one; many, smtp-source -d) x message size (1 KiB,
100 KiB of payload, smtp-source -l), three receivers fed by the same
smtp-source command line, each started fresh for the cell:

- ceiling: smtp-sink (no MTA, nothing stored): what the client and the
  loopback can do on this machine.
- tern: on a scratch configuration (a fresh spool, drop and badmail in a
  temp dir on the disk of the repository, not tmpfs, so fdatasync is real;
  max-messages 0, max-errors 0). Every accepted message is journaled
  (group commit, the 250 after the fdatasync) and delivered by the local
  agent into DROP/localhost/postmaster/new/, one fsynced file each.
- postfix: Debian's package, run from its unpacked .deb like
  idle_sessions.py does (master -d in the foreground, scratch config, queue
  and data directories; smtpd -> cleanup -> incoming queue, fsynced by
  cleanup; qmgr hands each message to the discard transport, so nothing is
  delivered and the queue file is removed). master.cf: smtpd on
  127.0.0.1:PORT, pickup, cleanup, qmgr, trivial-rewrite, bounce/defer/
  trace, verify, flush, proxymap, anvil, scache, discard, error/retry,
  postlogd; otherwise Postfix's defaults (in_flow_delay 1s included).

Each receiver first takes 20 warm-up messages (one session) and then the
measured run: `smtp-source -A -c -s S -m N -l SIZE [-d] -M bench.client
-f postmaster@localhost -t postmaster@localhost 127.0.0.1:PORT`. With -d
a connection carries messages until the N are sent, N/S on average; the
counts are chosen so that this is at least 100 (the table shows it):
1 KiB: 2,000 with 1 session, else 5,000 (one per connection) or 10,000
(-d); 100 KiB: 1,000 with 1 session, else 2,000, and 10,000 for 100
sessions with -d. -A lets smtp-source go on after a refusal (a refused
message still counts toward -m; -c counts the completed ones); the
refusals are counted and shown, and rates count accepted messages only:
msg/s = accepted messages / wall time of the smtp-source process.

For tern, after smtp-source ends the bench waits until every accepted
message is in the drop directory and the queue is empty, then stops tern
with SIGTERM and reads /proc/PID/stat and /proc/PID/io of the exited
(not yet reaped) process, so the journal's last records are included:
- fsync/msg: journal-syncs / accepted (ternctl stats after the warm-up,
  the `queue stats` line tern logs at exit after the run); the local
  agent's fsync of each drop file is not in this count;
- CPU: utime+stime of the tern process (all threads), warm-up excluded,
  acceptance and delivery included; per message and per 10,000 messages;
  also of the main thread alone (SMTP and journal records), and in the
  notes per thread (this version has three: main, the journal writer, the
  local delivery worker, named here by creation order);
- write amplification: write_bytes of /proc/PID/io per byte of message
  accepted (the size= of tern's `accepted` log lines): total (journal +
  drop files + anything else tern wrote) and journal only
  (journal-bytes-written / message bytes). write_bytes counts page-cache
  pages dirtied, so a 1 KiB drop file counts 4 KiB.
For Postfix: accepted = qmgr's `(queue active)` log lines, and CPU = utime+
stime summed over the master and every daemon (the live ones plus the
master's reaped children, cutime+cstime), warm-up excluded, up to the
moment the queue is empty again. A receiver that has not finished after
--drain-timeout seconds (default 120) is measured as it is, and says so.

The machine is shared: before each measured run the bench waits (up to
--settle seconds, default 20) for half a second in which processes that
are not its own use less than 0.2 CPUs, and while smtp-source runs that
foreign CPU (/proc/stat minus the bench's own tree) is measured and noted
when it exceeds 0.15 CPUs. The `mkfile` column is the
kernel CPU per small-file creation in the scratch tree just before the
cell: on ext4 without a journal (as here) inode allocation skips inodes
freed in the last seconds to minutes at a cost that grows with their
number, which slows every file-per-message path (tern's local delivery,
Postfix's queue files); so the per-cell directories are only removed at
the end.

--quick runs a small subset (see QUICK); --no-postfix skips Postfix;
--sessions/--modes/--sizes choose a custom matrix; --scale multiplies the
message counts. Everything listens on 127.0.0.1 only; every process the
bench starts is stopped and the scratch directory removed at the end
(--keep keeps it, with the logs). Postfix needs root.
"""
import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (CLK, bench_args, bench_banner,  # noqa: E402
                      bench_cells, bench_start, fmt, free_port, listening,
                      loadavg, log, own_cpu, postfix_scratch,
                      proc_cpu, ratio, stop_tree, tree, tree_cpu, wait_for)

SIZES = {"1K": 1024, "100K": 102400}
WARMUP = 20
QUICK = [(1, "d", "1K"), (20, "1", "1K"), (20, "d", "1K"), (20, "d", "100K")]
SENDER = RCPT = "postmaster@localhost"


def cell_count(sessions, mode, size, scale, quick):
    """Messages for one cell: a few seconds, and >= 100 per connection with -d."""
    big = size > 4096
    if quick:
        n = 1000 if big else 2000
    elif sessions == 1:
        n = 1000 if big else 2000
    else:
        n = 2000 if big else (10000 if mode == "d" else 5000)
    n = max(1, int(n * scale))
    if mode == "d":
        n = max(n, 100 * sessions)
    return n


def thread_cpu(pid):
    """{tid: (comm, cpu seconds)} for every thread of pid."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(tid)] = (stat[stat.index("(") + 1:stat.rindex(")")],
                         (int(fields[11]) + int(fields[12])) / float(CLK))
    return out


def thread_names(pid, thr0, thr1):
    """CPU per thread over the run, named: in this version tern starts the
    journal writer thread, then the local delivery worker (all are "tern")."""
    tids = sorted(thr1)
    roles = {}
    if [thr1[t][0] for t in tids] == ["tern"] * 3 and tids[0] == pid:
        roles = {tids[0]: "main", tids[1]: "journal-writer", tids[2]: "delivery"}
    return ["%s %.2f" % (roles.get(t, "%s[%d]" % (thr1[t][0], t)),
                         thr1[t][1] - thr0.get(t, ("", 0.0))[1]) for t in tids]


def machine_busy():
    """CPU seconds spent by the whole machine (all CPUs, not idle/iowait/steal)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:8]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / float(CLK)


def proc_io(pid):
    try:
        with open("/proc/%d/io" % pid) as f:
            return dict((k, int(v)) for k, v in
                        (line.split(":") for line in f if ":" in line))
    except OSError:
        return None


# ---------------------------------------------------------------- smtp-source

SETTLE = {"max": 20.0}  # seconds to wait for a quiet machine (--settle)


def settle():
    """Wait (up to SETTLE) for 0.5 s in which other processes use < 0.2 CPUs;
    returns the seconds waited, or None if the machine never got quiet."""
    t0 = time.monotonic()
    while True:
        busy0, own0 = machine_busy(), own_cpu()
        time.sleep(0.5)
        if (machine_busy() - busy0) - (own_cpu() - own0) < 0.1:
            return time.monotonic() - t0
        if time.monotonic() - t0 > SETTLE["max"]:
            return None


def smtp_source(tools, port, sessions, mode, size, n, timeout, quiet=False):
    """Run smtp-source once; returns elapsed, sent count, refusal warnings."""
    waited = settle() if quiet and SETTLE["max"] > 0 else 0.0
    cmd = [tools.source, "-A", "-c", "-s", str(sessions), "-m", str(n),
           "-l", str(size), "-M", "bench.client", "-f", SENDER, "-t", RCPT]
    if mode == "d":
        cmd.append("-d")
    cmd.append("127.0.0.1:%d" % port)
    busy0, own0 = machine_busy(), own_cpu()
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=tools.env)
    stalled = False
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stalled = True
        p.kill()
        out, err = p.communicate()
    elapsed = time.monotonic() - t0
    # CPU used meanwhile by processes that are not the bench's: other work
    # on the machine competes with what is measured
    foreign = (machine_busy() - busy0) - (own_cpu() - own0)
    counts = [int(x) for x in re.findall(rb"(\d+)\r", out)]
    warnings = collections.Counter()
    for line in err.decode("utf-8", "replace").splitlines():
        line = line.replace(tools.source + ": ", "smtp-source: ", 1)
        warnings[line] += 1
    return {"elapsed": elapsed, "sent": counts[-1] if counts else 0,
            "rc": p.returncode, "stalled": stalled, "warnings": warnings,
            "foreign": foreign / elapsed if elapsed > 0 else 0.0,
            "settled": waited,
            "cmd": " ".join(["smtp-source"] + cmd[1:])}


def refusals(warnings):
    return sum(c for w, c in warnings.items() if "rejected" in w)


# --------------------------------------------------------------------- ceiling

def run_ceiling(tools, cell, base, timeout):
    port = free_port()
    sink_log = open(os.path.join(base, "smtp-sink.log"), "w")
    cmd = [tools.sink]
    if os.geteuid() == 0:
        cmd += ["-u", "nobody"]
    cmd += ["127.0.0.1:%d" % port, "1024"]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sink_log,
                         stderr=subprocess.STDOUT, env=tools.env)
    try:
        if not wait_for(lambda: listening(port) or p.poll() is not None, 10) \
                or p.poll() is not None:
            raise RuntimeError("smtp-sink did not start")
        smtp_source(tools, port, 1, "1", cell["size"], WARMUP, timeout)
        r = smtp_source(tools, port, cell["sessions"], cell["mode"],
                        cell["size"], cell["n"], timeout, quiet=True)
    finally:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        sink_log.close()
    r["accepted"] = r["sent"]
    r["rate"] = r["accepted"] / r["elapsed"] if r["elapsed"] > 0 else 0.0
    return r


# ------------------------------------------------------------------------ tern

NORMAL = re.compile(
    r" smtp in (connect client=|disconnect reason=closed messages=\d+ errors=0$"
    r"|id=\S+ accepted )| queue rcpt=\d+ status=delivered$"
    r"| queue recovered | smtp listen | tern \S+ started | shutdown signal="
    r"| queue stats | tern stopped$")
ACCEPTED = re.compile(r" accepted .* size=(\d+)")
EXIT_STATS = re.compile(r"queue stats journal-bytes=(\d+) syncs=(\d+) commits=(\d+)")


class TernLog(threading.Thread):
    """Reads tern's stderr: counts accepted messages and their bytes, keeps
    every line that is not routine (normalised, counted) and the exit stats."""

    def __init__(self, stream, path):
        threading.Thread.__init__(self, daemon=True)
        self.stream = stream
        self.copy = open(path, "wb")  # the whole log, for --keep
        self.mu = threading.Lock()
        self.accepted = 0
        self.bytes = 0
        self.delivered = 0
        self.odd = collections.Counter()
        self.odd_example = {}
        self.exit_stats = None
        self.tail = collections.deque(maxlen=8)

    def run(self):
        rest = b""
        fd = self.stream.fileno()
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            self.copy.write(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            self.feed(lines)
        if rest:
            self.feed([rest])
        self.copy.close()

    def feed(self, lines):
        with self.mu:
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                self.tail.append(line)
                m = ACCEPTED.search(line)
                if m:
                    self.accepted += 1
                    self.bytes += int(m.group(1))
                    continue
                if line.endswith("status=delivered"):
                    self.delivered += 1
                    continue
                m = EXIT_STATS.search(line)
                if m:
                    self.exit_stats = tuple(int(x) for x in m.groups())
                if NORMAL.search(line):
                    continue
                key = re.sub(r"^\S+ ", "", line)  # the time stamp
                key = re.sub(r"\b[0-9a-f]{10,16}\b", "ID", key)
                key = re.sub(r"=\d+", "=N", key)
                self.odd[key] += 1
                self.odd_example.setdefault(key, line)

    def snapshot(self):
        with self.mu:
            return self.accepted, self.bytes, self.delivered


def tern_stats(binary, sock):
    r = subprocess.run([binary, "ctl", "-s", sock, "stats"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=10)
    stats = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(":")
        if v.strip().isdigit():
            stats[k.strip()] = int(v)
    if r.returncode != 0 or "journal-syncs" not in stats:
        raise RuntimeError("tern ctl stats failed: %s" % r.stdout.strip())
    return stats


def count_files(d):
    try:
        return len(os.listdir(d))
    except FileNotFoundError:
        return 0


def run_tern(tools, binary, cell, base, timeout, drain_timeout):
    tmp = tempfile.mkdtemp(prefix="tern.", dir=base)
    port = free_port()
    conf = os.path.join(tmp, "tern.conf")
    with open(conf, "w") as f:
        f.write("hostname bench.test\nspool {t}/spool\ndrop {t}/drop\n"
                "badmail {t}/badmail\nmax-sessions 2000\n"
                "domain localhost {{\n mailbox postmaster\n}}\n"
                "server default {{\n listen 127.0.0.1:{port}\n"
                " max-messages 0\n max-errors 0\n}}\n".format(t=tmp, port=port))
    sock = os.path.join(tmp, "spool", "control")
    newdir = os.path.join(tmp, "drop", "localhost", "postmaster", "new")
    p = subprocess.Popen([binary, "-c", conf], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         cwd=tmp)
    tl = TernLog(p.stderr, os.path.join(tmp, "tern.log"))
    tl.start()
    res = {"notes": []}
    try:
        if not wait_for(lambda: listening(port) or p.poll() is not None, 10) \
                or p.poll() is not None:
            tl.join(5)
            raise RuntimeError("tern did not start (exit %s); its log: %s" % (
                p.poll(), " | ".join(tl.tail)))
        w = smtp_source(tools, port, 1, "1", cell["size"], WARMUP, timeout)
        if not wait_for(lambda: tl.snapshot()[0] >= w["sent"]
                        and count_files(newdir) >= tl.snapshot()[0]
                        and tern_stats(binary, sock)["queue-messages"] == 0, 30):
            res["notes"].append("warm-up not delivered within 30 s")
        acc0, bytes0, _ = tl.snapshot()
        st0 = tern_stats(binary, sock)
        cpu0, io0, thr0 = proc_cpu(p.pid), proc_io(p.pid), thread_cpu(p.pid)
        files0 = count_files(newdir)

        r = smtp_source(tools, port, cell["sessions"], cell["mode"],
                        cell["size"], cell["n"], timeout, quiet=True)
        res.update(r)
        t0 = time.monotonic()
        # the last `accepted` lines may still be in the pipe
        wait_for(lambda: tl.snapshot()[0] - acc0 >= r["sent"], 5)
        drained = wait_for(
            lambda: p.poll() is not None
            or (count_files(newdir) - files0 >= tl.snapshot()[0] - acc0
                and tern_stats(binary, sock)["queue-messages"] == 0),
            drain_timeout, 0.1)
        res["drain"] = time.monotonic() - t0
        if p.poll() is not None:
            raise RuntimeError("tern exited during the run (status %s)" % p.returncode)
        if not drained:
            res["notes"].append(
                "delivery incomplete: %d of %d in the drop directory and "
                "queue-messages=%d after %.0f s" % (
                    count_files(newdir) - files0, tl.snapshot()[0] - acc0,
                    tern_stats(binary, sock)["queue-messages"], drain_timeout))
        st1 = tern_stats(binary, sock)
        cpu1, io1, thr1 = proc_cpu(p.pid), proc_io(p.pid), thread_cpu(p.pid)
        files1 = count_files(newdir)

        # stop, and read the exited process before it is reaped
        p.send_signal(signal.SIGTERM)
        exited = wait_for(lambda: os.waitid(
            os.P_PID, p.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None, 30, 0.01)
        if exited:
            cpu_z, io_z = proc_cpu(p.pid), proc_io(p.pid)
            if cpu_z is not None and cpu_z >= cpu1:
                cpu1 = cpu_z
            if io_z is not None and io_z["write_bytes"] >= io1["write_bytes"]:
                io1 = io_z
        else:
            res["notes"].append("tern did not exit within 30 s of SIGTERM")
            p.kill()
        p.wait()
        tl.join(10)
        if p.returncode not in (0, -signal.SIGTERM):
            res["notes"].append("tern exit status %s" % p.returncode)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        tl.join(10)

    acc, mbytes, _ = tl.snapshot()
    acc -= acc0
    mbytes -= bytes0
    if tl.exit_stats is not None:
        jbytes1, syncs1, commits1 = tl.exit_stats
    else:
        res["notes"].append("no `queue stats` line at exit: ternctl values used")
        jbytes1, syncs1, commits1 = (st1["journal-bytes-written"],
                                     st1["journal-syncs"], st1["journal-commits"])
    res.update({
        "accepted": acc,
        "rate": acc / r["elapsed"] if r["elapsed"] > 0 else 0.0,
        "msg_bytes": mbytes,
        "delivered": files1 - files0,
        "syncs": syncs1 - st0["journal-syncs"],
        "commits": commits1 - st0["journal-commits"],
        "jbytes": jbytes1 - st0["journal-bytes-written"],
        "cpu": cpu1 - cpu0,
        "write_bytes": io1["write_bytes"] - io0["write_bytes"],
        "cancelled": io1["cancelled_write_bytes"] - io0["cancelled_write_bytes"],
        "odd": tl.odd, "odd_example": tl.odd_example, "dir": tmp,
        "threads": thread_names(p.pid, thr0, thr1),
        "cpu_main": thr1[p.pid][1] - thr0[p.pid][1],
    })
    return res


# --------------------------------------------------------------------- Postfix

def write_postfix_conf(tmp, root, port, sessions):
    conf, queue, head, _ = postfix_scratch(tmp, root)
    smtpd_limit = sessions + 10
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
alias_maps =
alias_database =
local_transport = discard
default_transport = discard
relay_transport = discard
biff = no
""".format(limit=max(100, smtpd_limit)))
    with open(os.path.join(conf, "master.cf"), "w") as f:
        f.write("""\
127.0.0.1:{port} inet n - n - {smtpd_limit} smtpd
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
discard   unix  - - n -     - discard
error     unix  - - n -     - error
retry     unix  - - n -     - error
postlog   unix-dgram n - n - 1 postlogd
""".format(port=port, smtpd_limit=smtpd_limit))
    open(os.path.join(conf, "dynamicmaps.cf"), "w").close()
    return conf, queue


class Maillog:
    """Counts qmgr's `(queue active)` and `removed` lines as the log grows."""

    def __init__(self, path):
        self.path, self.off, self.rest = path, 0, b""
        self.active = self.removed = 0
        self.odd = collections.Counter()
        self.odd_example = {}

    def update(self):
        with open(self.path, "rb") as f:
            f.seek(self.off)
            data = f.read()
        self.off += len(data)
        lines = (self.rest + data).split(b"\n")
        self.rest = lines.pop()
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            if "postfix/qmgr" in line and line.endswith("(queue active)"):
                self.active += 1
            elif "postfix/qmgr" in line and line.endswith(": removed"):
                self.removed += 1
            elif re.search(r"(warning|error|fatal|panic): ", line):
                key = re.sub(r"^\S+ \S+ ", "", line)
                key = re.sub(r"\[\d+\]", "", key)
                key = re.sub(r"\b[0-9A-Za-z]{10,}\b", "ID", key)
                self.odd[key] += 1
                self.odd_example.setdefault(key, line)
        return self


def queue_files(queue):
    n = 0
    for q in ("incoming", "active", "maildrop"):
        for _, _, files in os.walk(os.path.join(queue, q)):
            n += len(files)
    return n


def postfix_drained(ml, queue):
    ml.update()
    return queue_files(queue) == 0 and ml.removed >= ml.active


def run_postfix(tools, cell, base, timeout, drain_timeout):
    tmp = tempfile.mkdtemp(prefix="postfix.", dir=base)
    port = free_port()
    conf, queue = write_postfix_conf(tmp, tools.root, port, cell["sessions"])
    log_path = os.path.join(tmp, "maillog")
    logf = open(log_path, "w")
    master = subprocess.Popen(
        [os.path.join(tools.root, "usr/lib/postfix/sbin/master"), "-c", conf, "-d", "-s"],
        stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
        env=tools.env, cwd=tmp)
    ml = Maillog(log_path)
    seen = set()
    res = {"notes": [], "dir": tmp}
    try:
        if not wait_for(lambda: listening(port) or master.poll() is not None, 10) \
                or master.poll() is not None:
            raise RuntimeError(
                "Postfix master did not start (exit %s); its errors before "
                "postlogd runs go to syslog only (try strace -f)" % master.poll())
        w = smtp_source(tools, port, 1, "1", cell["size"], WARMUP, timeout)
        want = w["sent"]
        if not wait_for(lambda: ml.update().removed >= want
                        and postfix_drained(ml, queue), 30, 0.1):
            res["notes"].append("warm-up not through the queue within 30 s")
        time.sleep(0.2)
        ml.update()
        act0 = ml.active
        seen.update(tree(master.pid))
        cpu0 = tree_cpu(master.pid)

        r = smtp_source(tools, port, cell["sessions"], cell["mode"],
                        cell["size"], cell["n"], timeout, quiet=True)
        res.update(r)
        seen.update(tree(master.pid))
        t0 = time.monotonic()
        want = act0 + r["sent"]
        drained = wait_for(lambda: postfix_drained(ml, queue) and ml.active >= want,
                           drain_timeout, 0.1)
        if not drained:  # refusals that smtp-source did not see, or a stall
            drained = wait_for(lambda: postfix_drained(ml, queue), 5, 0.1)
        res["drain"] = time.monotonic() - t0
        if not drained:
            res["notes"].append("queue not empty after %.0f s: %d files" % (
                drain_timeout, queue_files(queue)))
        time.sleep(0.2)  # the last daemons' log lines and process exits
        seen.update(tree(master.pid))
        cpu1 = tree_cpu(master.pid)
        ml.update()
    except BaseException:
        logf.flush()
        with open(log_path) as f:
            sys.stderr.write("--- Postfix log:\n" + f.read()[-4000:])
        raise
    finally:
        seen.update(tree(master.pid))
        stop_tree(master, seen, queue)
        logf.close()
    acc = ml.active - act0
    res.update({"accepted": acc,
                "rate": acc / r["elapsed"] if r["elapsed"] > 0 else 0.0,
                "cpu": cpu1 - cpu0,
                "odd": ml.odd, "odd_example": ml.odd_example})
    return res


# ------------------------------------------------------------------------ main

def mkfile_probe(base, n=300):
    """Kernel CPU (us) to create one small file in the scratch tree now.

    On ext4 without a journal, inode allocation skips inodes freed in the
    last seconds to minutes (find_inode_bit -> recently_deleted), at a cost
    that grows with their number: file-per-message work (tern's local
    delivery, Postfix's queue files) gets slower after mass deletions. The
    files stay until the end of the run (deleting them would add to it)."""
    d = tempfile.mkdtemp(prefix="probe.", dir=base)
    t0 = os.times()
    for i in range(n):
        fd = os.open(os.path.join(d, "f%d" % i), os.O_CREAT | os.O_WRONLY, 0o640)
        os.write(fd, b"x" * 1024)
        os.close(fd)
    t1 = os.times()
    return 1e6 * (t1.system - t0.system) / n


def attempt(fn, *a):
    """fn(*a), or a result that says why it failed (the run goes on)."""
    try:
        return fn(*a)
    except Exception as e:  # noqa: BLE001 -- reported in the notes
        log("FAILED: %s" % e)
        return {"error": str(e), "notes": ["FAILED: %s" % e], "rate": 0.0,
                "elapsed": 0.0, "accepted": 0, "sent": 0, "rc": 0,
                "stalled": False, "warnings": collections.Counter(), "drain": 0.0,
                "cpu": 0.0, "cpu_main": 0.0, "msg_bytes": 0, "syncs": 0,
                "commits": 0, "jbytes": 0, "write_bytes": 0, "delivered": 0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench_args(ap, QUICK, "1,20,100")
    ap.add_argument("--sizes", default="1K,100K", help="of %s" % ",".join(SIZES))
    ap.add_argument("--drain-timeout", type=float, default=120,
                    help="seconds to wait for the queue to empty after a run")
    args = ap.parse_args()
    SETTLE["max"] = args.settle
    cells = bench_cells(args, args.sizes, QUICK, SIZES, cell_count)
    tools, desc, base, kind = bench_start(args, "accept.")
    try:
        binary = bench_banner(args, base, kind, desc)

        results = []
        for c in cells:
            name = "%ds/%s/%s" % (c["sessions"], "1 per conn" if c["mode"] == "1"
                                  else "-d", c["label"])
            row = {"cell": c, "mkfile": mkfile_probe(base)}
            row["ceiling"] = attempt(run_ceiling, tools, c, base, args.timeout)
            log("%-22s n=%-6d ceiling %8.0f msg/s (%.2f s)" % (
                name, c["n"], row["ceiling"]["rate"], row["ceiling"]["elapsed"]))
            row["tern"] = attempt(run_tern, tools, binary, c, base, args.timeout,
                                  args.drain_timeout)
            t = row["tern"]
            log("%-22s n=%-6d tern    %8.0f msg/s (%.2f s; accepted %d, "
                "refused %d, drained %.1f s)" % (
                    name, c["n"], t["rate"], t["elapsed"], t["accepted"],
                    refusals(t["warnings"]), t["drain"]))
            if not args.no_postfix:
                row["postfix"] = attempt(run_postfix, tools, c, base, args.timeout,
                                         args.drain_timeout)
                pf = row["postfix"]
                log("%-22s n=%-6d postfix %8.0f msg/s (%.2f s; accepted %d, "
                    "drained %.1f s)" % (name, c["n"], pf["rate"], pf["elapsed"],
                                         pf["accepted"], pf["drain"]))
            results.append(row)
        report(results, args)
        print("load average at the end: %s" % loadavg())
    finally:
        if args.keep:
            log("kept %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    return 0


def report(results, args):
    print()
    print("Throughput (accepted messages per second of smtp-source wall time)")
    hdr = "%-5s %-6s %-5s %6s %6s | %8s %8s %8s | %9s %9s | %8s" % (
        "sess", "conn", "size", "msgs", "m/conn", "ceiling", "tern", "postfix",
        "tern/ceil", "tern/pfx", "tern rej")
    print(hdr)
    print("-" * len(hdr))
    def rate(r):
        return None if r is None or "error" in r else r["rate"]

    for row in results:
        c = row["cell"]
        ce, t, p = rate(row["ceiling"]), rate(row["tern"]), rate(row.get("postfix"))
        print("%-5d %-6s %-5s %6d %6d | %8s %8s %8s | %9s %9s | %8d" % (
            c["sessions"], "1" if c["mode"] == "1" else "-d", c["label"], c["n"],
            1 if c["mode"] == "1" else c["n"] // c["sessions"],
            fmt(ce, "%.0f", "FAIL"), fmt(t, "%.0f", "FAIL"),
            fmt(p, "%.0f", "FAIL" if "postfix" in row else "-"),
            fmt(ratio(t, ce) and 100.0 * ratio(t, ce), "%.1f%%"),
            fmt(ratio(t, p), "%.2fx"), refusals(row["tern"]["warnings"])))
    print()
    print("Cost per message. tern: journal fdatasyncs and commits, CPU of the whole "
          "process (acceptance +\nlocal delivery) and of its main thread (SMTP, "
          "journal records), write amplification =\nbytes written / message bytes "
          "(total, journal only); postfix: CPU of all its processes;\nmkfile: "
          "kernel CPU per file creation in the scratch tree just before the cell")
    print("(* = local delivery had not finished when tern was stopped: see the notes)")
    hdr = "%-5s %-6s %-5s | %6s %7s %8s | %8s %8s %7s | %8s %7s | %8s %8s | %6s" % (
        "sess", "conn", "size", "msg B", "fsync/m", "msg/sync", "CPU us/m",
        "main us", "s/10k", "WA total", "WA jrnl", "pfx us/m", "pfx/tern",
        "mkfile")
    print(hdr)
    print("-" * len(hdr))
    for row in results:
        c, t, p = row["cell"], row["tern"], row.get("postfix")
        acc = t["accepted"]
        us = 1e6 * t["cpu"] / acc if acc else None
        main_us = 1e6 * t["cpu_main"] / acc if acc else None
        pus = 1e6 * p["cpu"] / p["accepted"] if p and p["accepted"] else None
        star = "*" if acc and t["delivered"] < acc else ""
        print("%-5d %-6s %-5s | %6s %7s %8s | %8s %8s %7s | %8s %7s | %8s %8s | %6s" % (
            c["sessions"], "1" if c["mode"] == "1" else "-d", c["label"],
            fmt(t["msg_bytes"] // acc if acc else None, "%d"),
            fmt(t["syncs"] / float(acc) if acc else None, "%.3f"),
            fmt(t["commits"] / float(t["syncs"]) if t["syncs"] else None, "%.1f"),
            fmt(us, "%.0f") + star, fmt(main_us, "%.0f"),
            fmt(us and us / 100.0, "%.2f"),
            fmt(t["write_bytes"] / float(t["msg_bytes"]) if t["msg_bytes"] else None,
                "%.2f") + star,
            fmt(t["jbytes"] / float(t["msg_bytes"]) if t["msg_bytes"] else None, "%.3f"),
            fmt(pus, "%.0f"), fmt(ratio(pus, us), "%.1fx"),
            fmt(row["mkfile"], "%.0fus")))

    # everything that was not routine
    notes = []
    for row in results:
        c = row["cell"]
        name = "%ds/%s/%s" % (c["sessions"], "1" if c["mode"] == "1" else "-d",
                              c["label"])
        for who in ("ceiling", "tern", "postfix"):
            r = row.get(who)
            if r is None:
                continue
            lines = list(r.get("notes", []))
            if r.get("settled", 0.0) is None:
                lines.append("the machine was not quiet for %.0f s before the run"
                             % SETTLE["max"])
            if r.get("foreign", 0.0) > 0.15:
                lines.append("other processes on the machine used %.2f CPUs during "
                             "the run (competing with it)" % r["foreign"])
            if r["stalled"]:
                lines.append("smtp-source killed after %.0f s (stall)" % args.timeout)
            elif r["rc"] != 0:
                lines.append("smtp-source exit status %d" % r["rc"])
            if r["sent"] + refusals(r["warnings"]) != c["n"]:
                lines.append("smtp-source: %d of %d messages completed, %d refused"
                             % (r["sent"], c["n"], refusals(r["warnings"])))
            if who != "ceiling" and r["accepted"] != r["sent"]:
                lines.append("accepted %d (server log) vs %d completed (smtp-source)"
                             % (r["accepted"], r["sent"]))
            for w, k in r["warnings"].most_common(5):
                lines.append("%5dx %s" % (k, w))
            for w, k in r.get("odd", collections.Counter()).most_common(5):
                lines.append("%5dx log: %s" % (k, r["odd_example"][w]))
            if who == "tern" and r.get("threads"):
                lines.append("CPU by thread, s: " + ", ".join(r["threads"]))
            if who == "tern" and r["accepted"] and r["delivered"] != r["accepted"]:
                lines.append("delivered %d of %d accepted" % (r["delivered"], r["accepted"]))
            for l in lines:
                notes.append("%-14s %-7s %s" % (name, who, l))
    if notes:
        print()
        print("Notes (refusals, errors and log lines that are not routine)")
        for n in notes:
            print(n)
    if results:
        cmd = results[0]["ceiling"]["cmd"]
        print()
        print("smtp-source command (first cell): %s" % re.sub(r"127\.0\.0\.1:\d+",
                                                              "127.0.0.1:PORT", cmd))


if __name__ == "__main__":
    sys.exit(main())
