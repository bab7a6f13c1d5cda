"""
Configuration reload without a restart (SIGHUP, `ternctl reload`): a new
configuration is built whole (certificates, users, password files, new
listeners) before anything switches; on any error the running one stays.
New sessions and outbound jobs use the new one; a session in progress
keeps the one it started with.
"""
import hashlib
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import TERN_BIN, SMTPClient, port_listening, send_mail, \
    tail
from auth_helpers import PASSWORD, auth_tern, b64
from relay_helpers import (connector, ctl, message, peers,  # noqa: F401
                           relay_tern, submit, wait_for)
from tls_helpers import client_context, make_cert, server_tls, starttls

RELOADED_RE = re.compile(r"config reloaded from (\S+) \(generation (\d+)\)")
FAILED = "config reload failed"


def outcomes(t):
    log = t.log()
    return len(RELOADED_RE.findall(log)) + log.count(FAILED)


def write(t, text):
    t.config = text
    t.config_path.write_text(text)


def sighup(t, text=None):
    """Write text (if any), send SIGHUP, wait for the outcome; returns the
    log written since."""
    if text is not None:
        write(t, text)
    before = outcomes(t)
    mark = len(t.log())
    t.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: outcomes(t) > before, timeout=15), \
        f"no reload outcome in the log:\n{tail(t.log())}"
    return t.log()[mark:]


