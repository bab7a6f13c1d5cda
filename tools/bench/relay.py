#!/usr/bin/python3
"""End-to-end relay rate with smtp-source and smtp-sink: ceiling, tern, Postfix.

    tools/bench/relay.py [--quick] [--full] [--no-postfix] [--tern BIN]
                         [--sessions 1,20] [--modes 1,d] [--sizes 1K[,100K]]
                         [--scale F] [--postfix-root DIR] [--tmpdir DIR]
                         [--timeout S] [--drain-timeout S] [--settle S]
                         [--connector LINE] [--keep]

One run measures, for every cell of the matrix sessions (1, 20) x messages
per connection (one; many, smtp-source -d) x message size (1 KiB; 100 KiB
of payload too with --full), three set-ups fed by the same smtp-source
command line, each with its own smtp-sink and everything started fresh for
the cell:

- ceiling: smtp-source -> smtp-sink, no MTA: what the client, the sink and
  the loopback can do on this machine in this run.
- tern: smtp-source -> tern -> smtp-sink. Scratch configuration (a fresh
  spool, drop and badmail per cell in a temp dir on the disk of the
  repository, not tmpfs, so fdatasync is real):
      hostname bench.test, max-sessions 2000, domain localhost {mailbox
      postmaster}, connector sink {address-space *; smarthost
      [127.0.0.1]:SINKPORT}, server default {listen 127.0.0.1:PORT;
      max-messages 0; max-errors 0; relay allow 127.0.0.0/8}
  and the connector's defaults otherwise (whatever this tern has for
  messages and connections per destination; --connector LINE adds a line
  to the connector block, e.g. 'max-connections 20 per-destination 20').
  Every message is journaled (the 250 after the fdatasync), then relayed
  by tern's SMTP client.
- postfix: smtp-source -> Postfix -> smtp-sink, Debian's package run from
  its unpacked .deb like accept.py does (master -d in the foreground,
  scratch config, queue and data directories; no install): relayhost =
  [127.0.0.1]:SINKPORT, mynetworks = 127.0.0.0/8, DNS off in the SMTP
  client (a bracketed address needs none anyway); master.cf: smtpd on
  127.0.0.1:PORT, cleanup, qmgr, trivial-rewrite, bounce/defer/trace, smtp
  and relay, scache (Postfix's connection cache on demand), anvil, flush,
  proxymap, error/retry, postlogd; otherwise Postfix's defaults.

smtp-sink runs with -c: it prints `sess=N quit=N mesg=N` each time a
message arrives or a session ends. The bench reads that as it comes and
time-stamps every change, so it knows when each count was reached:
- arrived: messages the sink received during the measured run;
- msg/s (the rate that counts) = arrived / (time of the last arrival -
  start of smtp-source): from the first message sent to the last one
  received by the sink;
- conns: sessions the sink saw end during the run (counted after the MTA
  was stopped, so connections it kept open count too): the MTA's outbound
  connections, and msgs/conn = arrived / conns;
- accept msg/s: messages completed by smtp-source / its wall time (how
  fast the MTA took them), and lag: last arrival - end of smtp-source;
- gap: the longest time between two arrivals at the sink during the run
  (a stall shows here even when the rate looks fine).

Each set-up first takes 20 warm-up messages (one session), waits until
they reached the sink (and the MTA's queue is empty), then the measured
run: `smtp-source -A -c -s S -m N -l SIZE [-d] -M bench.client -f
sender@bench.client -t user@remote.example 127.0.0.1:PORT`. Counts
(bounded): 1 KiB: 2,000 with 1 session; with 20 sessions 5,000 (one per
connection) or 10,000 (-d, 500 per connection); 100 KiB: 1,000 with 1
session, 2,000 with 20 (-d: at least 100 per connection). --quick: 3,000
each. The bench waits up to --drain-timeout seconds (default 60) after
smtp-source ends for every completed message to reach the sink; a set-up
that has not finished by then is measured as it is and says so.

CPU per message, warm-up excluded, until every message reached the sink
and the queue is empty: tern, utime+stime of the process (all threads)
from /proc/PID/stat; Postfix, utime+stime summed over the master and every
daemon (the live ones, plus the master's reaped children: cutime+cstime).
For tern also its main thread alone (SMTP server and client, routing; the
journal writer is another thread): CPU per message, and "main busy", its
CPU time over the time from the start of smtp-source until the queue was
empty (near 100%: the main thread is the bottleneck).
tern's log goes to a file (not read during the run) and is parsed
afterwards: accepted messages, the SMTP client's per-recipient results
(sent/deferred/failed), the queue's (delivered/deferred/failed), connect
failures and every line that is not routine, shown in the notes; likewise
warnings and errors from Postfix's log, and its sent/deferred counts.

The machine is shared: before each measured run the bench waits (up to
--settle seconds, default 20) for half a second in which processes that
are not its own use less than 0.2 CPUs, and notes other processes' CPU
during the run when it exceeds 0.15 CPUs.

Everything listens on 127.0.0.1 only; tern's smart host is an address
literal (no DNS). Every process the bench starts is stopped by pid and
the scratch directory (output/bench/relay.*) is removed at the end; --keep
keeps it, with the configs and logs. Postfix needs root.
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
QUICK = [(1, "d", "1K"), (20, "1", "1K"), (20, "d", "1K")]
SENDER = "sender@bench.client"
RCPT = "user@remote.example"


def cell_count(sessions, mode, size, scale, quick):
    """Messages for one cell: a few seconds for tern, bounded for Postfix."""
    big = size > 4096
    if quick:
        n = 3000
    elif sessions == 1:
        n = 1000 if big else 2000
    else:
        n = 2000 if big else (10000 if mode == "d" else 5000)
    n = max(1, int(n * scale))
    if mode == "d" and not quick:
        n = max(n, 100 * sessions)
    return n


def thread_cpu(pid):
    """{tid: cpu seconds} for every thread of pid."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / float(CLK)
    return out


