"""
Helpers for the queue tests (test_queue_*.py, test_bdat*.py,
test_crash*.py): a tern server that can be killed and restarted on the same
spool, with either binary (the static one of conftest.TERN_BIN, or the host
build with fault injection), `tern journal check`, a BDAT client, messages
that carry their own sequence number, and the check that what was
acknowledged is in the drop directory byte for byte.

Binaries
  TERN_BIN        (conftest) the binary under test, static x86_64 by default
  TERN_HOST_BIN   the host build (glibc + ASan, CONFIG_DEBUG_FAULTS) for the
                  fault-injection tests; default output/host/tern

Fixture (import it into the test module: `from queue_helpers import qfactory`)
  qfactory        start(name=None, server="", global_="", binary=None,
                  env=None, workdir=None) -> QueueServer; every server is
                  stopped at teardown and its log checked like conftest's.
"""
import os
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import conftest
from conftest import (BAD_LOG_RE, HOSTNAME, REPLY_TIMEOUT, SENTINEL_HDR,
                      START_TIMEOUT, REPO, SMTPClient,
                      SMTPTestError, TernServer, port_listening, tail,
                      split_delivered)

HOST_BIN = Path(os.environ.get("TERN_HOST_BIN",
                               str(REPO / "output" / "host" / "tern")))

OK_ID_RE = re.compile(r"^OK id=([0-9a-f]{16})$")
SEQ_RE = re.compile(rb"^X-Seq: (\S+)\r$", re.M)
CHECK_RE = re.compile(
    r"^(?P<dir>.*): segments=(?P<segments>\d+) records=(?P<records>\d+) "
    r"messages=(?P<messages>\d+) dropped=(?P<dropped>\d+) "
    r"torn=(?P<torn>\d+) torn-bytes=(?P<torn_bytes>\d+) "
    r"bad-records=(?P<bad_records>\d+)$", re.M)


# ---- binaries --------------------------------------------------------------

def static_binary():
    conftest.require_binary()
    return conftest.TERN_BIN


def fault_binary():
    """The host build with CONFIG_DEBUG_FAULTS (it reads TERN_FAULT)."""
    if not (HOST_BIN.is_file() and os.access(HOST_BIN, os.X_OK)):
        pytest.fail(f"host build not found at {HOST_BIN}: run make "
                    "BOARD=host (or set TERN_HOST_BIN)", pytrace=False)
    if b"TERN_FAULT" not in HOST_BIN.read_bytes():
        pytest.fail(f"{HOST_BIN} is not built with CONFIG_DEBUG_FAULTS",
                    pytrace=False)
    return HOST_BIN


# ---- the server --------------------------------------------------------------

