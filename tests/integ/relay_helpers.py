"""
Helpers for the relay tests (test_relay*.py): the far sides tern relays
to, on loopback only, and ways to see what tern did with a message.

Peers
  Peer            a scripted SMTP server (threads, blocking sockets) that
                  records every byte it received per connection, every
                  command with the reply it got and what the client had
                  already sent when that reply went out (to see PIPELINING),
                  and each message (DATA un-stuffed, or BDAT chunks joined)
                  with the exact wire bytes. A script (dict; a list of dicts
                  = one per connection, the last one repeating) overrides a
                  reply per stage or makes the peer drop or hang.
  AioSink         python3-aiosmtpd in this process (a real implementation
                  without CHUNKING): the DATA path.
  Blackhole       a listener whose accept queue is full: connects hang
                  (the SMTP client's connect time-out).
  closed_port()   a port nothing listens on: connects are refused.
  Dnsmasq         dnsmasq on 127.0.0.1:PORT from one command line (MX, A
                  records, NXDOMAIN for the rest of a zone).
  PostfixPeer     Debian's Postfix unpacked from its .deb (not installed),
                  accepting mail for one domain and piping each message
                  into a file; skips the test when it cannot be set up.

tern
  relay_global()  global config text: the queue block (short retries and
                  time-outs) plus connectors and extra lines
  connector()     the text of one connector block
  submit()        send one message into tern (from 127.0.0.1 or a chosen
                  source address), returns the queue id
  client_from()   an SMTPClient whose socket is bound to a source address
  ctl()           `tern ctl -s SPOOL/control ...` (ternctl); queue_list(),
                  queue_show()
  out_events()    the SMTP client's `<id> smtp out rcpt=<a> status=...`
                  log lines; wait_out() polls for them
  strip_trace()   a relayed message without tern's Received header(s)
  has_resolver()  whether `tern resolve` exists (the DNS resolver landed)
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import (HOSTNAME, REPLY_TIMEOUT, REPO, TERN_BIN, SMTPClient,
                      SMTPTestError, dot_stuff, free_ports, tail)

PEER_NAME = "peer.test"

# short retries and time-outs: a test sees several attempts in seconds
FAST_QUEUE = """\
queue {
    retry 1s
    expire 1h
    timeout connect 2s
    timeout reply 2s
}
"""


# ---- waiting ----------------------------------------------------------------

def wait_for(pred, timeout=10.0, interval=0.02):
    """Poll pred() until it is true (returns its value) or time runs out
    (returns the last, false value)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


# ---- tern configuration -----------------------------------------------------

def connector(name, spaces="*", hosts=(), cost=None, route_mx=False,
              port=None, schedule=None, extra=()):
    """One connector block. hosts: ports (-> [127.0.0.1]:PORT) or strings."""
    lines = [f"connector {name} {{",
             f"    address-space {spaces}" +
             (f" cost {cost}" if cost is not None else "")]
    if route_mx:
        lines.append("    route mx")
    if hosts:
        lines.append("    smarthost " + " ".join(
            f"[127.0.0.1]:{h}" if isinstance(h, int) else h for h in hosts))
    if port is not None:
        lines.append(f"    port {port}")
    if schedule:
        lines.append(f"    schedule {schedule}")
    lines += [f"    {e}" for e in extra]
    lines.append("}")
    return "\n".join(lines) + "\n"


def relay_global(*connectors, queue=FAST_QUEUE, extra=""):
    """Global config text: queue block, connectors, extra top-level lines.
    It holds blocks, so conftest appends it verbatim."""
    return (extra.rstrip("\n") + "\n" if extra else "") + queue + \
        "".join(connectors)


# ---- talking to tern --------------------------------------------------------

class BoundClient(SMTPClient):
    """conftest's SMTPClient with the socket bound to a source address
    (127.0.0.2 is a client from outside the relay networks)."""

    def __init__(self, host, port, source, timeout=REPLY_TIMEOUT,
                 transcript=None, tag="c"):
        self.timeout = timeout
        self.tag = tag
        self.transcript = transcript if transcript is not None else []
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.bind((source, 0))
            s.connect((host, port))
        except OSError:
            s.close()
            raise
        self.sock = s
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.reset = False


def client_from(t, source="127.0.0.2", host=None, port=None,
                ehlo="client.test"):
    """A client of tern t from `source`, past the greeting and EHLO."""
    c = BoundClient(host or t.host, port or t.port, source)
    c.expect(220)
    if ehlo:
        c.cmd(f"EHLO {ehlo}", 250)
    return c


QID_RE = re.compile(r"OK id=([0-9a-f]{16})")


