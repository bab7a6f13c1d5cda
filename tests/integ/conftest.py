"""
Integration fixtures for tern: run the built binary on loopback with a
configuration written into tmp_path, talk SMTP to it over raw sockets, and
look at what it delivered into the drop directory.

Fixtures
  tern            one running server; configure it with
                    @pytest.mark.tern_config(server="...", global_="...")
                  or by indirect parametrisation with a dict
                    {"server": "...", "global": "..."} (or a str: server).
  tern_factory    start(server="", global_="", name=None) -> TernServer,
                  for tests that need several servers or a fresh one.

  "server" text is merged into the `server default { }` block, "global"
  text into the top level: a line whose keyword (two words for `timeout`)
  is already in the base configuration replaces that line, anything else
  is appended. Global text holding a block ({ }) is appended verbatim.
  `{PORT2}` in either text is replaced by a second free port (TernServer.
  port2); the fixture then also waits for that port to listen.

On teardown the server gets SIGTERM (then SIGKILL after 5 s). The test
fails if tern had exited by itself (unless the test made it exit and
called TernServer.wait_exit()), did not stop on SIGTERM, ended with a
status other than 0 or SIGTERM, or if its log (stderr and stdout, in
TernServer.log_path) holds "panic" or a sanitizer report.

TernServer: host, port, port2, drop, spool, log_path, config (text),
config_path, pid; client() / connect() give SMTPClients; delivered()
lists <drop>/*/*/new/* files, mailbox(domain, box), wait_delivered(n);
sync() pushes a sentinel message through so that a following "nothing
delivered" check is meaningful (sentinel files are left out of
delivered()).

Helpers (importable: `from conftest import ...`)
  SMTPClient      raw socket client: send(), line(), cmd(), reply(),
                  expect(), expect_closed(), read_until_close()
  Reply           one complete (possibly multi-line) reply
  dot_stuff(), send_mail(), split_delivered(), QUEUED_RE
"""
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TERN_BIN = Path(os.environ.get("TERN_BIN",
                               str(REPO / "output" / "x86_64" / "tern")))
HOST = "127.0.0.1"
HOSTNAME = "mx.test.example"
REPLY_TIMEOUT = float(os.environ.get("TERN_REPLY_TIMEOUT", "5"))
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0

# "250 2.0.0 OK id=<16 hex digits>" (the queue id) after the end of data
QUEUED_RE = re.compile(r"^OK id=[0-9a-f]{16}$")
ENH_RE = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})(?: |$)")
BAD_LOG_RE = re.compile(
    r"panic|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
    r"runtime error:|==\d+==ERROR", re.I)
SENTINEL_HDR = b"X-Tern-Test-Sentinel"

DOMAINS = """\
domain localhost {
    mailbox postmaster alice bob
    alias root postmaster
}
domain example.test {
    mailbox carol
}
"""

# The spec's example configuration, every setting written out.
BASE_GLOBAL = [
    "hostname " + HOSTNAME,
    "spool {spool}",
    "drop {drop}",
    "badmail {badmail}",
    "max-sessions 100",
]
BASE_SERVER = [
    "listen 127.0.0.1:{port}",
    "max-message-size 10M",
    "max-session-size 100M",
    "max-messages 100",
    "max-recipients 100",
    "max-connections 200",
    "max-errors 20",
    "max-hops 30",
    "max-line-length 1000",
    "timeout command 5m",
    "timeout data 10m",
    "greeting-delay 0s",
    "vrfy no",
    "expn no",
]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "tern_config(server='', global_=''): extra tern config")


# ---- small utilities -----------------------------------------------------

