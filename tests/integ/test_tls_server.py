"""
STARTTLS in the server (RFC 3207) with real clients: openssl s_client
(TLS 1.2 and 1.3, RSA and ECDSA certificates), Python's smtplib and ssl,
swaks. The rules: STARTTLS only with a usable certificate, the exact
replies for misuse, cleartext pipelined behind STARTTLS discarded
(CVE-2011-0411), the session reset after the handshake, `tls require`,
a stalled handshake timed out, the TLS pool exhausted (454 4.7.0).
"""
import re
import shutil
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import (TERN_BIN, SMTPClient, dot_stuff, send_mail,
                      split_delivered)
from relay_helpers import ctl, wait_for
from tls_helpers import (client_context, make_cert, s_client, server_tls,
                         starttls, tls_client)

MSG = b"Subject: tls test\r\n\r\nover TLS\r\n"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    return {k: make_cert(d, k) for k in ("rsa", "ecdsa")}


def tls_tern(tern_factory, certs, kind="rsa", extra="", global_=""):
    return tern_factory(server=server_tls(*certs[kind]) + extra,
                        global_=global_)


def ehlo_keywords(r):
    return [ln.split()[0].upper() for ln in r.lines[1:]]


def tls_pool_size():
    out = subprocess.run([str(TERN_BIN), "-V"], capture_output=True,
                         text=True).stdout
    m = re.search(r"tls: connections=(\d+)", out)
    assert m, out
    return int(m.group(1))


# ---- real clients ----------------------------------------------------------

@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_s_client_delivers(tern_factory, certs, version, kind):
    t = tls_tern(tern_factory, certs, kind)
    script = (b"EHLO client.test\r\nMAIL FROM:<a@b.example>\r\n"
              b"RCPT TO:<alice@localhost>\r\nDATA\r\n" + dot_stuff(MSG) +
              b"QUIT\r\n")
    rc, out = s_client(t.port, version, script)
    assert "221 2.0.0" in out, out
    files = t.wait_delivered(1)
    _, received, body = split_delivered(files[0].read_bytes())
    assert body == MSG
    ver = "TLSv" + version
    assert b"with ESMTPS" in received, received
    m = re.search(rb"\(version=(\S+) cipher=(\S+)\)", received)
    assert m and m.group(1).decode() == ver, received
    cipher = m.group(2).decode()
    if version == "1.2":
        want = "ECDSA" if kind == "ecdsa" else "RSA"
        assert cipher.startswith(f"TLS_ECDHE_{want}_WITH_"), cipher
        assert "GCM" in cipher or "CHACHA20" in cipher
    else:
        assert cipher in ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256",
                          "TLS_CHACHA20_POLY1305_SHA256")
    assert re.search(rf"smtp in starttls version={ver} cipher={cipher}",
                     t.log()), t.log()


def test_s_client_old_versions_refused(tern_factory, certs):
    """Minimum version 1.2: a TLS 1.1 client gets no session."""
    t = tls_tern(tern_factory, certs)
    r = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         f"127.0.0.1:{t.port}", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
        input=b"", capture_output=True, timeout=20)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert "Cipher is (NONE)" in out or r.returncode != 0, out
    assert wait_for(lambda: "starttls failed" in t.log(), 5), t.log()


def test_smtplib_starttls_verified(tern_factory, tmp_path):
    """Python's smtplib verifies the chain and the host name."""
    cert, key = make_cert(tmp_path, "rsa")
    t = tern_factory(server=server_tls(cert, key))
    ctx = client_context(cafile=str(cert))
    with smtplib.SMTP(t.host, t.port, timeout=10) as s:
        s.ehlo("client.test")
        assert s.has_extn("starttls")
        s.starttls(context=ctx)
        s.ehlo("client.test")
        assert not s.has_extn("starttls")   # not offered twice
        s.sendmail("a@b.example", ["bob@localhost"], MSG)
    files = t.wait_delivered(1)
    assert b"with ESMTPS" in split_delivered(files[0].read_bytes())[1]


def test_swaks_tls(tern_factory, certs):
    if not shutil.which("swaks"):
        pytest.skip("swaks not installed")
    t = tls_tern(tern_factory, certs, "ecdsa")
    r = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{t.port}", "--tls",
         "--to", "carol@example.test", "--from", "a@b.example",
         "--helo", "client.test", "--body", "over TLS"],
        capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "220 2.0.0 Ready to start TLS" in r.stdout, r.stdout
    assert "TLS started" in r.stdout, r.stdout
    t.wait_delivered(1)


# ---- what is offered ---------------------------------------------------------

def test_no_cert_not_offered(tern):
    c = tern.connect(ehlo=None)
    r = c.cmd("EHLO client.test", 250)
    assert "STARTTLS" not in ehlo_keywords(r)
    c.cmd("STARTTLS", 502, "5.5.1")
    c.cmd("NOOP", 250)