class QueueServer(TernServer):
    """A TernServer that keeps its directories, port and log across
    restarts, can be killed with SIGKILL, and runs any binary with any
    environment (TERN_FAULT)."""

    def __init__(self, workdir, server="", global_="", binary=None,
                 env=None):
        super().__init__(workdir, server, global_)
        self.binary = Path(binary) if binary else static_binary()
        self.env = dict(env or {})
        self.starts = 0
        self.kills = 0
        self.self_killed = 0    # runs that ended in SIGKILL of their own

    def start(self, env=None):
        """Start (again); env replaces the extra environment if given."""
        if env is not None:
            self.env = dict(env)
        self._logf = open(self.log_path, "ab")
        self._logf.write(f"---- start {self.starts + 1} env="
                         f"{self.env}\n".encode())
        self._logf.flush()
        penv = dict(os.environ)
        penv.pop("TERN_FAULT", None)
        penv.update(self.env)
        # ASan: no leak report on the exit paths we provoke on purpose
        penv.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        self.proc = subprocess.Popen(
            [str(self.binary), "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=self._logf,
            stderr=subprocess.STDOUT, cwd=self.dir, env=penv)
        self.starts += 1
        self.exit_expected = False
        self.start_failed = False
        deadline = time.monotonic() + START_TIMEOUT * 2
        while not port_listening(self.port):
            if self.proc.poll() is not None:
                self.start_failed = True
                pytest.fail(
                    f"tern exited with {self.proc.returncode} while "
                    f"starting (start {self.starts}); log:\n"
                    f"{tail(self.log())}", pytrace=False)
            if time.monotonic() > deadline:
                self.kill9()
                pytest.fail(f"tern did not listen within "
                            f"{START_TIMEOUT * 2} s; log:\n"
                            f"{tail(self.log())}", pytrace=False)
            time.sleep(0.005)
        return self

    def kill9(self):
        """SIGKILL, as a crash; returns when the process is gone."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.kills += 1
        self.proc.wait()
        self._close_log()
        self.proc = None

    def wait_gone(self, timeout=10.0):
        """For runs that kill themselves (TERN_FAULT tear): wait, return the
        status, forget the process."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        rc = self.proc.returncode
        if rc == -signal.SIGKILL:
            self.self_killed += 1
        self._close_log()
        self.proc = None
        return rc

    def _close_log(self):
        if self._logf:
            self._logf.close()
            self._logf = None

    def stop_checked(self):
        """SIGTERM and check like the fixture's teardown; fails the test on
        a problem. The server can be started again afterwards."""
        problems = self.stop()
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)

    def restart(self, env=None):
        self.stop_checked()
        return self.start(env)

    # -- journal

    def segments(self):
        return sorted(self.spool.glob("*.seg"))

    def journal_check(self, verbose=False, binary=None):
        return journal_check(binary or self.binary, self.spool, verbose)

    def sync(self, timeout=20.0):
        return TernServer.sync(self, timeout)


def journal_check(binary, spool, verbose=False):
    """Run `tern journal check [-v] SPOOL`: (exit code, stdout, summary
    dict of ints); fails the test if the summary line is missing."""
    cmd = [str(binary), "journal", "check"] + (["-v"] if verbose else []) \
        + [str(spool)]
    env = dict(os.environ)
    env.pop("TERN_FAULT", None)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    p = subprocess.run(cmd, capture_output=True, timeout=60, env=env)
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    m = None
    for m in CHECK_RE.finditer(out):
        pass
    if m is None:
        pytest.fail(f"`{' '.join(cmd)}` exit {p.returncode}, no summary "
                    f"line:\n{out}\n{err}", pytrace=False)
    if BAD_LOG_RE.search(out + err):
        pytest.fail(f"journal check: sanitizer/panic output:\n{err}",
                    pytrace=False)
    summary = {k: int(v) for k, v in m.groupdict().items() if k != "dir"}
    return p.returncode, out + err, summary


@pytest.fixture
def qfactory(tmp_path):
    started = []

    def start(name=None, server="", global_="", binary=None, env=None,
              workdir=None):
        name = name or f"q{len(started)}"
        t = QueueServer(workdir or (tmp_path / name), server, global_,
                        binary, env)
        started.append(t)
        return t.start()

    yield start
    problems = []
    for t in started:
        if t.proc is not None:
            problems += t.stop()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# ---- messages ------------------------------------------------------------------

def make_message(tag, size, rng, extra=b""):
    """A message of about `size` octets (at least the headers), CRLF lines,
    with X-Seq: <tag> and a Message-ID; the body has lines that start with
    dots and runs of random printable text."""
    head = (f"Message-ID: <{tag}@queue.test>\r\nX-Seq: {tag}\r\n"
            f"From: sender@client.test\r\nTo: someone@localhost\r\n"
            f"Subject: message {tag}\r\n").encode() + extra + b"\r\n"
    parts = [head]
    n = len(head)
    alphabet = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                b"0123456789 .,;:-_=+!?()<>")
    while n < size:
        k = rng.randrange(0, 120)
        kind = rng.random()
        if kind < 0.05:
            line = b"." * rng.randrange(1, 3) + bytes(
                rng.choice(alphabet) for _ in range(rng.randrange(0, 20)))
        elif kind < 0.08:
            line = b"."
        else:
            line = bytes(rng.choice(alphabet) for _ in range(k))
        line = line[:max(0, size - n - 2)] if size - n < len(line) + 2 \
            else line
        parts.append(line + b"\r\n")
        n += len(line) + 2
    return b"".join(parts)