def message(tag="m", body=b"hello\r\n", extra_headers=b""):
    """A small message with a unique tag in its Subject and Message-ID."""
    return (f"From: sender@client.test\r\nTo: someone@other.example\r\n"
            f"Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n"
            f"Message-ID: <{tag}@relay.test>\r\nSubject: {tag}\r\n"
            .encode() + extra_headers + b"\r\n" + body)


def submit(t, rcpts, msg, sender="sender@client.test", params="",
           source=None, ehlo="client.test"):
    """Send one message into tern with DATA; every reply checked; returns
    the queue id."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    c = client_from(t, source, ehlo=ehlo) if source else t.connect(ehlo)
    with c:
        c.cmd(f"MAIL FROM:<{sender}>" + (" " + params if params else ""),
              250)
        for r in rcpts:
            c.cmd(f"RCPT TO:<{r}>", 250)
        c.cmd("DATA", 354)
        c.send(dot_stuff(msg))
        r = c.reply(timeout=10).check(250, what="end of data")
        c.cmd("QUIT", 221)
    m = QID_RE.search(r.text)
    assert m, str(r)
    return m.group(1)


def submit_bdat(t, rcpts, msg, sender="sender@client.test", params="",
                chunk=None):
    """Send one message into tern with BDAT (one chunk, or chunks of
    `chunk` octets); returns the queue id."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    with t.connect() as c:
        c.cmd(f"MAIL FROM:<{sender}>" + (" " + params if params else ""),
              250)
        for r in rcpts:
            c.cmd(f"RCPT TO:<{r}>", 250)
        chunk = chunk or max(1, len(msg))
        pieces = [msg[i:i + chunk] for i in range(0, len(msg), chunk)] or \
            [b""]
        for k, p in enumerate(pieces):
            last = k == len(pieces) - 1
            c.send(f"BDAT {len(p)}{' LAST' if last else ''}\r\n".encode()
                   + p)
            r = c.reply(timeout=10).check(250, what="BDAT")
        c.cmd("QUIT", 221)
    m = QID_RE.search(r.text)
    assert m, str(r)
    return m.group(1)


def ctl(t, *args, timeout=10, check=True):
    """`tern ctl -s SPOOL/control ARGS` (ternctl): stdout and stderr
    together; with check, a non-zero exit fails the test."""
    p = subprocess.run([str(TERN_BIN), "ctl", "-s", str(t.spool / "control"),
                        *args], capture_output=True, timeout=timeout)
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert not check or p.returncode == 0, (
        f"ternctl {' '.join(args)}: exit {p.returncode}\n{out}")
    return out


LIST_RE = re.compile(r"^([0-9a-f]{16})\s+(\d+)\s+(\S+)\s+(\d+)/(\d+)\s+"
                     r"(\S+)\s+(.*)$")
LIST_END_RE = re.compile(r"^-- (\d+) messages?, (\d+) bytes$", re.M)


def queue_list(t):
    """[{id, size, done, nrcpt, retry, reply}] from `ternctl queue list`;
    the summary line's count is checked against the rows."""
    out = ctl(t, "queue", "list")
    rows = []
    for line in out.splitlines():
        m = LIST_RE.match(line)
        if m:
            rows.append(dict(id=m.group(1), size=int(m.group(2)),
                             done=int(m.group(4)), nrcpt=int(m.group(5)),
                             retry=m.group(6), reply=m.group(7)))
    m = LIST_END_RE.search(out)
    assert m, f"no summary line in `queue list`:\n{out}"
    assert int(m.group(1)) == len(rows), out
    return rows


SHOW_RCPT_RE = re.compile(r"^rcpt (\d+): <([^>]*)> mailbox=(\S*) "
                          r"state=(\w+)(?: notify=.*)?$", re.M)


def queue_show(t, qid):
    """`ternctl queue show ID` -> dict of the header fields plus "rcpts":
    {address: state}; None when the message is no longer queued."""
    out = ctl(t, "queue", "show", qid, check=False)
    if out.startswith("error: no message"):
        return None
    info = {}
    for line in out.splitlines():
        k, sep, v = line.partition(": ")
        if sep and not k.startswith("rcpt "):
            info[k] = v
    info["rcpts"] = {m.group(2): m.group(4)
                     for m in SHOW_RCPT_RE.finditer(out)}
    info["text"] = out
    return info


OUT_RE = re.compile(r"^\S+ ([0-9a-f]{16}) smtp out rcpt=<([^>]*)> "
                    r"status=(sent|deferred|failed) reply=(.*)$", re.M)


def out_events(t, qid=None):
    """[(qid, rcpt, status, reply)] from tern's log, in order."""
    return [m.groups() for m in OUT_RE.finditer(t.log())
            if qid is None or m.group(1) == qid]