def test_offered_with_cert(tern_factory, certs):
    t = tls_tern(tern_factory, certs)
    c = t.connect(ehlo=None)
    r = c.cmd("EHLO client.test", 250)
    assert "STARTTLS" in ehlo_keywords(r)
    assert r.lines[-1] == "ENHANCEDSTATUSCODES" or \
        r.lines[-1] == "STARTTLS"
    c.cmd("HELO client.test", 250)       # HELO: no keywords at all
    c.cmd("QUIT", 221)


def test_broken_cert_server_starts(tern_factory, tmp_path, certs):
    """A certificate that cannot be loaded: the server starts, warns, and
    does not offer STARTTLS; STARTTLS itself gets 454."""
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n"
                   "-----END CERTIFICATE-----\n")
    t = tern_factory(server=server_tls(bad, certs["rsa"][1]))
    assert re.search(r"tern\.conf:\d+: warning: server default: tls "
                     r".*bad\.pem: not a PEM certificate; STARTTLS not "
                     r"offered", t.log()), t.log()
    c = t.connect(ehlo=None)
    assert "STARTTLS" not in ehlo_keywords(c.cmd("EHLO client.test", 250))
    c.cmd("STARTTLS", 454, "4.7.0")
    send_mail(c, "a@b.example", ["bob@localhost"], MSG).check(250)