def fast_message(tag, size, rng):
    """Like make_message but cheap for large sizes: 76-column lines of
    base64 from a seeded generator, every 17th line starting with a dot;
    exactly `size` octets when size - headers is not 1."""
    import base64
    head = (f"Message-ID: <{tag}@queue.test>\r\nX-Seq: {tag}\r\n"
            f"Subject: message {tag}\r\n\r\n").encode()
    body_len = max(0, size - len(head))
    raw = base64.b64encode(rng.randbytes(min(body_len, 1 << 16) + 96))
    out = bytearray()
    pos = i = 0
    while body_len - len(out) >= 80:
        if pos + 76 > len(raw):
            pos = rng.randrange(0, 50)
        line = raw[pos:pos + 76]
        pos += 76
        if i % 17 == 0:
            line = b"." + line[1:]
        out += line + b"\r\n"
        i += 1
    rest = body_len - len(out)
    if rest >= 2:
        out += b"z" * (rest - 2) + b"\r\n"
    return head + bytes(out)


def log_uniform_size(rng, lo=100, hi=200_000):
    import math
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def seq_of(message):
    m = SEQ_RE.search(message)
    return m.group(1).decode() if m else None


def delivered_index(drop, include_cur=False):
    """{file name: [(path, message bytes after Return-Path/Received)]} for
    every non-sentinel file in <drop>/*/*/new (and cur)."""
    out = {}
    dirs = ["new", "cur"] if include_cur else ["new"]
    for d in dirs:
        for p in sorted(Path(drop).glob(f"*/*/{d}/*")):
            if not p.is_file():
                continue
            data = p.read_bytes()
            if SENTINEL_HDR + b":" in data[:4096]:
                continue
            out.setdefault(p.name, []).append((p, data))
    return out


def delivered_by_seq(drop):
    """{X-Seq: [(path, message)]} over the drop directory."""
    out = {}
    for name, items in delivered_index(drop).items():
        for p, data in items:
            _, _, msg = split_delivered(data)
            out.setdefault(seq_of(msg), []).append((p, msg))
    return out


def file_name(qid):
    return f"Q{qid}.{HOSTNAME}"


# ---- SMTP sending that survives a dying server -----------------------------------

class Outcome:
    """What the client knows about one message."""
    ACKED = "acked"          # 250 after the end of data: must be delivered
    REFUSED = "refused"      # a 4xx/5xx for the message: must not be
    UNSURE = "unsure"        # all of it sent, no reply (server died)
    PARTIAL = "partial"      # not all of it sent: must not be delivered

    def __init__(self, seq, message, rcpts, how):
        self.seq = seq
        self.message = message
        self.rcpts = rcpts
        self.how = how          # "data" or "bdat"
        self.state = None
        self.reply = None
        self.qid = None


def bdat_stream(message, chunk_sizes):
    """The bytes of BDAT commands with their chunks for message, chunk
    sizes taken in turn from chunk_sizes (cycled); the last chunk is LAST.
    Returns (stream, number of chunks)."""
    out = []
    pos = 0
    k = 0
    sizes = list(chunk_sizes)
    while True:
        n = sizes[k % len(sizes)]
        k += 1
        piece = message[pos:pos + n]
        pos += len(piece)
        last = pos >= len(message)
        out.append(f"BDAT {len(piece)}{' LAST' if last else ''}\r\n"
                   .encode() + piece)
        if last:
            break
    return b"".join(out), k


class _Refused(Exception):
    pass