def machine_busy():
    """CPU seconds spent by all processes of the machine: user, nice and
    system time. irq/softirq time is left out: processes' utime+stime do not
    include it, and the loopback TCP traffic of the run itself is mostly
    softirq work, which would count as another process's."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:8]]
    return (v[0] + v[1] + v[2]) / float(CLK)


def stop_proc(p, timeout=10):
    """SIGTERM a child we started, SIGKILL if it lingers; reaped."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ---------------------------------------------------------- smtp-source/sink

SINK_COUNTS = re.compile(rb"sess=(\d+) quit=(\d+) mesg=(\d+)$")


class Sink(threading.Thread):
    """smtp-sink -c on 127.0.0.1:port; its counters, each change time-stamped.

    smtp-sink writes `sess=N quit=N mesg=N\\r` whenever a session ends, a
    QUIT is executed or a message's "." is received (flushed each time);
    only the last complete record of each read matters. The pipe is drained
    at once so the sink never blocks on it."""

    def __init__(self, tools, logpath):
        threading.Thread.__init__(self, daemon=True)
        self.port = free_port()
        cmd = [tools.sink, "-c"]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]
        cmd += ["127.0.0.1:%d" % self.port, "1024"]
        self.errlog = open(logpath, "wb")
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=self.errlog,
                                  env=tools.env)
        self.cv = threading.Condition()
        self.sess = self.mesg = 0
        self.t_mesg = None  # monotonic time the last mesg count was seen
        self.t_sess = None
        self.gap = None  # longest wait between two arrivals, once armed
        self.start()
        if not wait_for(lambda: listening(self.port) or self.p.poll() is not None,
                        10) or self.p.poll() is not None:
            self.stop()
            with open(logpath) as f:
                raise RuntimeError("smtp-sink did not start: %s" % f.read()[-500:])

    def run(self):
        fd = self.p.stdout.fileno()
        rest = b""
        while True:
            chunk = os.read(fd, 1 << 16)
            now = time.monotonic()
            if not chunk:
                break
            data = rest + chunk
            end = data.rfind(b"\r")
            if end < 0:
                rest = data
                continue
            start = data.rfind(b"\r", 0, end) + 1
            rest = data[end + 1:]
            m = SINK_COUNTS.search(data[start:end])
            if not m:
                continue
            sess, mesg = int(m.group(1)), int(m.group(3))
            with self.cv:
                if mesg != self.mesg:
                    if self.gap is not None and self.t_mesg is not None:
                        self.gap = max(self.gap, now - self.t_mesg)
                    self.mesg, self.t_mesg = mesg, now
                if sess != self.sess:
                    self.sess, self.t_sess = sess, now
                self.cv.notify_all()

    def arm(self):
        """From the next arrival on, keep the longest gap between arrivals."""
        with self.cv:
            self.gap, self.t_mesg = 0.0, None

    def counts(self):
        with self.cv:
            return self.sess, self.mesg, self.t_mesg

    def wait_mesg(self, target, timeout):
        """Until the sink has received target messages (True) or timeout."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while self.mesg < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self.is_alive():
                    return False
                self.cv.wait(min(left, 0.5))
            return True

    def wait_quiet(self, quiet=0.3, timeout=5):
        """Until the counters have not changed for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.cv:
                last = max(self.t_mesg or 0, self.t_sess or 0)
            if time.monotonic() - last >= quiet:
                return
            time.sleep(0.05)

    def stop(self):
        stop_proc(self.p, 5)
        self.join(5)
        self.p.stdout.close()
        self.errlog.close()


