"""
The scenario format for bulk hostile-input tests (tests/integ/scenarios/*.txt).

A file holds cases; each starts with a line "=== name" (names are unique
over all files). Blank lines and lines starting with "#" are ignored.
Inside a case:

  note: TEXT        what the case is about (free text)
  config: LINE      a server-level config line (merged into server default)
  global: LINE      a global config line
  delivered: N      messages the case may leave in the drop directory
                    (default 0; checked after a sentinel message went
                    through, see TernServer.sync)
  connect [NAME]    open a connection (default name "main"); it becomes the
                    current one. Nothing is read: expect the banner with S:.
  use NAME          make NAME the current connection
  close             the client closes the current connection
  sleep SECONDS     pause (at most 2 s; for split writes and races only)
  C: TEXT           send TEXT + CRLF
  R: TEXT           send TEXT exactly, no CRLF added
  S: CODE [ENH] [TEXT]
                    read one complete reply: the code must be CODE, every
                    line's enhanced code ENH (when given), and TEXT (when
                    given) must appear in the reply text
  closed            the server closes the connection, sending nothing more
  @greet            = connect / S: 220 / C: EHLO client.test / S: 250
  @data             = C: MAIL FROM:<a@b.example> / S: 250 2.1.0 /
                      C: RCPT TO:<postmaster@localhost> / S: 250 2.1.5 /
                      C: DATA / S: 354

In C: and R: text: \\r \\n \\t \\0 \\\\ and \\xHH are escapes, and {{TEXT*N}}
is TEXT repeated N times (expanded before the escapes). Trailing blanks of
a line are dropped: write \\x20 for a final space. Text is sent as UTF-8.
"""
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from conftest import SMTPClient, SMTPTestError

REP_RE = re.compile(r"\{\{(.+?)\*(\d+)\}\}")
ESC_RE = re.compile(rb"\\(x[0-9a-fA-F]{2}|[rnt0\\])")
S_RE = re.compile(r"^(\d{3})(?:\s+([245]\.\d{1,3}\.\d{1,3}))?(?:\s+(.*))?$")
ESCAPES = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\0", b"\\": b"\\"}


def expand(text):
    text = REP_RE.sub(lambda m: m.group(1) * int(m.group(2)), text)

    def esc(m):
        e = m.group(1)
        if e.startswith(b"x"):
            return bytes([int(e[1:], 16)])
        return ESCAPES[e]
    return ESC_RE.sub(esc, text.encode("utf-8"))


@dataclass
class Step:
    kind: str
    lineno: int
    arg: object = None
    code: int = 0
    enh: str = None
    text: str = None


@dataclass
class Scenario:
    name: str
    file: Path
    lineno: int
    server: list = field(default_factory=list)
    global_: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    delivered: int = 0
    note: str = ""

    def __str__(self):
        return self.name


def _macro(name, lineno):
    if name == "@greet":
        return [Step("connect", lineno, "main"),
                Step("expect", lineno, code=220),
                Step("send", lineno, b"EHLO client.test\r\n"),
                Step("expect", lineno, code=250)]
    if name == "@data":
        return [Step("send", lineno, b"MAIL FROM:<a@b.example>\r\n"),
                Step("expect", lineno, code=250, enh="2.1.0"),
                Step("send", lineno, b"RCPT TO:<postmaster@localhost>\r\n"),
                Step("expect", lineno, code=250, enh="2.1.5"),
                Step("send", lineno, b"DATA\r\n"),
                Step("expect", lineno, code=354)]
    raise ValueError(f"unknown macro {name}")