def send_one(c, o, rng=None, chunk_sizes=None):
    """Send message o on client c (past EHLO) with DATA or BDAT; sets
    o.state and o.reply. A refusal at MAIL/RCPT/DATA is REFUSED (and the
    transaction reset); a dying server makes it PARTIAL (not all of it
    sent) or UNSURE (all sent, no reply). Returns False when the
    connection is unusable."""
    from conftest import dot_stuff
    sent_all = False

    def step(line, code):
        r = c.cmd(line)
        if r.code != code:
            o.reply = f"{line.split(':')[0]}: {r}"
            raise _Refused()
        return r

    try:
        step("MAIL FROM:<sender@client.test>", 250)
        for r in o.rcpts:
            step(f"RCPT TO:<{r}>", 250)
        if o.how == "data":
            step("DATA", 354)
            stream = dot_stuff(o.message)
            half = len(stream) // 2
            c.send(stream[:half])
            c.send(stream[half:])
            sent_all = True
            r = c.reply(timeout=60)
        else:
            if chunk_sizes is None:
                chunk_sizes = [rng.choice([1000, 4096, 65536, 100000])] \
                    if rng else [65536]
            stream, nchunks = bdat_stream(o.message, chunk_sizes)
            c.send(stream)
            sent_all = True
            r = None
            for i in range(nchunks):
                r = c.reply(timeout=60)
                if i < nchunks - 1 and r.code != 250:
                    # the transaction failed early; later chunks get 503
                    o.state = Outcome.REFUSED
                    o.reply = str(r)
                    for _ in range(nchunks - 1 - i):
                        c.reply(timeout=60)
                    return True
        o.reply = str(r)
        if r.code == 250:
            m = OK_ID_RE.match(r.text)
            if not m:
                raise AssertionError(f"250 without an id: {r}")
            o.qid = m.group(1)
            o.state = Outcome.ACKED
        else:
            o.state = Outcome.REFUSED
    except _Refused:
        o.state = Outcome.REFUSED
        try:
            c.cmd("RSET")
        except (OSError, SMTPTestError):
            return False
    except (OSError, SMTPTestError) as e:
        o.state = Outcome.UNSURE if sent_all else Outcome.PARTIAL
        o.reply = f"{type(e).__name__}: {e}"[:200]
        return False
    return True


def connect_quiet(port, timeout=REPLY_TIMEOUT):
    """A client past greeting and EHLO, or None when the server is not
    there (or refuses)."""
    try:
        c = SMTPClient("127.0.0.1", port, timeout)
    except OSError:
        return None
    try:
        r = c.reply()
        if r.code != 220:
            c.close()
            return None
        c.cmd("EHLO client.test", 250)
        return c
    except (OSError, SMTPTestError):
        c.close()
        return None