CONNECTOR_EXTRA = []  # --connector: more lines in tern's connector block
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


def source_cmd(tools, port, sessions, mode, size, n):
    cmd = [tools.source, "-A", "-c", "-s", str(sessions), "-m", str(n),
           "-l", str(size), "-M", "bench.client", "-f", SENDER, "-t", RCPT]
    if mode == "d":
        cmd.append("-d")
    return cmd + ["127.0.0.1:%d" % port]


def smtp_source(tools, port, sessions, mode, size, n, timeout, measured=False):
    """Run smtp-source once; returns its start and end (monotonic), the
    messages it completed and its warnings."""
    waited = settle() if measured and SETTLE["max"] > 0 else 0.0
    cmd = source_cmd(tools, port, sessions, mode, size, n)
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
    t1 = time.monotonic()
    foreign = (machine_busy() - busy0) - (own_cpu() - own0)
    counts = [int(x) for x in re.findall(rb"(\d+)\r", out)]
    warnings = collections.Counter()
    for line in err.decode("utf-8", "replace").splitlines():
        line = line.replace(tools.source + ": ", "smtp-source: ", 1)
        warnings[line] += 1
    return {"t0": t0, "t1": t1, "elapsed": t1 - t0,
            "sent": counts[-1] if counts else 0,
            "rc": p.returncode, "stalled": stalled, "warnings": warnings,
            "foreign": foreign / (t1 - t0) if t1 > t0 else 0.0,
            "settled": waited,
            "cmd": " ".join(["smtp-source"] + cmd[1:])}


def refusals(warnings):
    return sum(c for w, c in warnings.items() if "rejected" in w)


def measure(tools, sink, port, cell, timeout, drain_timeout, res):
    """The measured run against port, arrivals counted at sink: fills res."""
    sess0, mesg0, _ = sink.counts()
    sink.arm()
    r = smtp_source(tools, port, cell["sessions"], cell["mode"], cell["size"],
                    cell["n"], timeout, measured=True)
    res.update(r)
    want = mesg0 + r["sent"]
    arrived_all = sink.wait_mesg(want, drain_timeout)
    _, mesg1, t_last = sink.counts()
    res["arrived"] = mesg1 - mesg0
    res["sess0"] = sess0
    res["t_last"] = t_last
    if not arrived_all:
        res["notes"].append("%d of %d completed messages at the sink %.0f s "
                            "after smtp-source ended" % (
                                mesg1 - mesg0, r["sent"], drain_timeout))
    span = (t_last - r["t0"]) if t_last is not None and mesg1 > mesg0 else 0.0
    res["span"] = span
    res["rate"] = res["arrived"] / span if span > 0 else 0.0
    res["accept_rate"] = r["sent"] / r["elapsed"] if r["elapsed"] > 0 else 0.0
    res["lag"] = max(0.0, (t_last or r["t1"]) - r["t1"])
    res["gap"] = sink.gap
    return want


def finish_conns(sink, res):
    """Sessions that ended at the sink during the run (the MTA is stopped)."""
    sink.wait_quiet()
    sess, _, _ = sink.counts()
    res["conns"] = sess - res["sess0"] if "sess0" in res else None


def blank(res):
    res.update({"notes": res.get("notes", []), "rate": 0.0, "elapsed": 0.0,
                "arrived": 0, "sent": 0, "rc": 0, "stalled": False,
                "warnings": collections.Counter(), "span": 0.0, "lag": 0.0,
                "accept_rate": 0.0, "conns": None, "cpu": None, "gap": None})
    return res


# --------------------------------------------------------------------- ceiling