def ternctl_reload(t, text=None):
    """`ternctl -s SOCKET reload`: (exit status, output)."""
    if text is not None:
        write(t, text)
    p = subprocess.run([str(TERN_BIN), "ctl", "-s", str(t.spool / "control"),
                        "reload"], capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def generation(log):
    found = RELOADED_RE.findall(log)
    assert found, f"not reloaded:\n{tail(log)}"
    return int(found[-1][1])


def rcpt(t, addr, code):
    with t.connect() as c:
        c.cmd("MAIL FROM:<a@client.test>", 250)
        c.cmd(f"RCPT TO:<{addr}>", code)


def deliver(t, addr, tag):
    with t.connect() as c:
        send_mail(c, "a@client.test", [addr],
                  f"Subject: {tag}\r\n\r\n{tag}\r\n".encode()).check(250)
        c.cmd("QUIT", 221)


# ---- mailboxes and domains ----------------------------------------------

def test_new_mailbox_and_domain_after_sighup(tern):
    rcpt(tern, "dave@localhost", 550)
    rcpt(tern, "eve@new.test", 550)
    text = tern.config.replace("mailbox postmaster alice bob",
                               "mailbox postmaster alice bob dave")
    text += "domain new.test {\n    mailbox eve\n}\n"
    log = sighup(tern, text)
    m = RELOADED_RE.search(log)
    assert m and m.group(1) == str(tern.config_path), log
    assert m.group(2) == "2", log
    deliver(tern, "dave@localhost", "to-dave")
    deliver(tern, "eve@new.test", "to-eve")
    deliver(tern, "alice@localhost", "to-alice")
    wait_for(lambda: len(tern.delivered()) >= 3)
    assert len(tern.mailbox("localhost", "dave")) == 1
    assert len(tern.mailbox("new.test", "eve")) == 1
    assert len(tern.mailbox("localhost", "alice")) == 1
    # and a mailbox taken away is refused by the next session
    sighup(tern, text.replace(" dave", ""))
    rcpt(tern, "dave@localhost", 550)


def test_ternctl_reload_success(tern):
    rc, out = ternctl_reload(tern, tern.config.replace(
        "mailbox carol", "mailbox carol frank"))
    assert rc == 0, out
    assert out.startswith(f"reloaded from {tern.config_path} (generation 2)"), \
        out
    assert "config reloaded from" in tern.log()
    rcpt(tern, "frank@example.test", 250)


# ---- a broken configuration keeps the running one -----------------------

def test_broken_config_keeps_old(tern):
    good = tern.config
    lines = good.splitlines()
    bad_line = len(lines) + 1
    broken = good + "frobnicate yes\n"
    broken = broken.replace("mailbox postmaster alice bob",
                            "mailbox postmaster bob")
    rc, out = ternctl_reload(tern, broken)
    assert rc != 0, out
    assert out.startswith("error:"), out
    assert f"{tern.config_path}:{bad_line}:" in out, out
    log = tern.log()
    assert FAILED in log
    assert f"{tern.config_path}:{bad_line}:" in log
    # the old configuration is in force: alice still has a mailbox
    rcpt(tern, "alice@localhost", 250)
    deliver(tern, "alice@localhost", "still-there")
    wait_for(lambda: tern.mailbox("localhost", "alice"))
    assert len(tern.mailbox("localhost", "alice")) == 1
    # SIGHUP with the broken file: logged, nothing changes
    log = sighup(tern)
    assert FAILED in log and f"{tern.config_path}:{bad_line}:" in log
    rcpt(tern, "alice@localhost", 250)
    # a failed reload does not count as a generation
    log = sighup(tern, good + "domain later.test {\n mailbox x\n}\n")
    assert generation(log) == 2
    rcpt(tern, "x@later.test", 250)


def test_unreadable_users_file_keeps_old(tern, tmp_path):
    rc, out = ternctl_reload(tern, tern.config.replace(
        "mailbox carol", "mailbox carol gina") +
        f"users {tmp_path}/no-such-users\n")
    assert rc != 0 and out.startswith("error:"), out
    assert f"{tmp_path}/no-such-users" in out, out
    rcpt(tern, "gina@example.test", 550)


# ---- sessions keep the configuration they started with ------------------

def test_session_keeps_old_limits(tern):
    old = tern.connect()
    old.cmd("MAIL FROM:<a@client.test>", 250)
    rc, out = ternctl_reload(tern, tern.config.replace(
        "max-recipients 100", "max-recipients 2"))
    assert rc == 0, out
    with tern.connect() as new:
        new.cmd("MAIL FROM:<a@client.test>", 250)
        new.cmd("RCPT TO:<alice@localhost>", 250)
        new.cmd("RCPT TO:<bob@localhost>", 250)
        new.cmd("RCPT TO:<carol@example.test>", 452, "4.5.3")
    with old:
        for box in ("alice", "bob", "postmaster"):
            old.cmd(f"RCPT TO:<{box}@localhost>", 250)
        old.cmd("RCPT TO:<carol@example.test>", 250)
        old.cmd("RSET", 250)
        assert "config generation 1 stays for 1 sessions or jobs" in \
            tern.log()
        old.cmd("QUIT", 221)
    # the old configuration is freed with its last session; the server
    # goes on (ASan would report a use after free here)
    with tern.connect() as c:
        c.cmd("MAIL FROM:<a@client.test>", 250)
        c.cmd("RCPT TO:<alice@localhost>", 250)
        c.cmd("RCPT TO:<bob@localhost>", 250)
        c.cmd("RCPT TO:<postmaster@localhost>", 452, "4.5.3")


def test_restart_only_setting_warns(tern, tmp_path):
    other = tmp_path / "other-spool"
    other.mkdir()
    rc, out = ternctl_reload(tern, tern.config.replace(
        f"spool {tern.spool}", f"spool {other}").replace(
        "mailbox carol", "mailbox carol hank"))
    assert rc == 0, out
    assert "spool: needs a restart" in out, out
    assert "spool: needs a restart" in tern.log()
    rcpt(tern, "hank@example.test", 250)
    # still the old spool: the control socket is where it was
    assert (tern.spool / "control").exists()
    assert not (other / "control").exists()
    out = ctl(tern, "stats")
    assert out


# ---- TLS certificates ---------------------------------------------------

def peer_fingerprint(sock):
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


def tls_session(t):
    c = SMTPClient(t.host, t.port)
    c.expect(220)
    c.cmd("EHLO client.test", 250)
    return c


def file_fingerprint(cert):
    der = subprocess.run(["openssl", "x509", "-in", str(cert), "-outform",
                          "DER"], capture_output=True, check=True).stdout
    return hashlib.sha256(der).hexdigest()


def test_tls_certificate_replaced(tern_factory, tmp_path):
    cert1, key1 = make_cert(tmp_path / "c1", name="one")
    cert2, key2 = make_cert(tmp_path / "c2", name="two")
    fp1, fp2 = file_fingerprint(cert1), file_fingerprint(cert2)
    assert fp1 != fp2
    t = tern_factory(server=server_tls(cert1, key1))
    c = tls_session(t)
    assert peer_fingerprint(starttls(c)) == fp1
    c.cmd("QUIT", 221)
    c.close()
    before = tls_session(t)          # connected under the old certificate
    rc, out = ternctl_reload(t, t.config.replace(str(cert1), str(cert2))
                             .replace(str(key1), str(key2)))
    assert rc == 0, out
    for _ in range(3):
        c = tls_session(t)
        assert peer_fingerprint(starttls(c)) == fp2
        c.cmd("EHLO client.test", 250)
        c.cmd("QUIT", 221)
        c.close()
    # the session from before the reload still has the old one
    assert peer_fingerprint(starttls(before)) == fp1
    before.cmd("EHLO client.test", 250)
    before.cmd("QUIT", 221)
    before.close()


def test_tls_certificate_broken_on_reload_is_a_warning(tern_factory,
                                                       tmp_path):
    cert1, key1 = make_cert(tmp_path / "c1", name="one")
    t = tern_factory(server=server_tls(cert1, key1))
    bad = tmp_path / "bad.crt"
    bad.write_text("not a certificate\n")
    rc, out = ternctl_reload(t, t.config.replace(str(cert1), str(bad)))
    assert rc == 0, out              # as at start: a warning, no STARTTLS
    assert "TLS warning" in out, out
    assert "not a PEM certificate" in t.log()
    with t.connect() as c:
        r = c.cmd("EHLO again.test", 250)
        assert "STARTTLS" not in r.lines
        c.cmd("STARTTLS", 454, "4.7.0")


def test_tls_memory_returned_after_reloads(relay_tern, tmp_path):
    """Each generation parses six copies of the system CA bundle (some
    MiB of mbedTLS's fixed heap); if an old generation's credentials were
    not given back, a dozen reloads would run the heap out."""
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not bundle.exists():
        pytest.skip("no CA bundle")
    conns = []
    for k in range(6):
        ca = tmp_path / f"ca{k}.pem"
        ca.write_bytes(bundle.read_bytes())
        conns.append(connector(f"c{k}", f"d{k}.example", [1],
                               extra=("tls verify", f"tls ca {ca}")))
    t = relay_tern(*conns)
    for i in range(12):
        log = sighup(t)
        assert generation(log) == i + 2, log
    assert "out of TLS memory" not in t.log(), tail(t.log())


# ---- AUTH users ---------------------------------------------------------

def plain(user, pw):
    return b64(f"\0{user}\0{pw}".encode())


def test_user_added_then_reload(tern_factory, tmp_path):
    t = auth_tern(tern_factory, tmp_path, users={"alice": PASSWORD})
    with t.connect() as c:
        c.cmd("AUTH PLAIN " + plain("alice", PASSWORD), 235)
    with t.connect() as c:
        c.cmd("AUTH PLAIN " + plain("carol", "carols pw"), 535)
    subprocess.run([str(TERN_BIN), "ctl", "-c", str(tmp_path / "ctl.conf"),
                    "user", "add", "carol"], input="carols pw\n", text=True,
                   check=True, timeout=30)
    log = sighup(t)
    assert generation(log) == 2, log
    with t.connect() as c:
        c.cmd("AUTH PLAIN " + plain("carol", "carols pw"), 235)
    with t.connect() as c:
        c.cmd("AUTH PLAIN " + plain("alice", PASSWORD), 235)


def test_bad_users_file_keeps_old_users(tern_factory, tmp_path):
    t = auth_tern(tern_factory, tmp_path, users={"alice": PASSWORD})
    db = tmp_path / "users"
    good = db.read_text()
    db.write_text(good + "garbage line here\n")
    rc, out = ternctl_reload(t)
    assert rc != 0, out
    assert f"{db}:2: user database: bad line" in out, out
    with t.connect() as c:
        c.cmd("AUTH PLAIN " + plain("alice", PASSWORD), 235)


# ---- listeners ----------------------------------------------------------

def test_listener_added_and_removed(tern):
    port1, port2 = tern.port, tern.port2
    assert not port_listening(port2)
    text = tern.config.replace(f"listen 127.0.0.1:{port1}",
                               f"listen 127.0.0.1:{port1}\n"
                               f"    listen 127.0.0.1:{port2}")
    rc, out = ternctl_reload(tern, text)
    assert rc == 0, out
    assert port_listening(port2)
    rcpt(tern, "alice@localhost", 250)
    with tern.connect(port=port2) as c:
        c.cmd("MAIL FROM:<a@client.test>", 250)
    old = tern.connect()             # a session on the port to be removed
    rc, out = ternctl_reload(tern, text.replace(
        f"listen 127.0.0.1:{port1}\n", ""))
    assert rc == 0, out
    assert wait_for(lambda: not port_listening(port1), timeout=5)
    with tern.connect(port=port2) as c:
        c.cmd("MAIL FROM:<a@client.test>", 250)
    with old:                        # its session goes on
        old.cmd("MAIL FROM:<a@client.test>", 250)
        old.cmd("RCPT TO:<bob@localhost>", 250)
        old.cmd("QUIT", 221)


def test_listener_bind_failure_keeps_old(tern):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    busy = blocker.getsockname()[1]
    try:
        text = tern.config.replace(
            f"listen 127.0.0.1:{tern.port}",
            f"listen 127.0.0.1:{tern.port}\n    listen 127.0.0.1:{busy}")
        text = text.replace("mailbox carol", "mailbox carol ivan")
        line = text.splitlines().index(f"    listen 127.0.0.1:{busy}") + 1
        rc, out = ternctl_reload(tern, text)
        assert rc != 0, out
        assert f"{tern.config_path}:{line}: cannot listen on " \
            f"127.0.0.1:{busy}" in out, out
        rcpt(tern, "ivan@example.test", 550)
        rcpt(tern, "carol@example.test", 250)
    finally:
        blocker.close()


# ---- connectors ---------------------------------------------------------

def test_connector_changed(relay_tern, peers):  # noqa: F811
    p1, p2 = peers(), peers()
    t = relay_tern(connector("smart", "*", [p1.port]))
    submit(t, "u1@other.example", message("first"))
    p1.wait_messages(1)
    rc, out = ternctl_reload(t, t.config.replace(
        f"[127.0.0.1]:{p1.port}", f"[127.0.0.1]:{p2.port}"))
    assert rc == 0, out
    submit(t, "u2@other.example", message("second"))
    p2.wait_messages(1)
    assert b"Subject: second" in p2.all_messages()[0].data
    assert len(p1.all_messages()) == 1


def test_kept_connection_closed_by_reload(relay_tern, peers):  # noqa: F811
    """A connection kept open after a message (5 s idle) carries the old
    configuration's connector and TLS settings: a reload closes it with
    QUIT at once; the next message gets a new one."""
    p1 = peers()
    t = relay_tern(connector("smart", "*", [p1.port]))
    submit(t, "u1@other.example", message("first"))
    p1.wait_messages(1)
    sess = p1.wait_sessions(1)
    assert not sess[0].closed.is_set()      # kept for the next message
    start = time.monotonic()
    rc, out = ternctl_reload(t)
    assert rc == 0, out
    p1.wait_sessions(1, closed=True, timeout=10)
    assert time.monotonic() - start < 3.5, "closed by the idle timer"
    assert sess[0].verbs()[-1] == "QUIT", sess[0].verbs()
    submit(t, "u2@other.example", message("second"))
    p1.wait_messages(2)
    assert len(p1.wait_sessions(2)) == 2


def test_connector_password_file_missing_fails(relay_tern, peers,  # noqa
                                               tmp_path):
    p1 = peers()
    t = relay_tern(connector("smart", "*", [p1.port]))
    pw = tmp_path / "no-such.pass"
    text = t.config.replace(
        "connector smart {",
        f"connector smart {{\n    auth user u password-file {pw}")
    line = text.splitlines().index("connector smart {") + 1
    rc, out = ternctl_reload(t, text)
    assert rc != 0, out
    assert f"{t.config_path}:{line}: connector smart: password-file " \
        f"{pw}: No such file" in out, out
    submit(t, "u1@other.example", message("after"))
    p1.wait_messages(1)


# ---- under load ---------------------------------------------------------

def test_reload_under_load(tern):
    stop = threading.Event()
    accepted, errors = [], []

    def worker(k):
        n = 0
        while not stop.is_set():
            try:
                with tern.connect() as c:
                    for _ in range(5):
                        tag = f"w{k}-{n}"
                        r = send_mail(c, "a@client.test", ["bob@localhost"],
                                      f"Subject: {tag}\r\n\r\n{tag}\r\n"
                                      .encode())
                        if r.code == 250:
                            accepted.append(tag)
                        n += 1
                    c.cmd("QUIT", 221)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
                return

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    base = tern.config
    try:
        for i in range(20):
            text = base.replace("max-recipients 100",
                                f"max-recipients {50 + i}")
            if i % 2:
                text += f"domain load{i}.test {{\n    mailbox x\n}}\n"
            log = sighup(tern, text)
            assert generation(log) == i + 2, log
            time.sleep(0.05)
    finally:
        stop.set()
        for th in threads:
            th.join(30)
    assert not errors, errors[:3]
    assert len(accepted) >= 20, len(accepted)
    files = tern.wait_delivered(len(accepted), timeout=30)
    got = set()
    for f in files:
        m = re.search(rb"Subject: (w\d+-\d+)", f.read_bytes())
        if m:
            got.add(m.group(1).decode())
    assert set(accepted) <= got, sorted(set(accepted) - got)[:5]
    assert tern.alive()