def statuses(t, qid, rcpt=None):
    return [e[2] for e in out_events(t, qid) if rcpt is None or e[1] == rcpt]


def wait_out(t, qid, rcpt, status, timeout=10.0):
    """Wait for `qid smtp out rcpt=<rcpt> status=STATUS`; the event."""
    def find():
        for e in out_events(t, qid):
            if e[1] == rcpt and e[2] == status:
                return e
        return None
    e = wait_for(find, timeout)
    if not e:
        raise SMTPTestError(
            f"no `{qid} smtp out rcpt=<{rcpt}> status={status}` within "
            f"{timeout} s; events {out_events(t, qid)}\nlog:\n"
            f"{tail(t.log(), 30)}")
    return e


def wait_state(t, qid, states, timeout=10.0):
    """Wait until `queue show` gives these recipient states ({addr:
    state}); results reach it once their journal record is written, a
    moment after the log line."""
    info = wait_for(lambda: (lambda i: i if i and all(
        i["rcpts"].get(a) == s for a, s in states.items()) else None)(
            queue_show(t, qid)), timeout, 0.05)
    if not info:
        i = queue_show(t, qid)
        raise SMTPTestError(f"{qid}: not {states} after {timeout} s: "
                            f"{i['text'] if i else 'not queued'}")
    return info


def wait_gone(t, qid, timeout=10.0):
    """Wait until the message left the queue (every recipient final)."""
    if not wait_for(lambda: queue_show(t, qid) is None, timeout, 0.1):
        raise SMTPTestError(f"{qid} still queued after {timeout} s:\n"
                            f"{queue_show(t, qid)['text']}\nlog:\n"
                            f"{tail(t.log(), 30)}")


def queue_rcpt_results(t, qid):
    """{rcpt index: (status, reason)} from `queue rcpt=N status=...`."""
    out = {}
    for m in re.finditer(rf"^\S+ {qid} queue rcpt=(\d+) status=(\w+)"
                         r"(?: reason=(.*))?$", t.log(), re.M):
        out[int(m.group(1))] = (m.group(2), m.group(3) or "")
    return out


def strip_trace(data, count=1):
    """Remove `count` leading Received: headers (with continuation lines)
    from message bytes; returns (the headers, the rest). Works for CRLF and
    LF line ends."""
    heads = []
    rest = data
    for _ in range(count):
        assert rest.startswith(b"Received: "), rest[:200]
        nl = b"\r\n" if rest.find(b"\r\n") == rest.find(b"\n") - 1 else b"\n"
        pos = rest.index(nl) + len(nl)
        while rest[pos:pos + 1] in (b" ", b"\t"):
            pos = rest.index(nl, pos) + len(nl)
        heads.append(rest[:pos])
        rest = rest[pos:]
    return heads, rest


def check_tern_trace(head, qid):
    """tern's Received header for message qid."""
    text = head.decode(errors="replace")
    assert f"by {HOSTNAME} (tern)" in text and f"id {qid}" in text, text