def parse_file(path):
    path = Path(path)
    cases = []
    cur = None
    for lineno, raw in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = raw.rstrip()
        where = f"{path.name}:{lineno}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("=== "):
            cur = Scenario(line[4:].strip(), path, lineno)
            cases.append(cur)
            continue
        if cur is None:
            raise ValueError(f"{where}: text before the first '=== name'")
        head, _, rest = line.partition(" ")
        if line.startswith("C:") or line.startswith("R:"):
            data = expand(line[3:] if line[2:3] == " " else line[2:])
            if line[0] == "C":
                data += b"\r\n"
            cur.steps.append(Step("send", lineno, data))
        elif line.startswith("S:"):
            m = S_RE.match(line[2:].strip())
            if not m:
                raise ValueError(f"{where}: bad S: line {line!r}")
            cur.steps.append(Step("expect", lineno, code=int(m.group(1)),
                                  enh=m.group(2), text=m.group(3)))
        elif head == "note:":
            cur.note = rest.strip()
        elif head == "config:":
            cur.server.append(rest.strip())
        elif head == "global:":
            cur.global_.append(rest.strip())
        elif head == "delivered:":
            cur.delivered = int(rest)
        elif head == "connect":
            cur.steps.append(Step("connect", lineno, rest.strip() or "main"))
        elif head == "use":
            cur.steps.append(Step("use", lineno, rest.strip()))
        elif line == "close":
            cur.steps.append(Step("close", lineno))
        elif line == "closed":
            cur.steps.append(Step("closed", lineno))
        elif head == "sleep":
            secs = float(rest)
            if not 0 < secs <= 2:
                raise ValueError(f"{where}: sleep out of range")
            cur.steps.append(Step("sleep", lineno, secs))
        elif line.startswith("@"):
            cur.steps.extend(_macro(line.strip(), lineno))
        else:
            raise ValueError(f"{where}: cannot parse {line!r}")
    return cases


def load_all(directory):
    cases = []
    seen = {}
    for path in sorted(Path(directory).glob("*.txt")):
        for c in parse_file(path):
            if c.name in seen:
                raise ValueError(f"{path.name}:{c.lineno}: duplicate "
                                 f"scenario name {c.name} (also {seen[c.name]})")
            seen[c.name] = f"{path.name}:{c.lineno}"
            cases.append(c)
    return cases


def run(case, tern, reply_timeout=3.0):
    """Play a scenario against a running TernServer, then check the drop
    directory. Raises AssertionError with the transcript on a mismatch."""
    transcript = []
    conns = {}
    cur = None
    step = None

    def fail(msg):
        raise AssertionError(
            f"{case.file.name}:{step.lineno}: scenario {case.name}: {msg}\n"
            f"note: {case.note}\ntranscript:\n  " + "\n  ".join(transcript)
            + f"\ntern log tail:\n{tern.log()[-2000:]}")

    try:
        for step in case.steps:
            try:
                if step.kind == "connect":
                    cur = SMTPClient(tern.host, tern.port, reply_timeout,
                                     transcript=transcript, tag=step.arg)
                    conns[step.arg] = cur
                elif step.kind == "use":
                    cur = conns[step.arg]
                elif step.kind == "close":
                    cur.close()
                elif step.kind == "sleep":
                    time.sleep(step.arg)
                elif step.kind == "send":
                    try:
                        cur.send(step.arg)
                    except OSError as e:
                        # The server may rightly have closed already (a
                        # smuggling case split over writes); what it sent
                        # before is still readable, and the following S:
                        # or closed steps judge it.
                        transcript.append(f"{cur.tag} send failed: {e}")
                elif step.kind == "expect":
                    r = cur.reply()
                    if not r.matches(step.code, step.enh):
                        fail(f"expected {step.code} {step.enh or ''}, "
                             f"got: {r}")
                    if step.text and step.text.lower() not in str(r).lower():
                        fail(f"expected text {step.text!r} in reply: {r}")
                elif step.kind == "closed":
                    cur.expect_closed()
            except SMTPTestError as e:
                fail(str(e))
    finally:
        for c in conns.values():
            c.close()
    step = Step("delivered", case.lineno)
    try:
        tern.sync()
    except SMTPTestError as e:
        fail(f"after the scenario the server no longer takes mail: {e}")
    files = tern.delivered()
    if len(files) != case.delivered:
        fail(f"expected {case.delivered} delivered message(s), found "
             f"{len(files)}: " + ", ".join(
                 f"{p.relative_to(tern.drop)} {p.read_bytes()[:300]!r}"
                 for p in files))