def run_ceiling(tools, cell, base, timeout, drain_timeout):
    d = tempfile.mkdtemp(prefix="ceiling.", dir=base)
    sink = Sink(tools, os.path.join(d, "smtp-sink.log"))
    res = blank({"notes": []})
    try:
        smtp_source(tools, sink.port, 1, "1", cell["size"], WARMUP, timeout)
        if not sink.wait_mesg(WARMUP, 30):
            res["notes"].append("warm-up not at the sink within 30 s")
        sink.wait_quiet(0.1)
        measure(tools, sink, sink.port, cell, timeout, drain_timeout, res)
        finish_conns(sink, res)
    finally:
        sink.stop()
    return res


# ------------------------------------------------------------------------ tern

ROUTINE = re.compile(
    r" smtp in (connect client=|disconnect reason=closed messages=\d+ errors=0$"
    r"|id=\S+ accepted )| smtp out rcpt=<[^>]*> status=sent reply=250 "
    r"| queue rcpt=\d+ status=delivered$"
    r"| queue recovered | dnsc init | smtp listen | tern \S+ started "
    r"| shutdown signal=| queue stats | tern stopped$")
EXIT_STATS = re.compile(r"queue stats journal-bytes=(\d+) syncs=(\d+) commits=(\d+)")


def parse_tern_log(path, offset):
    """Counts and unusual lines of tern's log from offset on."""
    out = {"accepted": 0, "out": collections.Counter(),
           "queue": collections.Counter(), "odd": collections.Counter(),
           "odd_example": {}, "exit_stats": None}
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read().decode("utf-8", "replace")
    for line in data.splitlines():
        if " accepted from=" in line:
            out["accepted"] += 1
        m = re.search(r" smtp out rcpt=<[^>]*> status=(\w+)", line)
        if m:
            out["out"][m.group(1)] += 1
        m = re.search(r" queue rcpt=\d+ status=(\w+)", line)
        if m:
            out["queue"][m.group(1)] += 1
        m = EXIT_STATS.search(line)
        if m:
            out["exit_stats"] = tuple(int(x) for x in m.groups())
        if ROUTINE.search(line):
            continue
        key = re.sub(r"^\S+ ", "", line)  # the time stamp
        key = re.sub(r"\b[0-9a-f]{10,16}\b", "ID", key)
        key = re.sub(r"=\d+", "=N", key)
        key = re.sub(r":\d{2,5}\b", ":PORT", key)
        out["odd"][key] += 1
        out["odd_example"].setdefault(key, line.strip())
    return out