def has_resolver():
    """True once `tern resolve` exists: its usage output names it."""
    try:
        p = subprocess.run([str(TERN_BIN), "resolve"], capture_output=True,
                           timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    out = (p.stdout + p.stderr).decode(errors="replace")
    return "resolve" in out


# ---- a scripted SMTP peer ---------------------------------------------------

class PeerMessage:
    """One transaction that reached the end of its text."""

    def __init__(self, mail_from, mail_params, rcpts, how):
        self.mail_from = mail_from
        self.mail_params = mail_params      # the words after the path
        self.rcpts = rcpts                  # accepted recipients
        self.how = how                      # "DATA" or "BDAT"
        self.wire = bytearray()             # the bytes as sent
        self.data = b""                     # the message (un-stuffed)
        self.chunks = []                    # BDAT: [(size, last)]
        self.reply = None                   # the reply to the end
        self.accepted = False               # that reply was 2xx


class PeerSession:
    def __init__(self, index, addr):
        self.index = index
        self.addr = addr
        self.raw = bytearray()      # everything received, in order
        self.commands = []          # [(line, reply or action, pending)]
        self.messages = []          # [PeerMessage] incl. refused ones
        self.ehlo = None
        self.closed = threading.Event()

    def verbs(self):
        return [c[0].split(" ", 1)[0].split(":", 1)[0].upper()
                for c in self.commands]

    def lines(self, verb):
        v = verb.upper()
        return [c for c in self.commands if c[0].upper().startswith(v)]


class _Drop(Exception):
    pass


class Peer:
    """A scripted SMTP server on (host, port).

    caps: the EHLO extensions (default PIPELINING, SIZE 10485760, 8BITMIME,
    SMTPUTF8, ENHANCEDSTATUSCODES). script: a dict, a list of dicts (one
    per connection, the last repeating) or a callable(index) -> dict. Keys:
      greeting ehlo helo mail data dot bdat bdat_last rset quit noop
          a reply ("451 4.3.0 later"; several lines separated by \\r\\n),
          "drop" (close), "hang" (never answer), or a callable
          (session, argument) -> one of those
      rcpt  like the above, or a dict {address: reply} (others get 250)
      data_body, bdat_body  ("drop", N) / ("hang", N): after N octets of
          the text
    linger: seconds to wait before answering MAIL and RCPT, so that what
    the client pipelined behind them is seen (the `pending` of a command).
    max_active: the most sessions that were open at once.
    A SIZE limit in caps is enforced at MAIL SIZE= and at the end (552).
    """

    DEFAULT_CAPS = ("PIPELINING", "SIZE 10485760", "8BITMIME", "SMTPUTF8",
                    "ENHANCEDSTATUSCODES")

    def __init__(self, caps=DEFAULT_CAPS, script=None, linger=0.0,
                 host="127.0.0.1", port=0, name=PEER_NAME):
        self.caps = list(caps)
        self.script = script
        self.linger = linger
        self.name = name
        self.host = host
        self.sessions = []
        self.lock = threading.Lock()
        self.stop_evt = threading.Event()
        self.errors = []
        self.sock = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.size_limit = 0
        for c in self.caps:
            w = c.split()
            if w[0].upper() == "SIZE" and len(w) > 1:
                self.size_limit = int(w[1])
        self.active = 0             # sessions open now
        self.max_active = 0         # the most open at once
        self._conns = []
        self._threads = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    # -- control

    def stop(self):
        self.stop_evt.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
        self._acceptor.join(5)
        for th in self._threads:
            th.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- results

    def all_messages(self, accepted=True):
        with self.lock:
            sess = list(self.sessions)
        return [m for s in sess for m in s.messages
                if m.accepted or not accepted]

    def wait_messages(self, n, timeout=10.0):
        ok = wait_for(lambda: len(self.all_messages()) >= n, timeout)
        if not ok:
            raise SMTPTestError(
                f"peer {self.port}: {len(self.all_messages())} of {n} "
                f"messages after {timeout} s; sessions:\n{self.describe()}")
        return self.all_messages()

    def wait_sessions(self, n, timeout=10.0, closed=False):
        def enough():
            with self.lock:
                sess = list(self.sessions)
            if closed:
                sess = [s for s in sess if s.closed.is_set()]
            return len(sess) >= n
        if not wait_for(enough, timeout):
            raise SMTPTestError(
                f"peer {self.port}: fewer than {n} sessions after "
                f"{timeout} s:\n{self.describe()}")
        with self.lock:
            return list(self.sessions)

    def describe(self):
        out = []
        with self.lock:
            sess = list(self.sessions)
        for s in sess:
            out.append(f"  session {s.index}: " + "; ".join(
                f"{c[0][:60]!r}->{str(c[1])[:40]!r}" for c in s.commands))
        return "\n".join(out) or "  (none)"

    # -- the server

    def _accept(self):
        index = 0
        self.sock.settimeout(0.05)
        while not self.stop_evt.is_set():
            try:
                conn, addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(30)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sess = PeerSession(index, addr)
            index += 1
            with self.lock:
                self.sessions.append(sess)
                self._conns.append(conn)
            th = threading.Thread(target=self._serve, args=(conn, sess),
                                  daemon=True)
            self._threads.append(th)
            th.start()

    def _script_for(self, index):
        s = self.script
        if s is None:
            return {}
        if callable(s):
            return s(index) or {}
        if isinstance(s, list):
            return s[min(index, len(s) - 1)] or {}
        return s

    def _serve(self, conn, sess):
        try:
            conn.settimeout(30)
        except OSError:
            return      # stop() closed it first (a late connection)
        st = _PeerConn(self, conn, sess, self._script_for(sess.index))
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            st.run()
        except _Drop:
            pass
        except (OSError, socket.timeout):
            pass
        except Exception as e:          # a bug in the peer: show it
            self.errors.append(f"session {sess.index}: {e!r}")
        finally:
            try:
                conn.close()
            except OSError:
                pass
            with self.lock:
                self.active -= 1
            sess.closed.set()


class _PeerConn:
    def __init__(self, peer, conn, sess, script):
        self.peer = peer
        self.conn = conn
        self.sess = sess
        self.script = script
        self.buf = bytearray()
        self.txn = None

    # -- io

    def _recv(self):
        if self.peer.stop_evt.is_set():
            raise _Drop()
        data = self.conn.recv(65536)
        if not data:
            raise _Drop()
        self.sess.raw += data
        self.buf += data

    def _drain_nowait(self):
        self.conn.setblocking(False)
        try:
            while True:
                data = self.conn.recv(65536)
                if not data:
                    break
                self.sess.raw += data
                self.buf += data
        except (BlockingIOError, OSError):
            pass
        finally:
            self.conn.setblocking(True)
            self.conn.settimeout(30)

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > 100000:
                raise _Drop()
            self._recv()

    def _exact(self, n, act=None):
        """n octets; act = ("drop"|"hang", after) cuts it short."""
        while len(self.buf) < n:
            if act and len(self.buf) >= act[1]:
                self._act(act[0])
            self._recv()
        if act and n >= act[1]:
            self._act(act[0])
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _act(self, what):
        if what == "drop":
            raise _Drop()
        if what == "hang":
            self.peer.stop_evt.wait(60)
            raise _Drop()
        raise AssertionError(f"unknown peer action {what!r}")

    def _send(self, text):
        if isinstance(text, str):
            text = text.encode()
        if not text.endswith(b"\r\n"):
            text += b"\r\n"
        self.conn.sendall(text)

    def _respond(self, stage, default, arg="", record=None, linger=False):
        how = self.script.get(stage, default)
        if callable(how):
            how = how(self.sess, arg)
        if how is None:
            how = default
        pending = None
        if linger and self.peer.linger:
            time.sleep(self.peer.linger)
            self._drain_nowait()
            pending = bytes(self.buf)
        if record is not None:
            self.sess.commands.append((record, how, pending))
        if how in ("drop", "hang"):
            self._act(how)
        self._send(how)
        return how

    # -- the protocol

    def run(self):
        self._respond("greeting", f"220 {self.peer.name} ESMTP scripted")
        while True:
            raw = self._line()
            line = raw.decode("utf-8", "replace")
            verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
            arg = line[len(verb):].strip() if " " in line else ""
            if verb == "EHLO":
                self.sess.ehlo = arg
                caps = self.peer.caps
                lines = [self.peer.name] + caps
                text = "\r\n".join(
                    f"250{'-' if i < len(lines) - 1 else ' '}{t}"
                    for i, t in enumerate(lines))
                self.txn = None
                self._respond("ehlo", text, arg, record=line)
            elif verb == "HELO":
                self.sess.ehlo = arg
                self.txn = None
                self._respond("helo", f"250 {self.peer.name}", arg,
                              record=line)
            elif verb == "MAIL":
                self._mail(line)
            elif verb == "RCPT":
                self._rcpt(line)
            elif verb == "DATA":
                self._data(line)
            elif verb == "BDAT":
                self._bdat(line)
            elif verb == "RSET":
                self.txn = None
                self._respond("rset", "250 2.0.0 Ok", record=line)
            elif verb == "NOOP":
                self._respond("noop", "250 2.0.0 Ok", record=line)
            elif verb == "QUIT":
                self._respond("quit", "221 2.0.0 Bye", record=line)
                raise _Drop()
            else:
                self._respond("unknown", "500 5.5.2 unknown command",
                              record=line)

    def _mail(self, line):
        m = re.match(r"(?i)MAIL FROM:<([^>]*)>(.*)$", line)
        if not m:
            self._respond("mail", "501 5.5.4 syntax", record=line)
            return
        params = m.group(2).split()
        default = "250 2.1.0 Ok"
        for p in params:
            if p.upper().startswith("SIZE=") and self.peer.size_limit and \
                    int(p[5:]) > self.peer.size_limit:
                default = "552 5.3.4 message too big for this peer"
        r = self._respond("mail", default, m.group(1), record=line,
                          linger=True)
        if r.startswith("2"):
            self.txn = PeerMessage(m.group(1), params, [], None)

    def _rcpt(self, line):
        m = re.match(r"(?i)RCPT TO:<([^>]*)>", line)
        addr = m.group(1) if m else ""
        how = self.script.get("rcpt")
        if isinstance(how, dict):
            rep = how.get(addr, "250 2.1.5 Ok")
            saved = self.script
            self.script = dict(saved, rcpt=rep)
            try:
                r = self._rcpt_reply(line, addr)
            finally:
                self.script = saved
        else:
            r = self._rcpt_reply(line, addr)
        if r.startswith("2") and self.txn is not None:
            self.txn.rcpts.append(addr)

    def _rcpt_reply(self, line, addr):
        if self.txn is None:
            return self._respond("rcpt_nomail", "503 5.5.1 MAIL first",
                                 record=line, linger=True)
        return self._respond("rcpt", "250 2.1.5 Ok", addr, record=line,
                             linger=True)

    def _end_reply(self, stage, msg):
        default = f"250 2.0.0 Ok: queued as {len(self.sess.messages)}"
        if self.peer.size_limit and len(msg.data) > self.peer.size_limit:
            default = "552 5.3.4 message too big for this peer"
        r = self._respond(stage, default, msg, record=f"<end of {msg.how}>")
        msg.reply = r
        msg.accepted = r.startswith("2")

    def _data(self, line):
        t = self.txn
        if t is None or not t.rcpts:
            self._respond("data_refused", "503 5.5.1 no valid recipients",
                          record=line)
            return
        r = self._respond("data", "354 End data with <CR><LF>.<CR><LF>",
                          record=line)
        if not r.startswith("354"):
            return
        t.how = "DATA"
        act = self.script.get("data_body")
        # the text up to <CRLF>.<CRLF> (or a lone ".\r\n" first)
        while True:
            stream = bytes(self.buf)
            if stream.startswith(b".\r\n"):
                end = 0
                break
            i = stream.find(b"\r\n.\r\n")
            if i >= 0:
                end = i + 2
                break
            if act and len(self.buf) >= act[1]:
                self._act(act[0])
            self._recv()
        if act and end >= act[1]:
            self._act(act[0])
        t.wire = bytearray(self.buf[:end + 3])
        body = bytes(self.buf[:end])
        del self.buf[:end + 3]
        lines = body.split(b"\r\n")
        t.data = b"\r\n".join(l[1:] if l.startswith(b".") else l
                              for l in lines)
        self.sess.messages.append(t)
        self.txn = None
        self._end_reply("dot", t)

    def _bdat(self, line):
        m = re.match(r"(?i)BDAT (\d+)( LAST)?$", line)
        if not m:
            self._respond("bdat_syntax", "501 5.5.4 BDAT syntax",
                          record=line)
            raise _Drop()
        n, last = int(m.group(1)), bool(m.group(2))
        t = self.txn
        act = self.script.get("bdat_body")
        if act:
            done = sum(c[0] for c in t.chunks) if t and t.chunks else 0
            act = (act[0], max(0, act[1] - done))
        chunk = self._exact(n, act)
        if t is None or not t.rcpts:
            self._respond("bdat_refused", "503 5.5.1 no valid recipients",
                          record=line)
            return
        if t.how is None:
            t.how = "BDAT"
            self.sess.messages.append(t)
        t.wire += line.encode() + b"\r\n" + chunk
        t.chunks.append((n, last))
        t.data += chunk
        if t.reply is not None:
            # an earlier chunk was refused: the transaction is lost
            r = self._respond("bdat_after_error",
                              "554 5.5.0 transaction already failed",
                              record=line)
            if last:
                self.txn = None
        elif last:
            self.txn = None
            self._end_reply("bdat_last", t)
        else:
            r = self._respond("bdat", f"250 2.0.0 {n} octets received",
                              record=line)
            if not r.startswith("2"):
                t.reply = r


# ---- other far sides --------------------------------------------------------

def closed_port():
    """A loopback port nothing listens on (connections are refused)."""
    return free_ports(1)[0]


class Blackhole:
    """A listener whose accept queue is full: a connect to it gets no
    answer (its SYN is dropped), as from a host that is down."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(c)
        time.sleep(0.1)

    def works(self):
        """True when a new connect indeed hangs."""
        c = socket.socket()
        c.settimeout(0.5)
        try:
            c.connect(("127.0.0.1", self.port))
            return False
        except socket.timeout:
            return True
        except OSError:
            return False
        finally:
            c.close()

    def close(self):
        for c in self.fillers:
            c.close()
        self.sock.close()


class AioSink:
    """python3-aiosmtpd's SMTP server in this process; handle_DATA keeps
    each envelope (mail_from, mail_options, rcpt_tos, original_content)."""

    def __init__(self):
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            pytest.skip("python3-aiosmtpd is not installed")
        self.envelopes = []
        self.port = free_ports(1)[0]
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.envelopes.append(envelope)
                return "250 2.0.0 Ok: kept"

        self.controller = Controller(Handler(), hostname="127.0.0.1",
                                     port=self.port)
        self.controller.start()

    def stop(self):
        self.controller.stop()

    def wait(self, n, timeout=10.0):
        if not wait_for(lambda: len(self.envelopes) >= n, timeout):
            raise SMTPTestError(f"aiosmtpd sink: {len(self.envelopes)} of "
                                f"{n} messages after {timeout} s")
        return self.envelopes


# ---- dnsmasq ----------------------------------------------------------------

class Dnsmasq:
    """dnsmasq on 127.0.0.1:port (UDP and TCP) with MX/A records given as
    its own options, authoritative (NXDOMAIN) for `local` zones."""

    def __init__(self, workdir, records, local=()):
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.path.exists(exe):
            pytest.skip("dnsmasq (package dnsmasq-base) is not installed")
        self.port = free_ports(1)[0]
        self.log_path = Path(workdir) / "dnsmasq.log"
        args = [exe, "-d", "-k", "-p", str(self.port),
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "--pid-file=", "--user=root", "--log-queries"]
        args += [f"--local=/{z}/" for z in local]
        args += list(records)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self._log,
                                     stderr=subprocess.STDOUT)
        ok = wait_for(lambda: self._udp_bound() or self.proc.poll()
                      is not None, 5)
        if not ok or self.proc.poll() is not None:
            self.stop()
            pytest.skip(f"dnsmasq did not start: {self.log()[-500:]}")

    def _udp_bound(self):
        want = ":%04X" % self.port
        try:
            with open("/proc/net/udp") as f:
                return any(want in row.split()[1] for row in f
                           if len(row.split()) > 2)
        except OSError:
            return False

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# ---- Debian's Postfix, unpacked ---------------------------------------------

BENCH = REPO / "tools" / "bench"


def _benchlib():
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    import benchlib
    return benchlib


def postfix_root():
    """A Postfix tree (TERN_POSTFIX_ROOT, the installed package, or the
    .deb unpacked into output/bench/postfix/root as tools/bench does; it
    is downloaded with `apt-get download` if missing, never installed).
    Skips the test when there is none or its libraries are missing."""
    bl = _benchlib()
    root = os.environ.get("TERN_POSTFIX_ROOT")
    if not root and os.path.exists("/usr/lib/postfix/sbin/master"):
        root = "/"
    if not root:
        cache = REPO / "output" / "bench" / "postfix"
        root = str(cache / "root")
        if not os.path.exists(os.path.join(root,
                                           "usr/lib/postfix/sbin/master")):
            try:
                cache.mkdir(parents=True, exist_ok=True)
                subprocess.run(["apt-get", "download", "-q", "-o",
                                "APT::Sandbox::User=root", "postfix"],
                               cwd=cache, capture_output=True, timeout=120,
                               check=True)
                debs = sorted(cache.glob("postfix_*.deb"))
                tmp = cache / "root.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(tmp)],
                               capture_output=True, timeout=120, check=True)
                shutil.rmtree(root, ignore_errors=True)
                os.rename(tmp, root)
            except (OSError, IndexError, subprocess.SubprocessError) as e:
                pytest.skip(f"Debian's postfix package is not available "
                            f"({e}); unpack it into {root} or set "
                            "TERN_POSTFIX_ROOT")
    if os.geteuid() != 0:
        pytest.skip("running Postfix's master needs root")
    missing = bl.missing_libs(root)
    if missing:
        pytest.skip(f"Postfix's runtime libraries are missing: {missing}")
    return root


class PostfixPeer:
    """Postfix's master in the foreground on 127.0.0.1:port with a scratch
    configuration: mail for `domain` is accepted (nothing else: mynetworks
    holds no loopback address) and handed to a pipe transport that writes
    each message into out/<queue id>; the log goes to a file
    (maillog_file). main_extra, master_extra: more main.cf and master.cf
    lines (e.g. "smtpd_discard_ehlo_keywords = 8bitmime" for a peer without
    8BITMIME, or TLS settings and the tlsmgr service)."""

    def __init__(self, keep_dir, domain, port=None, main_extra="",
                 master_extra="", final=False):
        """port: listen there (default a free one); final: the pipe is a
        final delivery (pipe's flag X: its success reports say
        "delivered", not "relayed")."""
        import tempfile
        bl = _benchlib()
        self.root = postfix_root()
        # Postfix's daemons run as unprivileged users: a directory they can
        # reach (pytest's tmp_path is 0700); removed by stop(), which copies
        # the log into keep_dir
        self.keep_dir = Path(keep_dir)
        self.dir = Path(tempfile.mkdtemp(prefix="tern-postfix."))
        self.port = port or free_ports(1)[0]
        self.domain = domain
        try:
            conf, queue, head, privs = bl.postfix_scratch(str(self.dir),
                                                          self.root)
        except (RuntimeError, KeyError) as e:
            pytest.skip(f"no identities for Postfix: {e}")
        bl.become_subreaper()
        conf = Path(conf)
        self.out = self.dir / "out"
        self.out.mkdir()
        os.chmod(self.out, 0o777)
        self.queue = queue
        (conf / "main.cf").write_text(head + f"""\
maillog_file_prefixes = {self.dir}
maillog_file = {self.dir}/maillog
myhostname = pf.test
mydomain = pf.test
myorigin = pf.test
mydestination =
relay_domains = {domain}
relay_transport = savefile
relay_recipient_maps =
mynetworks = 192.0.2.0/24
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
local_header_rewrite_clients =
savefile_destination_recipient_limit = 1
""" + main_extra)
        (conf / "master.cf").write_text(f"""\
127.0.0.1:{self.port} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
postlog unix-dgram n - n - 1 postlogd
savefile unix - n n - - pipe
  {"flags=X " if final else ""}user={privs} argv=/bin/sh -c {{ cat > {self.out}/.${{queue_id}} && mv {self.out}/.${{queue_id}} {self.out}/${{queue_id}} }}
""" + master_extra)
        (conf / "dynamicmaps.cf").write_text("")
        self.conf = conf
        self.log_path = self.dir / "maillog"
        self._out = open(self.dir / "master.out", "wb")
        self.proc = subprocess.Popen(
            [os.path.join(self.root, "usr/lib/postfix/sbin/master"), "-c",
             str(conf), "-d", "-s"],
            stdin=subprocess.DEVNULL, stdout=self._out,
            stderr=subprocess.STDOUT, env=bl.postfix_env(self.root),
            cwd=self.dir)
        self.seen = set()
        ok = wait_for(lambda: bl.listening(self.port) or
                      self.proc.poll() is not None, 10, 0.05)
        if not ok or self.proc.poll() is not None or \
                not bl.listening(self.port):
            text = self.log()
            self.stop()
            pytest.skip(f"Postfix did not start (exit {self.proc.poll()}):"
                        f" {text[-800:]}")
        time.sleep(0.3)

    def log(self):
        out = ""
        for p in (self.log_path, self.dir / "master.out"):
            try:
                out += p.read_text(errors="replace")
            except OSError:
                pass
        return out

    def delivered(self):
        # a message is written to .<queue id>, then renamed: complete
        return sorted(p for p in self.out.iterdir()
                      if p.is_file() and not p.name.startswith("."))

    def stop(self):
        bl = _benchlib()
        try:
            self.seen.update(bl.tree(self.proc.pid))
        except OSError:
            pass
        bl.stop_tree(self.proc, self.seen, self.queue)
        self._out.close()
        try:
            self.keep_dir.mkdir(parents=True, exist_ok=True)
            (self.keep_dir / "postfix.log").write_text(self.log())
        except OSError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- fixtures (import them: `from relay_helpers import peers, ...`) ---------

@pytest.fixture
def peers():
    """make(**Peer kwargs) -> Peer; all stopped at teardown, and a peer's
    own error (a bug in the script) fails the test."""
    made = []

    def make(**kw):
        p = Peer(**kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()
    errors = [e for p in made for e in p.errors]
    if errors:
        pytest.fail("peer errors: " + "; ".join(errors), pytrace=False)


@pytest.fixture
def relay_tern(tern_factory):
    """start(*connectors, server="relay allow 127.0.0.1/32", queue=...,
    extra="", name=None) -> a TernServer that relays."""
    def start(*connectors, server="relay allow 127.0.0.1/32",
              queue=FAST_QUEUE, extra="", name=None):
        return tern_factory(server=server,
                            global_=relay_global(*connectors, queue=queue,
                                                 extra=extra),
                            name=name)
    return start


def queue_block(retry="1s", expire="1h", connect="2s", reply="2s"):
    return (f"queue {{\n    retry {retry}\n    expire {expire}\n"
            f"    timeout connect {connect}\n    timeout reply {reply}\n}}\n")


# ---- a minimal DNS client (to check the dnsmasq fixture itself) -------------

def _dns_name(msg, pos):
    labels, jumped, end = [], False, None
    while True:
        n = msg[pos]
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = pos + 2
            pos = ((n & 0x3F) << 8) | msg[pos + 1]
            jumped = True
            continue
        pos += 1
        if n == 0:
            break
        labels.append(msg[pos:pos + n].decode())
        pos += n
    return ".".join(labels), (end if jumped else pos)


def dns_query(port, name, qtype, timeout=2.0):
    """One UDP query to 127.0.0.1:port: (rcode, [answer data]); MX answers
    as (preference, exchange), A as dotted quads."""
    import struct
    types = {"A": 1, "MX": 15, "AAAA": 28}
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", types[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, ("127.0.0.1", port))
        msg, _ = s.recvfrom(4096)
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    pos = 12
    for _ in range(qd):
        _, pos = _dns_name(msg, pos)
        pos += 4
    out = []
    for _ in range(an):
        _, pos = _dns_name(msg, pos)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[pos:pos + 10])
        pos += 10
        rdata = msg[pos:pos + rdlen]
        if rtype == 15:
            pref = struct.unpack(">H", rdata[:2])[0]
            out.append((pref, _dns_name(msg, pos + 2)[0]))
        elif rtype == 1:
            out.append(".".join(str(b) for b in rdata))
        pos += rdlen
    return flags & 0xF, out