def test_key_mismatch_and_check_mode(tern_factory, tmp_path, certs):
    """tern -t reports an unusable certificate as a warning."""
    conf = tmp_path / "t.conf"
    conf.write_text(
        f"spool {tmp_path}/s\ndrop {tmp_path}/d\nbadmail {tmp_path}/b\n"
        "domain localhost { mailbox postmaster }\n"
        "server default {\n    listen 127.0.0.1:2\n"
        f"    tls cert {certs['rsa'][0]} key {certs['ecdsa'][1]}\n}}\n")
    r = subprocess.run([str(TERN_BIN), "-t", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "configuration ok (with warnings)" in r.stdout
    assert re.search(r"t\.conf:7: warning: server default: tls .*: the key "
                     r"does not match the certificate", r.stderr), r.stderr


def test_require_without_cert_warns(tmp_path):
    conf = tmp_path / "t.conf"
    conf.write_text("server default {\n    listen 127.0.0.1:2\n"
                    "    tls require yes\n}\n")
    r = subprocess.run([str(TERN_BIN), "-t", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "(with warnings)" in r.stdout, r.stdout
    assert "t.conf:3: warning: server default: tls require yes without " \
        "tls cert: every MAIL gets 530" in r.stderr, r.stderr


@pytest.mark.parametrize("line,msg", [
    ("tls cert /x", "tls takes 'cert FILE key FILE' or 'require yes|no'"),
    ("tls require maybe", "tls takes"),
    ("tls", "tls takes"),
])
def test_config_errors(tmp_path, line, msg):
    conf = tmp_path / "t.conf"
    conf.write_text("server default {\n    listen 127.0.0.1:2\n"
                    f"    {line}\n}}\n")
    r = subprocess.run([str(TERN_BIN), "-t", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert f"t.conf:3: {msg}" in r.stderr, r.stderr


# ---- the exact replies ------------------------------------------------------

def test_starttls_misuse(tern_factory, certs):
    t = tls_tern(tern_factory, certs)
    c = t.client()
    c.expect(220)
    c.cmd("STARTTLS", 503, "5.5.1")                 # before EHLO
    c.cmd("EHLO client.test", 250)
    r = c.cmd("STARTTLS now", 501, "5.5.4")        # a parameter
    assert r.text == "Syntax: STARTTLS (no arguments)"
    c.cmd("MAIL FROM:<a@b.example>", 250)
    r = c.cmd("STARTTLS", 503, "5.5.1")             # in a transaction
    assert r.text == "Bad sequence of commands, mail transaction in progress"
    c.cmd("RSET", 250)
    starttls(c)
    c.cmd("EHLO client.test", 250)
    r = c.cmd("STARTTLS", 503, "5.5.1")             # twice
    assert r.text == "Bad sequence of commands, TLS already active"
    send_mail(c, "a@b.example", ["bob@localhost"], MSG).check(250)
    c.cmd("QUIT", 221)
    t.wait_delivered(1)


def test_session_reset_after_starttls(tern_factory, certs):
    """RFC 3207 4.2: after the handshake no HELO and no transaction."""
    t = tls_tern(tern_factory, certs)
    c = t.connect()
    starttls(c)
    c.cmd("MAIL FROM:<a@b.example>", 503, "5.5.1")  # EHLO first again
    c.cmd("EHLO client.test", 250)
    c.cmd("RCPT TO:<bob@localhost>", 503, "5.5.1")  # no MAIL survived
    c.cmd("QUIT", 221)


def test_plaintext_injection_discarded(tern_factory, certs):
    """CVE-2011-0411: commands pipelined in cleartext behind STARTTLS are
    thrown away, not executed inside the TLS session."""
    t = tls_tern(tern_factory, certs)
    c = t.connect()
    c.send(b"STARTTLS\r\nMAIL FROM:<evil@attacker.example>\r\n"
           b"RCPT TO:<bob@localhost>\r\n")
    c.expect(220, "2.0.0")
    time.sleep(0.3)                 # the injected lines have arrived
    assert not c.buf, bytes(c.buf)
    c.sock = client_context().wrap_socket(c.sock,
                                         server_hostname="localhost")
    # nothing answers the injected commands; the session starts afresh
    c.cmd("RCPT TO:<bob@localhost>", 503, "5.5.1")
    c.cmd("EHLO client.test", 250)
    c.cmd("DATA", 503, "5.5.1")
    c.cmd("QUIT", 221)
    assert re.search(r"smtp in starttls discarded=\d+", t.log()), t.log()
    t.sync()
    assert t.delivered() == []


def test_require_tls(tern_factory, certs):
    t = tls_tern(tern_factory, certs, extra="tls require yes\n")
    c = t.connect()
    r = c.cmd("MAIL FROM:<a@b.example>", 530, "5.7.0")
    assert r.text == "Must issue a STARTTLS command first"
    c.cmd("RCPT TO:<bob@localhost>", 503, "5.5.1")
    starttls(c)
    c.cmd("EHLO client.test", 250)
    send_mail(c, "a@b.example", ["bob@localhost"], MSG).check(250)
    c.cmd("QUIT", 221)
    t.wait_delivered(1)


def test_big_message_over_tls(tern_factory, certs):
    """Records larger than the read buffer: decrypted input that mbedTLS
    holds is read without waiting for the socket."""
    t = tls_tern(tern_factory, certs)
    c = tls_client(t)
    body = b"".join(b"line %06d of a long message, filling records\r\n" % k
                    for k in range(20000))
    msg = b"Subject: big\r\n\r\n" + body
    send_mail(c, "a@b.example", ["bob@localhost"], msg,
              timeout=30).check(250, "2.0.0")
    c.cmd("QUIT", 221)
    files = t.wait_delivered(1)
    assert split_delivered(files[0].read_bytes())[2] == msg


# ---- resources -----------------------------------------------------------------

def stats(t):
    out = ctl(t, "stats")
    return dict(re.findall(r"^([a-z-]+): (\d+)$", out, re.M))


def test_stalled_handshake_times_out(tern_factory, certs):
    t = tls_tern(tern_factory, certs, extra="timeout command 2s\n")
    c = t.connect()
    c.cmd("STARTTLS", 220)
    c.send(b"\x16\x03\x01")            # the start of a ClientHello, then silence
    assert wait_for(lambda: stats(t).get("tls-connections") == "1", 3)
    c.read_until_close(timeout=6)
    assert wait_for(lambda: "smtp in timeout state=tls-handshake"
                    in t.log(), 3), t.log()
    assert wait_for(lambda: stats(t).get("tls-connections") == "0" and
                    stats(t).get("sessions") == "0", 5), stats(t)
    tls_client(t).cmd("QUIT", 221)     # and TLS still works


def test_tls_pool_exhausted(tern_factory, certs):
    """Every TLS slot held by a handshake that does not go on: the next
    STARTTLS answers 454 4.7.0 and the session goes on in cleartext."""
    n = tls_pool_size()
    if n > 600:
        pytest.skip(f"CONFIG_POOL_TLS={n}: too many connections to hold")
    t = tls_tern(tern_factory, certs, extra=f"max-connections {n + 50}\n",
                 global_=f"max-sessions {n + 50}\n")
    held = []
    try:
        for _ in range(n):
            c = SMTPClient(t.host, t.port)
            c.expect(220)
            c.cmd("EHLO client.test", 250)
            c.cmd("STARTTLS", 220)
            held.append(c)
        assert stats(t)["tls-connections"] == str(n)
        c = SMTPClient(t.host, t.port)
        c.expect(220)
        c.cmd("EHLO client.test", 250)
        r = c.cmd("STARTTLS", 454, "4.7.0")
        assert r.text == "TLS not available due to temporary reason"
        send_mail(c, "a@b.example", ["bob@localhost"], MSG).check(250)
        c.cmd("QUIT", 221)
    finally:
        for c in held:
            c.close()
    assert wait_for(lambda: stats(t)["tls-connections"] == "0", 10)
    assert "reason=tls-pool" in t.log()
    tls_client(t).cmd("QUIT", 221)