def verify_delivery(drop, outcomes, allow_refused=False):
    """Every ACKED message is delivered byte-identical to each of its
    recipients' mailboxes under its queue id; nothing PARTIAL or REFUSED
    is delivered anywhere; UNSURE ones at most once per mailbox; nothing
    unknown is delivered. Returns a list of problems."""
    problems = []
    by_seq = delivered_by_seq(drop)
    known = {o.seq: o for o in outcomes}
    for seq, items in by_seq.items():
        if seq not in known:
            problems.append(f"delivered message with unknown X-Seq {seq}: "
                            f"{[str(p) for p, _ in items]}")
    for o in outcomes:
        items = by_seq.get(o.seq, [])
        boxes = {}
        for p, msg in items:
            boxes.setdefault(p.parent.parent, []).append((p, msg))
        want_boxes = {Path(drop) / r.split("@")[1] / r.split("@")[0]
                      for r in o.rcpts}
        if o.state == Outcome.ACKED:
            for b in want_boxes:
                got = boxes.get(b, [])
                if not got:
                    problems.append(f"{o.seq} id={o.qid} acknowledged "
                                    f"({o.how}, {len(o.message)} B) but not "
                                    f"in {b}")
                    continue
                names = [p.name for p, _ in got]
                if file_name(o.qid) not in names:
                    problems.append(f"{o.seq} id={o.qid}: no file "
                                    f"{file_name(o.qid)} in {b}: {names}")
                for p, msg in got:
                    if msg != o.message:
                        problems.append(
                            f"{o.seq} id={o.qid}: {p} differs from what "
                            f"was sent (len {len(msg)} vs "
                            f"{len(o.message)}; first diff at "
                            f"{first_diff(msg, o.message)})")
                if len(got) > 1:
                    problems.append(f"{o.seq} id={o.qid}: {len(got)} copies "
                                    f"in {b}: {names}")
        elif o.state in (Outcome.PARTIAL,) or (
                o.state == Outcome.REFUSED and not allow_refused):
            if items:
                problems.append(f"{o.seq} was {o.state} ({o.reply}) but "
                                f"delivered: {[str(p) for p, _ in items]}")
        elif o.state == Outcome.UNSURE:
            for b, got in boxes.items():
                if len(got) > 1:
                    problems.append(f"{o.seq} (unsure) {len(got)} copies "
                                    f"in {b}")
                for p, msg in got:
                    if msg != o.message:
                        problems.append(f"{o.seq} (unsure) {p} differs "
                                        f"from what was sent")
        for b in boxes:
            if b not in want_boxes:
                problems.append(f"{o.seq} delivered to {b}, not a "
                                f"recipient")
    return problems


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def wait_for(pred, timeout, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            return v
        time.sleep(step)


def acked_files_present(drop, outcomes):
    """True when every ACKED message has a file in each recipient box."""
    for o in outcomes:
        if o.state != Outcome.ACKED:
            continue
        for r in o.rcpts:
            local, dom = r.split("@")
            if not (Path(drop) / dom / local / "new" /
                    file_name(o.qid)).exists():
                return False
    return True


RECOVERED_RE = re.compile(
    r"queue recovered segments=(?P<segments>\d+) records=(?P<records>\d+) "
    r"messages=(?P<messages>\d+) dropped=(?P<dropped>\d+) "
    r"torn-bytes=(?P<torn_bytes>\d+) bad-records=(?P<bad_records>\d+)")


def recovery_reports(log_text):
    """The "queue recovered ..." log lines, in order, as dicts of ints."""
    return [{k: int(v) for k, v in m.groupdict().items()}
            for m in RECOVERED_RE.finditer(log_text)]


def spool_digest(spool):
    """{name: (size, sha256)} of every file in the spool."""
    import hashlib
    out = {}
    for p in sorted(Path(spool).iterdir()):
        if p.is_file():
            out[p.name] = (p.stat().st_size,
                           hashlib.sha256(p.read_bytes()).hexdigest())
    return out


class LoadClients:
    """Several client threads that send messages (random sizes, DATA or
    BDAT, one to three recipients, a few per connection) until told to
    stop or the server goes away; every Outcome is recorded."""

    RCPTS = ["alice@localhost", "bob@localhost", "carol@example.test"]

    def __init__(self, port, nthreads, seed, tag, sizes=(100, 200_000),
                 max_per_conn=3):
        self.port = port
        self.seed = seed
        self.tag = tag
        self.sizes = sizes
        self.max_per_conn = max_per_conn
        self.outcomes = []
        self.lock = threading.Lock()
        self.stop_evt = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k,),
                                         daemon=True)
                        for k in range(nthreads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _run(self, k):
        rng = random.Random(self.seed * 1000 + k)
        n = 0
        while not self.stop_evt.is_set():
            c = connect_quiet(self.port, timeout=10)
            if c is None:
                return          # the server is gone
            try:
                for _ in range(rng.randrange(1, self.max_per_conn + 1)):
                    if self.stop_evt.is_set():
                        break
                    n += 1
                    seq = f"{self.tag}-t{k}-{n}"
                    size = log_uniform_size(rng, *self.sizes)
                    rcpts = rng.sample(self.RCPTS, rng.choice([1, 1, 2]))
                    o = Outcome(seq, fast_message(seq, size, rng), rcpts,
                                rng.choice(["data", "bdat"]))
                    with self.lock:
                        self.outcomes.append(o)
                    if not send_one(c, o, rng):
                        return
                try:
                    c.cmd("QUIT")
                except (OSError, SMTPTestError):
                    return
            finally:
                c.close()

    def stop(self, timeout=30):
        self.stop_evt.set()
        for t in self.threads:
            t.join(timeout)
        alive = [t for t in self.threads if t.is_alive()]
        assert not alive, "client threads did not end"
        for o in self.outcomes:
            if o.state is None:      # never got to send (cannot happen)
                o.state = Outcome.PARTIAL
        return self.outcomes


def count_states(outcomes):
    from collections import Counter
    return dict(Counter(o.state for o in outcomes))