def free_ports(n=1):
    """n distinct free TCP ports on loopback."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_listening(port):
    """True when some socket listens on port (reads /proc/net/tcp, so it
    does not use up a session of the server by connecting)."""
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for row in f:
                cols = row.split()
                local, state = cols[1], cols[3]
                if state == "0A" and int(local.split(":")[1], 16) == port:
                    return True
        return False
    except OSError:
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return True
        except OSError:
            return False


def binary_is_sanitized():
    try:
        with open(TERN_BIN, "rb") as f:
            data = f.read()
        return any(m in data for m in (b"AddressSanitizer", b"__asan_init",
                                       b"libasan", b"__ubsan_handle"))
    except OSError:
        return False


def require_binary():
    if not (TERN_BIN.is_file() and os.access(TERN_BIN, os.X_OK)):
        pytest.fail(f"tern binary not found at {TERN_BIN}: run make "
                    f"(or set TERN_BIN)", pytrace=False)


def _key(line):
    words = line.split()
    if not words:
        return ""
    if words[0] in ("timeout", "tls", "auth") and len(words) > 1:
        return words[0] + " " + words[1]
    return words[0]


def _merge(base, extra, verbatim_blocks=False):
    """Merge extra config text into a list of base lines (see module doc)."""
    lines = list(base)
    if not extra:
        return lines
    if verbatim_blocks and "{" in extra.replace("{PORT2}", ""):
        return lines + [extra.rstrip("\n")]
    for raw in extra.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        k = _key(line)
        idx = [i for i, b in enumerate(lines) if _key(b) == k]
        if idx and k != "listen":
            lines[idx[0]] = line
        else:
            lines.append(line)
    return lines


def build_config(spool, drop, badmail, port, port2, server="", global_=""):
    glob = _merge(BASE_GLOBAL, global_, verbatim_blocks=True)
    srv = _merge(BASE_SERVER, server)
    text = ("# written by tests/integ/conftest.py\n" + "\n".join(glob) + "\n"
            + DOMAINS + "server default {\n"
            + "".join("    " + s + "\n" for s in srv) + "}\n")
    # Plain replace, not str.format: the config text is full of braces.
    for k, v in (("{spool}", spool), ("{drop}", drop),
                 ("{badmail}", badmail), ("{port}", port),
                 ("{PORT2}", port2)):
        text = text.replace(k, str(v))
    return text


def tail(text, n=40):
    return "\n".join(text.splitlines()[-n:])


def _short(data, limit=300):
    r = repr(bytes(data))
    if len(r) > limit:
        r = r[:limit] + f"...({len(data)} bytes)"
    return r


# ---- the SMTP client -----------------------------------------------------

class SMTPTestError(AssertionError):
    """A reply or a connection state that is not what the test expected."""


class Reply:
    """One complete reply: code, lines (text after "ddd-"/"ddd "),
    per-line enhanced codes, and enh/text of the last line."""

    def __init__(self, code, lines):
        self.code = code
        self.lines = lines
        self.enhs = []
        for t in lines:
            m = ENH_RE.match(t)
            self.enhs.append(m.group(1) if m else None)
        self.enh = self.enhs[-1]
        last = lines[-1]
        self.text = last[len(self.enh) + 1:] if self.enh else last

    def __str__(self):
        n = len(self.lines)
        return "\n".join(f"{self.code}{'-' if i < n - 1 else ' '}{t}"
                         for i, t in enumerate(self.lines))

    __repr__ = __str__

    def matches(self, code, enh=None):
        return self.code == code and (
            enh is None or all(e == enh for e in self.enhs))

    def check(self, code, enh=None, what=""):
        if not self.matches(code, enh):
            want = f"{code} {enh}" if enh else f"{code}"
            raise SMTPTestError(
                f"{what + ': ' if what else ''}expected {want}, got: {self}")
        return self


class SMTPClient:
    """A raw SMTP client over one TCP connection, strict about the reply
    format (CRLF line ends, one code per reply)."""

    def __init__(self, host, port, timeout=REPLY_TIMEOUT, transcript=None,
                 tag="c"):
        self.timeout = timeout
        self.tag = tag
        self.transcript = transcript if transcript is not None else []
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.reset = False

    # -- sending

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.transcript.append(f"{self.tag} C> {_short(data)}")
        self.sock.sendall(data)

    def line(self, text):
        if isinstance(text, str):
            text = text.encode("utf-8")
        self.send(text + b"\r\n")

    def cmd(self, text, code=None, enh=None, timeout=None):
        """Send one command line, read its reply, check it if code given."""
        self.line(text)
        r = self.reply(timeout)
        if code is not None:
            r.check(code, enh, what=str(text)[:80])
        return r

    # -- receiving

    def _recv(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            self.reset = True
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _line(self, deadline):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                raw = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                if not raw.endswith(b"\r\n"):
                    raise SMTPTestError(
                        f"reply line not ended by CRLF: {_short(raw)}")
                return raw[:-2]
            if self.eof:
                raise SMTPTestError(
                    "connection closed"
                    f"{' (reset)' if self.reset else ''} before a complete "
                    f"reply; partial data {_short(self.buf)}")
            self._recv(deadline)

    def reply(self, timeout=None):
        """Read one complete reply (multi-line allowed)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        code = None
        lines = []
        try:
            while True:
                raw = self._line(deadline)
                m = re.match(rb"^(\d{3})([ -]|$)(.*)$", raw, re.S)
                if not m:
                    raise SMTPTestError(f"malformed reply line {_short(raw)}")
                c = int(m.group(1))
                if code is not None and c != code:
                    raise SMTPTestError(
                        f"multi-line reply changes code {code} -> {c}")
                code = c
                lines.append(m.group(3).decode("utf-8", "replace"))
                if m.group(2) != b"-":
                    break
        except socket.timeout:
            got = f"; partial {lines}" if lines else ""
            raise SMTPTestError(
                f"no complete reply within {timeout or self.timeout} s"
                f"{got}; unread {_short(self.buf)}") from None
        r = Reply(code, lines)
        self.transcript.append(f"{self.tag} S< {str(r)[:300]!r}")
        return r

    def expect(self, code, enh=None, timeout=None):
        return self.reply(timeout).check(code, enh)

    def read_until_close(self, timeout=None):
        """All bytes until the server closes; SMTPTestError on timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while not self.eof:
                self._recv(deadline)
        except socket.timeout:
            raise SMTPTestError(
                f"connection still open after {timeout or self.timeout} s; "
                f"received {_short(self.buf)}") from None
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def expect_closed(self, timeout=None):
        """The server closes without sending anything more."""
        data = self.read_until_close(timeout)
        self.transcript.append(f"{self.tag} S< <closed>")
        if data:
            raise SMTPTestError(
                f"expected the connection closed with nothing more, got "
                f"{_short(data)}")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- messages ------------------------------------------------------------

def dot_stuff(msg):
    """Message bytes (CRLF lines) -> DATA stream including the final dot."""
    if msg and not msg.endswith(b"\r\n"):
        msg += b"\r\n"
    out = msg.replace(b"\r\n.", b"\r\n..")
    if out.startswith(b"."):
        out = b"." + out
    return out + b".\r\n"


def send_mail(c, sender, rcpts, msg, params="", timeout=None):
    """MAIL, RCPT..., DATA (each checked), the message; returns the reply
    after the end of data (unchecked)."""
    c.cmd(f"MAIL FROM:<{sender}>" + (" " + params if params else ""),
          250, "2.1.0")
    for r in rcpts:
        c.cmd(f"RCPT TO:<{r}>", 250, "2.1.5")
    c.cmd("DATA", 354)
    c.send(dot_stuff(msg))
    return c.reply(timeout)


def split_delivered(data):
    """A delivered file -> (return-path bytes incl. <>, the Received header
    with its folded lines, the message bytes)."""
    assert data.startswith(b"Return-Path: "), _short(data[:200])
    first, rest = data.split(b"\r\n", 1)
    rp = first[len(b"Return-Path: "):]
    assert rest.startswith(b"Received: from "), _short(rest[:300])
    pos = rest.index(b"\r\n") + 2
    while rest[pos:pos + 1] in (b" ", b"\t"):
        pos = rest.index(b"\r\n", pos) + 2
    return rp, rest[:pos], rest[pos:]


# ---- the server process --------------------------------------------------

class TernServer:
    def __init__(self, workdir, server="", global_=""):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.hostname = HOSTNAME
        self.spool = self.dir / "spool"
        self.drop = self.dir / "drop"
        self.badmail = self.dir / "badmail"
        for d in (self.spool, self.drop, self.badmail):
            d.mkdir(exist_ok=True)
        self.port, self.port2 = free_ports(2)
        self.uses_port2 = "{PORT2}" in (server or "") + (global_ or "")
        self.config = build_config(self.spool, self.drop, self.badmail,
                                   self.port, self.port2, server, global_)
        self.config_path = self.dir / "tern.conf"
        self.config_path.write_text(self.config)
        self.log_path = self.dir / "tern.log"
        self.proc = None
        self._logf = None
        self.start_failed = False
        self.exit_expected = False

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self):
        require_binary()
        self._logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(TERN_BIN), "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=self._logf,
            stderr=subprocess.STDOUT, cwd=self.dir)
        ports = [self.port] + ([self.port2] if self.uses_port2 else [])
        deadline = time.monotonic() + START_TIMEOUT
        while not all(port_listening(p) for p in ports):
            if self.proc.poll() is not None:
                self.start_failed = True
                pytest.fail(
                    f"tern exited with {self.proc.returncode} while "
                    f"starting; config:\n{self.config}\nlog:\n"
                    f"{tail(self.log())}", pytrace=False)
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(
                    f"tern did not listen on {ports} within "
                    f"{START_TIMEOUT} s; log:\n{tail(self.log())}",
                    pytrace=False)
            time.sleep(0.01)
        return self

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """For tests that make tern exit: wait for it; returns the status
        (None if still running). Teardown then does not call it a crash."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.exit_expected = True
        return self.proc.returncode

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Stop tern; returns a list of problems (empty when all is well)."""
        problems = []
        if self.proc is None:
            return problems
        if self.start_failed or self.exit_expected:
            pass                # reported by start() / wanted by the test
        elif self.proc.poll() is not None:
            problems.append(
                f"tern exited by itself with status {self.proc.returncode}")
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append(f"tern did not exit within {STOP_TIMEOUT} s "
                                "of SIGTERM; killed")
                self.proc.kill()
                self.proc.wait()
            else:
                if self.proc.returncode not in (0, -signal.SIGTERM):
                    problems.append("tern exited with status "
                                    f"{self.proc.returncode} after SIGTERM")
        if self._logf:
            self._logf.close()
            self._logf = None
        log = self.log()
        m = BAD_LOG_RE.search(log)
        if m:
            problems.append(f"tern log contains {m.group(0)!r}")
        if problems:
            problems.append(f"log ({self.log_path}):\n{tail(log)}")
        self.proc_returncode = self.proc.returncode
        self.proc = None
        return problems

    # -- clients

    def client(self, port=None, timeout=REPLY_TIMEOUT, **kw):
        return SMTPClient(self.host, port or self.port, timeout, **kw)

    def connect(self, ehlo="client.test", port=None, timeout=REPLY_TIMEOUT):
        """A client past the greeting (exact banner checked) and EHLO."""
        c = self.client(port, timeout)
        r = c.expect(220)
        assert r.lines == [f"{HOSTNAME} ESMTP tern"], str(r)
        if ehlo:
            c.cmd(f"EHLO {ehlo}", 250)
        return c

    # -- the drop directory

    def delivered(self, include_sentinel=False):
        """Delivered files: <drop>/<domain>/<mailbox>/new/*, sorted."""
        files = sorted(p for p in self.drop.glob("*/*/new/*") if p.is_file())
        if include_sentinel:
            return files
        return [p for p in files if not self._is_sentinel(p)]

    @staticmethod
    def _is_sentinel(p):
        try:
            with open(p, "rb") as f:
                return SENTINEL_HDR + b":" in f.read(4096)
        except OSError:
            return False

    def mailbox(self, domain, box):
        return [p for p in self.delivered()
                if p.parent.parent == self.drop / domain / box]

    def wait_delivered(self, n, timeout=10.0):
        """Wait until at least n (non-sentinel) files are delivered."""
        deadline = time.monotonic() + timeout
        while True:
            files = self.delivered()
            if len(files) >= n:
                return files
            if time.monotonic() > deadline:
                raise SMTPTestError(
                    f"{len(files)} of {n} messages delivered after {timeout}"
                    f" s: {[str(f) for f in files]}\nlog:\n{tail(self.log())}")
            time.sleep(0.02)

    def sync(self, timeout=10.0):
        """Deliver a sentinel message to bob@localhost and wait for it: any
        message accepted before it has had its chance to be delivered, so
        a "nothing delivered" check afterwards means something."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        while True:
            c = self.client()
            r = c.reply()
            if r.code == 421 and time.monotonic() < deadline:
                c.close()       # pool still full of closing sessions
                time.sleep(0.05)
                continue
            r.check(220, what="sentinel greeting")
            break
        with c:
            c.cmd("EHLO sentinel.test", 250)
            msg = (SENTINEL_HDR + b": " + token.encode() +
                   b"\r\nSubject: sentinel\r\n\r\nsync\r\n")
            send_mail(c, "sentinel@b.example", ["bob@localhost"],
                      msg).check(250, "2.0.0", what="sentinel message")
            c.cmd("QUIT", 221)
        while True:
            for p in self.drop.glob("localhost/bob/new/*"):
                try:
                    if token.encode() in p.read_bytes()[:4096]:
                        time.sleep(0.05)
                        return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise SMTPTestError(
                    f"sentinel message not delivered within {timeout} s\n"
                    f"log:\n{tail(self.log())}")
            time.sleep(0.02)


# ---- fixtures ------------------------------------------------------------

@pytest.fixture
def tern_factory(tmp_path):
    started = []

    def start(server="", global_="", name=None):
        name = name or f"tern{len(started)}"
        t = TernServer(tmp_path / name, server, global_)
        started.append(t)
        return t.start()

    yield start
    problems = []
    for t in started:
        problems += t.stop()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def tern(request, tern_factory):
    server, global_ = "", ""
    m = request.node.get_closest_marker("tern_config")
    if m:
        server = m.kwargs.get("server", "")
        global_ = m.kwargs.get("global_", "")
    param = getattr(request, "param", None)
    if isinstance(param, str):
        server = param
    elif isinstance(param, dict):
        server = param.get("server", server)
        global_ = param.get("global", param.get("global_", global_))
    return tern_factory(server=server, global_=global_, name="tern")