def tern_stats(binary, sock):
    r = subprocess.run([binary, "ctl", "-s", sock, "stats"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=10)
    stats = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(":")
        if v.strip().isdigit():
            stats[k.strip()] = int(v)
    if r.returncode != 0 or "queue-messages" not in stats:
        raise RuntimeError("tern ctl stats failed: %s" % r.stdout.strip())
    return stats


TERN_CONF = """\
hostname bench.test
spool {t}/spool
drop {t}/drop
badmail {t}/badmail
max-sessions 2000
domain localhost {{
    mailbox postmaster
}}
connector sink {{
    address-space *
    smarthost [127.0.0.1]:{sinkport}
{extra}}}
server default {{
    listen 127.0.0.1:{port}
    max-messages 0
    max-errors 0
    relay allow 127.0.0.0/8
}}
"""


def run_tern(tools, binary, cell, base, timeout, drain_timeout):
    tmp = tempfile.mkdtemp(prefix="tern.", dir=base)
    res = blank({"notes": [], "dir": tmp})
    sink = Sink(tools, os.path.join(tmp, "smtp-sink.log"))
    port = free_port()
    conf = os.path.join(tmp, "tern.conf")
    with open(conf, "w") as f:
        f.write(TERN_CONF.format(t=tmp, port=port, sinkport=sink.port,
                                 extra="".join("    %s\n" % l for l in
                                               CONNECTOR_EXTRA)))
    sock = os.path.join(tmp, "spool", "control")
    log_path = os.path.join(tmp, "tern.log")
    logf = open(log_path, "wb")
    p = None
    try:
        p = subprocess.Popen([binary, "-c", conf], stdin=subprocess.DEVNULL,
                             stdout=logf, stderr=logf, cwd=tmp)
        if not wait_for(lambda: listening(port) or p.poll() is not None, 10) \
                or p.poll() is not None:
            raise RuntimeError("tern did not start (exit %s); its log: %s" % (
                p.poll(), open(log_path).read()[-1000:]))
        w = smtp_source(tools, port, 1, "1", cell["size"], WARMUP, timeout)
        if not (sink.wait_mesg(w["sent"], 30) and wait_for(
                lambda: tern_stats(binary, sock)["queue-messages"] == 0, 10, 0.1)):
            res["notes"].append("warm-up not relayed within 30 s")
        sink.wait_quiet(0.2)
        st0 = tern_stats(binary, sock)
        cpu0, thr0 = proc_cpu(p.pid), thread_cpu(p.pid)
        logf.flush()
        log_off = os.path.getsize(log_path)

        measure(tools, sink, port, cell, timeout, drain_timeout, res)
        t0 = time.monotonic()
        drained = wait_for(lambda: p.poll() is not None or
                           tern_stats(binary, sock)["queue-messages"] == 0,
                           max(5.0, drain_timeout - (t0 - res["t1"])), 0.1)
        if p.poll() is not None:
            raise RuntimeError("tern exited during the run (status %s)" % p.returncode)
        st1 = tern_stats(binary, sock)
        cpu1, thr1 = proc_cpu(p.pid), thread_cpu(p.pid)
        t_cpu = time.monotonic()
        if not drained:
            res["notes"].append("queue not empty when measured: queue-messages=%d"
                                % st1["queue-messages"])
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            res["notes"].append("tern did not exit within 30 s of SIGTERM")
            p.kill()
            p.wait()
        if p.returncode not in (0, -signal.SIGTERM):
            res["notes"].append("tern exit status %s" % p.returncode)
        finish_conns(sink, res)
    finally:
        if p is not None:
            stop_proc(p, 5)
        logf.close()
        sink.stop()
    lg = parse_tern_log(log_path, log_off)
    res.update({
        "cpu": cpu1 - cpu0,
        "cpu_main": thr1.get(p.pid, 0.0) - thr0.get(p.pid, 0.0),
        "threads": len(thr1),
        # the share of one CPU that tern's main thread used from the start
        # of smtp-source to the moment its queue was empty
        "main_busy": (thr1.get(p.pid, 0.0) - thr0.get(p.pid, 0.0)) /
        (t_cpu - res["t0"]) if t_cpu > res["t0"] else None,
        "accepted": lg["accepted"],
        "out": lg["out"], "queue": lg["queue"],
        "odd": lg["odd"], "odd_example": lg["odd_example"],
        "syncs": st1["journal-syncs"] - st0["journal-syncs"],
        "jbytes": st1["journal-bytes-written"] - st0["journal-bytes-written"],
    })
    return res


# --------------------------------------------------------------------- Postfix

def write_postfix_conf(tmp, root, port, sinkport, sessions):
    conf, queue, head, _ = postfix_scratch(tmp, root)
    smtpd_limit = sessions + 10
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write(head + """\
maillog_file = /dev/stdout
myhostname = bench.test
mydomain = bench.test
mydestination = localhost
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sinkport}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtp_dns_support_level = disabled
default_process_limit = {limit}
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_peername_lookup = no
local_recipient_maps =
alias_maps =
alias_database =
biff = no
""".format(sinkport=sinkport, limit=max(100, smtpd_limit)))
    with open(os.path.join(conf, "master.cf"), "w") as f:
        f.write("""\
127.0.0.1:{port} inet n - n - {smtpd_limit} smtpd
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
smtp      unix  - - n -     - smtp
relay     unix  - - n -     - smtp
scache    unix  - - n -     1 scache
anvil     unix  - - n -     1 anvil
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
error     unix  - - n -     - error
retry     unix  - - n -     - error
postlog   unix-dgram n - n - 1 postlogd
""".format(port=port, smtpd_limit=smtpd_limit))
    open(os.path.join(conf, "dynamicmaps.cf"), "w").close()
    return conf, queue


class Maillog:
    """Counts qmgr's `(queue active)`/`removed` and smtp's status= lines."""

    def __init__(self, path):
        self.path, self.off, self.rest = path, 0, b""
        self.active = self.removed = 0
        self.status = collections.Counter()
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
            elif "postfix/smtp[" in line and " status=" in line:
                m = re.search(r" status=(\w+)", line)
                self.status[m.group(1)] += 1
                if m.group(1) != "sent":
                    self.note(line)
            elif re.search(r"(warning|error|fatal|panic): ", line):
                self.note(line)
        return self

    def note(self, line):
        key = re.sub(r"^\S+ \S+ ", "", line)
        key = re.sub(r"\[\d+\]", "", key)
        key = re.sub(r"\b[0-9A-Za-z]{10,}\b", "ID", key)
        key = re.sub(r"=[0-9.]+", "=N", key)
        self.odd[key] += 1
        self.odd_example.setdefault(key, line)


def queue_files(queue):
    n = 0
    for q in ("incoming", "active", "deferred", "maildrop"):
        for _, _, files in os.walk(os.path.join(queue, q)):
            n += len(files)
    return n


def postfix_drained(ml, queue):
    ml.update()
    return queue_files(queue) == 0 and ml.removed >= ml.active


def run_postfix(tools, cell, base, timeout, drain_timeout):
    tmp = tempfile.mkdtemp(prefix="postfix.", dir=base)
    res = blank({"notes": [], "dir": tmp})
    sink = Sink(tools, os.path.join(tmp, "smtp-sink.log"))
    port = free_port()
    conf, queue = write_postfix_conf(tmp, tools.root, port, sink.port,
                                     cell["sessions"])
    log_path = os.path.join(tmp, "maillog")
    logf = open(log_path, "w")
    master = None
    ml = Maillog(log_path)
    seen = set()
    try:
        master = subprocess.Popen(
            [os.path.join(tools.root, "usr/lib/postfix/sbin/master"),
             "-c", conf, "-d", "-s"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            env=tools.env, cwd=tmp)
        if not wait_for(lambda: listening(port) or master.poll() is not None, 10) \
                or master.poll() is not None:
            raise RuntimeError(
                "Postfix master did not start (exit %s); its errors before "
                "postlogd runs go to syslog only (try strace -f)" % master.poll())
        w = smtp_source(tools, port, 1, "1", cell["size"], WARMUP, timeout)
        if not (sink.wait_mesg(w["sent"], 30) and
                wait_for(lambda: postfix_drained(ml, queue), 10, 0.1)):
            res["notes"].append("warm-up not relayed within 30 s")
        sink.wait_quiet(0.2)
        time.sleep(0.2)
        ml.update()
        act0, status0 = ml.active, ml.status.copy()
        seen.update(tree(master.pid))
        cpu0 = tree_cpu(master.pid)

        measure(tools, sink, port, cell, timeout, drain_timeout, res)
        seen.update(tree(master.pid))
        t0 = time.monotonic()
        if not wait_for(lambda: postfix_drained(ml, queue),
                        max(5.0, drain_timeout - (t0 - res["t1"])), 0.1):
            res["notes"].append("queue not empty when measured: %d files"
                                % queue_files(queue))
        time.sleep(0.2)  # the last daemons' log lines and process exits
        seen.update(tree(master.pid))
        cpu1 = tree_cpu(master.pid)
        ml.update()  # the log up to here: not the master's own shutdown
        seen.update(tree(master.pid))
        stop_tree(master, seen, queue)
        finish_conns(sink, res)
    except BaseException:
        logf.flush()
        with open(log_path) as f:
            sys.stderr.write("--- Postfix log:\n" + f.read()[-4000:])
        raise
    finally:
        if master is not None:
            seen.update(tree(master.pid))
            stop_tree(master, seen, queue)
        logf.close()
        sink.stop()
    res.update({"cpu": cpu1 - cpu0, "accepted": ml.active - act0,
                "status": ml.status - status0,
                "odd": ml.odd, "odd_example": ml.odd_example})
    return res


# ------------------------------------------------------------------------ main

def attempt(fn, *a):
    """fn(*a), or a result that says why it failed (the run goes on)."""
    try:
        return fn(*a)
    except Exception as e:  # noqa: BLE001 -- reported in the notes
        log("FAILED: %s" % e)
        return blank({"error": str(e), "notes": ["FAILED: %s" % e]})


def cell_name(c, short=False):
    return "%ds/%s/%s" % (c["sessions"], ("1" if short else "1 per conn")
                          if c["mode"] == "1" else "-d", c["label"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    bench_args(ap, QUICK, "1,20")
    ap.add_argument("--full", action="store_true",
                    help="100 KiB messages too (--sizes 1K,100K)")
    ap.add_argument("--sizes", help="of %s (default 1K; 1K,100K with --full)"
                    % ",".join(SIZES))
    ap.add_argument("--drain-timeout", type=float, default=60,
                    help="seconds to wait after smtp-source for the sink to "
                         "get every message")
    ap.add_argument("--connector", action="append", default=[],
                    metavar="LINE",
                    help="one more line in tern's connector block, e.g. "
                         "'max-connections 20 per-destination 20' (repeatable; "
                         "default: none, the connector's defaults)")
    args = ap.parse_args()
    SETTLE["max"] = args.settle
    CONNECTOR_EXTRA.extend(args.connector)
    sizes = args.sizes or ("1K,100K" if args.full else "1K")
    cells = bench_cells(args, sizes, QUICK, SIZES, cell_count)
    tools, desc, base, kind = bench_start(args, "relay.")
    try:
        binary = bench_banner(args, base, kind, desc, [
            "tern's connector block also has: %s" % "; ".join(CONNECTOR_EXTRA)]
            if CONNECTOR_EXTRA else [])

        results = []
        for c in cells:
            name = cell_name(c)
            row = {"cell": c}
            row["ceiling"] = attempt(run_ceiling, tools, c, base, args.timeout,
                                     args.drain_timeout)
            log("%-22s n=%-5d ceiling %7.0f msg/s (%.2f s)" % (
                name, c["n"], row["ceiling"]["rate"], row["ceiling"]["span"]))
            row["tern"] = attempt(run_tern, tools, binary, c, base, args.timeout,
                                  args.drain_timeout)
            t = row["tern"]
            log("%-22s n=%-5d tern    %7.0f msg/s (%.2f s; arrived %d, "
                "conns %s, lag %.2f s)" % (name, c["n"], t["rate"], t["span"],
                                           t["arrived"], t["conns"], t["lag"]))
            if not args.no_postfix:
                row["postfix"] = attempt(run_postfix, tools, c, base, args.timeout,
                                         args.drain_timeout)
                pf = row["postfix"]
                log("%-22s n=%-5d postfix %7.0f msg/s (%.2f s; arrived %d, "
                    "conns %s, lag %.2f s)" % (name, c["n"], pf["rate"], pf["span"],
                                               pf["arrived"], pf["conns"], pf["lag"]))
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
    def rate(r):
        return None if r is None or "error" in r else r["rate"]

    print()
    print("End-to-end relay rate: messages that arrived at smtp-sink per second, "
          "from the start of\nsmtp-source to the sink's last arrival "
          "(ceiling: smtp-source -> smtp-sink, no MTA)")
    hdr = "%-5s %-5s %-5s %6s %6s | %8s %8s %8s | %9s %8s" % (
        "sess", "conn", "size", "msgs", "m/conn", "ceiling", "tern", "postfix",
        "tern/ceil", "tern/pfx")
    print(hdr)
    print("-" * len(hdr))
    for row in results:
        c = row["cell"]
        ce, t, p = rate(row["ceiling"]), rate(row["tern"]), rate(row.get("postfix"))
        print("%-5d %-5s %-5s %6d %6d | %8s %8s %8s | %9s %8s" % (
            c["sessions"], "1" if c["mode"] == "1" else "-d", c["label"], c["n"],
            1 if c["mode"] == "1" else c["n"] // c["sessions"],
            fmt(ce, "%.0f", "FAIL"), fmt(t, "%.0f", "FAIL"),
            fmt(p, "%.0f", "FAIL" if "postfix" in row else "-"),
            fmt(ratio(t, ce) and 100.0 * ratio(t, ce), "%.1f%%"),
            fmt(ratio(t, p), "%.2fx")))

    print()
    print("Per set-up: accept = messages smtp-source completed / its wall time; "
          "lag = last arrival at\nthe sink - end of smtp-source; conns = "
          "sessions the sink saw (the MTA's outbound\nconnections); gap = the "
          "longest time between two arrivals at the sink (a stall);\nCPU = "
          "utime+stime per arrived message (tern: its process; postfix: all "
          "its processes);\nfsync/m = tern's journal fdatasyncs per message")
    hdr = "%-14s %-7s | %6s %8s %8s %6s %6s | %6s %7s | %8s %7s" % (
        "cell", "who", "arrivd", "msg/s", "accept", "lag s", "gap s", "conns",
        "m/conn", "CPU us/m", "fsync/m")
    print(hdr)
    print("-" * len(hdr))
    for row in results:
        c = row["cell"]
        for who in ("ceiling", "tern", "postfix"):
            r = row.get(who)
            if r is None:
                continue
            a = r["arrived"]
            cpu = 1e6 * r["cpu"] / a if r.get("cpu") is not None and a else None
            fs = r["syncs"] / float(a) if who == "tern" and a and "syncs" in r else None
            print("%-14s %-7s | %6d %8s %8s %6s %6s | %6s %7s | %8s %7s" % (
                cell_name(c, True), who, a, fmt(rate(r), "%.0f", "FAIL"),
                fmt(r["accept_rate"] if "error" not in r else None, "%.0f"),
                fmt(r["lag"] if "error" not in r else None, "%.2f"),
                fmt(r["gap"], "%.3f"),
                fmt(r["conns"], "%d"),
                fmt(a / float(r["conns"]) if r["conns"] else None, "%.1f"),
                fmt(cpu, "%.0f"), fmt(fs, "%.3f")))

    print()
    print("CPU per message, tern vs Postfix; tern's main thread (SMTP server and "
          "client, routing):\nCPU per message and its share of one CPU from the "
          "start of smtp-source to an empty queue")
    hdr = "%-14s | %9s %9s %9s | %9s %8s" % (
        "cell", "tern us/m", "main us/m", "main busy", "pfx us/m", "pfx/tern")
    print(hdr)
    print("-" * len(hdr))
    for row in results:
        t, p = row["tern"], row.get("postfix")
        tu = 1e6 * t["cpu"] / t["arrived"] if t.get("cpu") is not None \
            and t["arrived"] else None
        pu = 1e6 * p["cpu"] / p["arrived"] if p and p.get("cpu") is not None \
            and p["arrived"] else None
        mu = 1e6 * t["cpu_main"] / t["arrived"] if t.get("cpu_main") \
            is not None and t["arrived"] else None
        print("%-14s | %9s %9s %9s | %9s %8s" % (
            cell_name(row["cell"], True), fmt(tu, "%.0f"), fmt(mu, "%.0f"),
            fmt(t.get("main_busy") and 100 * t["main_busy"], "%.0f%%"),
            fmt(pu, "%.0f"), fmt(ratio(pu, tu), "%.1fx")))

    notes = []
    for row in results:
        c = row["cell"]
        name = cell_name(c, True)
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
            if "error" not in r:
                if r["stalled"]:
                    lines.append("smtp-source killed after %.0f s (stall)" % args.timeout)
                elif r["rc"] != 0:
                    lines.append("smtp-source exit status %d" % r["rc"])
                if r["sent"] != c["n"]:
                    lines.append("smtp-source: %d of %d messages completed, %d refused"
                                 % (r["sent"], c["n"], refusals(r["warnings"])))
                if r["arrived"] != r["sent"]:
                    lines.append("%d messages at the sink for %d completed by "
                                 "smtp-source" % (r["arrived"], r["sent"]))
            if who == "tern" and "error" not in r:
                if r["accepted"] != r["sent"]:
                    lines.append("accepted %d (log) vs %d completed (smtp-source)"
                                 % (r["accepted"], r["sent"]))
                other = dict((k, v) for k, v in r["out"].items() if k != "sent")
                if other or r["out"]["sent"] != r["arrived"]:
                    lines.append("SMTP client results: %s" % ", ".join(
                        "%s %d" % kv for kv in sorted(r["out"].items())))
                otherq = dict((k, v) for k, v in r["queue"].items()
                              if k != "delivered")
                if otherq or r["queue"]["delivered"] != r["arrived"]:
                    lines.append("queue results: %s" % ", ".join(
                        "%s %d" % kv for kv in sorted(r["queue"].items())))
            if who == "postfix" and "error" not in r:
                st = r["status"]
                if set(st) - {"sent"} or st["sent"] != r["arrived"]:
                    lines.append("smtp results: %s" % ", ".join(
                        "%s %d" % kv for kv in sorted(st.items())))
                if r["accepted"] != r["sent"]:
                    lines.append("queued %d (qmgr) vs %d completed (smtp-source)"
                                 % (r["accepted"], r["sent"]))
            for w, k in r["warnings"].most_common(5):
                lines.append("%5dx %s" % (k, w))
            odd = r.get("odd", collections.Counter())
            for w, k in odd.most_common(8):
                lines.append("%5dx log: %s" % (k, r["odd_example"][w]))
            if len(odd) > 8:
                lines.append("       ... and %d other kinds of log line" % (len(odd) - 8))
            for l in lines:
                notes.append("%-14s %-7s %s" % (name, who, l))
    if notes:
        print()
        print("Notes (refusals, errors, deferrals and log lines that are not routine)")
        for n in notes:
            print(n)
    for row in results:
        cmd = row["ceiling"].get("cmd")
        if cmd:
            print()
            print("smtp-source command (%s): %s" % (
                cell_name(row["cell"], True),
                re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", cmd)))
            break


if __name__ == "__main__":
    sys.exit(main())
