"""
SMTP AUTH (RFC 4954) on the receiving side with real clients: Python's
smtplib (PLAIN, LOGIN, CRAM-MD5), swaks (PLAIN, LOGIN, CRAM-MD5; its NTLM
through Authen::NTLM is NTLMv1 and must be refused), curl (NTLMv2),
msmtp (SCRAM-SHA-256 through GNU SASL) and independent Python SCRAM and
NTLMv2; relaying for authenticated clients; the failure limit and the
back-off; hostile exchanges; ternctl user; config errors.

Every test here runs without TLS (`auth plaintext yes`); the `plaintext`
parameter of auth_tern() is where a STARTTLS variant plugs in.
"""
import base64
import os
import shutil
import smtplib
import stat
import subprocess
import time

import pytest

from auth_helpers import (PASSWORD, Scram, auth_tern, b64, make_userdb,
                          ntlm_type1, ntlm_type3)
from conftest import TERN_BIN, free_ports

MSG = "Subject: auth test\r\n\r\nhello\r\n"


@pytest.fixture
def at(tern_factory, tmp_path):
    return auth_tern(tern_factory, tmp_path)


def ehlo_auth(r):
    return [ln for ln in r.lines if ln.startswith("AUTH")]


def plain_ir(user="alice", pw=PASSWORD, authz=""):
    return b64(f"{authz}\0{user}\0{pw}".encode())


# ---- offering -----------------------------------------------------------

def test_ehlo_lists_configured_mechanisms(at):
    c = at.client()
    c.expect(220)
    r = c.cmd("EHLO client.test", 250)
    assert ehlo_auth(r) == ["AUTH SCRAM-SHA-256 CRAM-MD5 NTLM PLAIN LOGIN"]
    c.close()


def test_subset_of_mechanisms(tern_factory, tmp_path):
    t = auth_tern(tern_factory, tmp_path, mechs="plain scram-sha-256")
    c = t.connect(ehlo=None)
    assert ehlo_auth(c.cmd("EHLO c.test", 250)) == ["AUTH SCRAM-SHA-256 PLAIN"]
    c.cmd("AUTH CRAM-MD5", 504, "5.5.4")
    c.cmd("AUTH NOSUCH", 504, "5.5.4")
    c.close()


def test_no_auth_without_tls_unless_allowed(tern_factory, tmp_path):
    t = auth_tern(tern_factory, tmp_path, plaintext=False)
    c = t.connect(ehlo=None)
    assert ehlo_auth(c.cmd("EHLO c.test", 250)) == []
    c.cmd("AUTH PLAIN " + plain_ir(), 538, "5.7.11")
    c.close()


def test_server_without_auth(tern):
    c = tern.connect()
    r = c.cmd("EHLO c.test", 250)
    assert ehlo_auth(r) == []
    c.cmd("AUTH PLAIN " + plain_ir(), 502, "5.5.1")
    c.close()


# ---- real clients -------------------------------------------------------

@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_smtplib_login_and_relay(at, mech):
    s = smtplib.SMTP(at.host, at.port, timeout=10)
    s.ehlo("client.test")
    s.user, s.password = "alice", PASSWORD
    code, _ = s.auth(mech, getattr(s, "auth_" + mech.lower().replace("-", "_")))
    assert code == 235
    # authenticated: may relay (relay allow authenticated)
    code, msg = s.mail("alice@localhost")
    assert code == 250
    code, msg = s.rcpt("someone@relay.invalid")
    assert code == 250, msg
    s.rset()
    s.sendmail("alice@localhost", ["bob@localhost"], MSG)
    s.quit()
    at.wait_delivered(1)
    text = at.delivered()[0].read_bytes()
    assert b"with ESMTPA id" in text
    assert f"user=alice".encode() in at.log().encode()


def test_not_authenticated_may_not_relay(at):
    c = at.connect()
    c.cmd("MAIL FROM:<x@client.test>", 250)
    c.cmd("RCPT TO:<someone@relay.invalid>", 550, "5.7.1")
    c.cmd("RCPT TO:<bob@localhost>", 250)  # local delivery still fine
    c.close()


def test_smtplib_wrong_password(at):
    s = smtplib.SMTP(at.host, at.port, timeout=10)
    s.ehlo("client.test")
    s.user, s.password = "alice", "wrong"
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        s.auth("PLAIN", s.auth_plain)
    assert e.value.smtp_code == 535
    s.close()


def swaks(t, *args):
    return subprocess.run(
        ["swaks", "--server", f"{t.host}:{t.port}", "--helo", "client.test",
         "--from", "alice@localhost", "--to", "bob@localhost",
         "--timeout", "20", *args],
        capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not shutil.which("swaks"), reason="swaks not installed")
@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_swaks(at, mech):
    r = swaks(at, "--auth", mech, "--auth-user", "alice",
              "--auth-password", PASSWORD)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0" in r.stdout
    r = swaks(at, "--auth", mech, "--auth-user", "alice",
              "--auth-password", "nope")
    assert r.returncode != 0
    assert "535 5.7.8" in r.stdout


def perl_has(module):
    return subprocess.run(["perl", "-M" + module, "-e", "1"],
                          capture_output=True).returncode == 0


@pytest.mark.skipif(not shutil.which("swaks") or not perl_has("Authen::NTLM"),
                    reason="swaks or libauthen-ntlm-perl not installed")
def test_swaks_ntlm_v1_is_refused(at):
    """swaks drives Authen::NTLM without ntlmv2(): an NTLMv1 response,
    which tern refuses even with the right password."""
    r = swaks(at, "--auth", "NTLM", "--auth-user", "alice",
              "--auth-password", PASSWORD)
    assert "334 " in r.stdout  # the exchange did run
    assert "535 5.7.8" in r.stdout, r.stdout
    assert r.returncode != 0


def curl_ntlm(t, user, pw, tmp_path):
    m = tmp_path / "msg.txt"
    m.write_text(MSG)
    return subprocess.run(
        ["curl", "-sS", "--url", f"smtp://{t.host}:{t.port}/client.test",
         "--login-options", "AUTH=NTLM", "--user", f"{user}:{pw}",
         "--mail-from", "alice@localhost", "--mail-rcpt", "bob@localhost",
         "--upload-file", str(m), "--max-time", "30"],
        capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not shutil.which("curl"), reason="curl not installed")
def test_curl_ntlm_v2(at, tmp_path):
    r = curl_ntlm(at, "alice", PASSWORD, tmp_path)
    assert r.returncode == 0, r.stderr
    at.wait_delivered(1)
    assert "auth ok mech=NTLM user=alice" in at.log()
    r = curl_ntlm(at, "alice", "wrong", tmp_path)
    assert r.returncode != 0
    assert "auth failed mech=NTLM user=alice" in at.log()


@pytest.mark.skipif(not shutil.which("msmtp"), reason="msmtp not installed")
def test_msmtp_scram(at, tmp_path):
    def run(pw):
        return subprocess.run(
            ["msmtp", f"--host={at.host}", f"--port={at.port}", "--tls=off",
             "--auth=scram-sha-256", "--user=alice",
             f"--passwordeval=printf '%s' '{pw}'", "--from=alice@localhost",
             "bob@localhost"], input=MSG, capture_output=True, text=True,
            timeout=60)
    r = run(PASSWORD)
    assert r.returncode == 0, r.stderr
    at.wait_delivered(1)
    assert "auth ok mech=SCRAM-SHA-256 user=alice" in at.log()
    r = run("wrong")
    assert r.returncode != 0
    assert "535" in r.stderr


# ---- independent Python implementations --------------------------------

def test_python_scram_sha256(at):
    c = at.connect()
    sc = Scram("alice", PASSWORD)
    r = c.cmd("AUTH SCRAM-SHA-256 " + b64(sc.first().encode()), 334)
    server_first = base64.b64decode(r.lines[0]).decode()
    assert ",s=" in server_first and ",i=4096" in server_first
    r = c.cmd(b64(sc.final(server_first).encode()), 334)
    assert base64.b64decode(r.lines[0]) == b"v=" + b64(sc.server_sig).encode()
    c.cmd("", 235, "2.7.0")
    c.cmd("AUTH SCRAM-SHA-256 " + b64(sc.first().encode()), 503, "5.5.1")
    c.close()


def test_python_scram_wrong_password_and_no_user(at):
    for user, pw in (("alice", "wrong"), ("nobody", "x")):
        c = at.connect()
        sc = Scram(user, pw)
        r = c.cmd("AUTH SCRAM-SHA-256", 334)
        assert r.lines == [""]
        r = c.cmd(b64(sc.first().encode()), 334)
        first = base64.b64decode(r.lines[0]).decode()
        c.cmd(b64(sc.final(first).encode()), 535, "5.7.8", timeout=20)
        c.close()


def test_python_scram_tampered_nonce(at):
    c = at.connect()
    sc = Scram("alice", PASSWORD)
    r = c.cmd("AUTH SCRAM-SHA-256 " + b64(sc.first().encode()), 334)
    first = base64.b64decode(r.lines[0]).decode()
    final = sc.final(first).replace(",r=", ",r=X", 1)
    c.cmd(b64(final.encode()), 501, "5.5.2")
    c.close()


@pytest.mark.parametrize("v1,user,pw,code", [
    (False, "alice", PASSWORD, 235),
    (False, "ALICE", PASSWORD, 235 - 235 + 535),  # names are case-sensitive
    (False, "alice", "wrong", 535),
    (True, "alice", PASSWORD, 535),  # NTLMv1 refused
])
def test_python_ntlm(at, v1, user, pw, code):
    c = at.connect()
    r = c.cmd("AUTH NTLM " + b64(ntlm_type1()), 334)
    t2 = base64.b64decode(r.lines[0])
    c.cmd(b64(ntlm_type3(t2, user, pw, v1=v1)), code, timeout=20)
    c.close()


def test_ntlm_hostile_type3(at):
    c = at.connect()
    r = c.cmd("AUTH NTLM " + b64(ntlm_type1()), 334)
    t2 = base64.b64decode(r.lines[0])
    t3 = bytearray(ntlm_type3(t2, "alice", PASSWORD))
    t3[24:28] = (0xfff0).to_bytes(4, "little")  # NT response out of bounds
    c.cmd(b64(bytes(t3)), 501, "5.5.2")
    c.cmd("AUTH NTLM", 334)
    c.cmd(b64(b"NTLMSSP\0\3\0\0\0"), 501, "5.5.2")  # not a Type 1
    c.close()


# ---- hostile and odd exchanges -----------------------------------------

def test_garbage_base64(at):
    c = at.connect()
    c.cmd("AUTH PLAIN not*base64", 501, "5.5.2")
    c.cmd("AUTH LOGIN", 334)
    c.cmd("@@@@", 501, "5.5.2")
    c.cmd("AUTH PLAIN", 334)
    c.cmd("YWJj=", 501, "5.5.2")  # bad length
    c.cmd("NOOP", 250)
    c.close()


def test_cancel(at):
    c = at.connect()
    r = c.cmd("AUTH LOGIN", 334)
    assert base64.b64decode(r.lines[0]) == b"Username:"
    c.cmd("*", 501, "5.7.0")
    r = c.cmd("AUTH CRAM-MD5", 334)
    c.cmd("*", 501, "5.7.0")
    c.cmd("AUTH LOGIN " + b64(b"alice"), 334)
    c.cmd(b64(PASSWORD.encode()), 235, "2.7.0")
    c.close()


def test_over_long_response(at):
    c = at.connect()
    c.cmd("AUTH PLAIN", 334)
    c.send(b"A" * 4000 + b"\r\n")
    r = c.reply()
    r.check(500, "5.5.6")
    c.cmd("NOOP", 250)
    c.cmd("AUTH PLAIN", 334)
    c.cmd("QUJD" * 450, 500, "5.5.6")  # fits the line, too big decoded
    c.close()


def test_auth_twice_and_in_transaction(at):
    c = at.connect()
    c.cmd("MAIL FROM:<alice@localhost>", 250)
    c.cmd("AUTH PLAIN " + plain_ir(), 503, "5.5.1")
    c.cmd("RSET", 250)
    c.cmd("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
    c.cmd("AUTH PLAIN " + plain_ir(), 503, "5.5.1")
    c.close()


def test_auth_before_ehlo(at):
    c = at.client()
    c.expect(220)
    c.cmd("AUTH PLAIN " + plain_ir(), 503, "5.5.1")
    c.close()


def test_initial_response_equals(at):
    c = at.connect()
    c.cmd("AUTH PLAIN =", 501, "5.5.2")  # an empty PLAIN message
    c.cmd("AUTH LOGIN =", 501, "5.5.2")  # an empty user name
    c.cmd("AUTH PLAIN", 334)
    c.cmd(plain_ir(), 235)
    c.close()


def test_plain_authzid(at):
    c = at.connect()
    c.cmd("AUTH PLAIN " + plain_ir(authz="bob"), 535, "5.7.8", timeout=20)
    c.cmd("AUTH PLAIN " + plain_ir(authz="alice"), 235, "2.7.0")
    c.close()


def test_mail_auth_parameter(at):
    c = at.connect()
    c.cmd("AUTH PLAIN " + plain_ir(), 235)
    c.cmd("MAIL FROM:<alice@localhost> AUTH=alice+40localhost", 250)
    c.cmd("RSET", 250)
    c.cmd("MAIL FROM:<alice@localhost> AUTH=<>", 250)
    c.cmd("RSET", 250)
    c.cmd("MAIL FROM:<alice@localhost> AUTH=bad+4", 501, "5.5.4")
    c.cmd("MAIL FROM:<alice@localhost> AUTH=<> AUTH=<>", 501, "5.5.4")
    c.close()


def test_failure_limit_and_delay(at):
    c = at.connect()
    t0 = time.monotonic()
    c.cmd("AUTH PLAIN " + plain_ir(pw="bad1"), 535, "5.7.8", timeout=20)
    assert time.monotonic() - t0 >= 0.8  # answered after a delay
    c.cmd("AUTH PLAIN " + plain_ir(pw="bad2"), 535, "5.7.8", timeout=20)
    c.cmd("AUTH PLAIN " + plain_ir(pw="bad3"), 421, "4.7.0", timeout=20)
    c.expect_closed(timeout=10)
    # the same address again: failures are now answered more slowly
    c = at.connect()
    t0 = time.monotonic()
    c.cmd("AUTH PLAIN " + plain_ir(pw="bad4"), 535, "5.7.8", timeout=30)
    assert time.monotonic() - t0 >= 1.8
    # the right password still works (the back-off only delays)
    c.cmd("AUTH PLAIN " + plain_ir(), 235, "2.7.0")
    c.close()


def test_pipelined_after_failure(at):
    """Commands after a failed AUTH wait for its delayed reply, in order."""
    c = at.connect()
    c.send("AUTH PLAIN " + plain_ir(pw="bad") + "\r\nNOOP\r\n")
    c.expect(535, "5.7.8", timeout=20)
    c.expect(250)
    c.close()


def test_secrets_not_logged(at):
    c = at.connect()
    c.cmd("AUTH PLAIN " + plain_ir(), 235)
    c.close()
    c = at.connect()
    c.cmd("AUTH LOGIN", 334)
    c.cmd(b64(b"bob"), 334)
    c.cmd(b64(b"wrong-pass-xyz"), 535, timeout=20)
    c.close()
    time.sleep(0.3)
    log = at.log()
    assert "auth ok mech=PLAIN user=alice" in log
    for secret in (PASSWORD, plain_ir(), "wrong-pass-xyz",
                   b64(b"wrong-pass-xyz")):
        assert secret not in log


# ---- ternctl user and the database -----------------------------------------

def ctl(conf, *args, **kw):
    return subprocess.run([str(TERN_BIN), "ctl", "-c", str(conf), "user",
                           *args], capture_output=True, text=True,
                          timeout=30, **kw)


def test_ternctl_user(tmp_path):
    db = make_userdb(tmp_path, {"alice": PASSWORD})
    conf = tmp_path / "ctl.conf"
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    text = db.read_text()
    assert PASSWORD not in text
    assert text.startswith("alice crypt=$6$")
    for field in ("scram=4096,", "nt=", "cram="):
        assert field in text
    pwfile = tmp_path / "pw"
    pwfile.write_text("other password\n")
    r = ctl(conf, "add", "carol", "--password-file", str(pwfile))
    assert r.returncode == 0, r.stderr
    r = ctl(conf, "list")
    assert r.stdout.splitlines() == [
        "alice plain login cram-md5 scram-sha-256 ntlm",
        "carol plain login cram-md5 scram-sha-256 ntlm"]
    r = ctl(conf, "del", "alice")
    assert r.returncode == 0
    assert ctl(conf, "list").stdout.split() [0] == "carol"
    assert ctl(conf, "del", "alice").returncode == 1
    assert ctl(conf, "add", "bad name", input="x\n").returncode == 1
    assert ctl(conf, "add", "dave", input="").returncode == 1  # no password
    assert ctl(conf, "frob").returncode == 2
    assert not list(tmp_path.glob("users.tmp.*"))
    # the NT hash is MD4 of UTF-16LE (checked against Python's MD4)
    from auth_helpers import md4
    line = [ln for ln in db.read_text().splitlines() if ln.startswith("carol")]
    nt = [f for f in line[0].split() if f.startswith("nt=")][0][3:]
    assert nt == md4("other password".encode("utf-16-le")).hex()


def test_user_db_bad_line_is_fatal(tmp_path):
    db = tmp_path / "users"
    db.write_text("# comment\nalice crypt=nothash\n")
    port = free_ports(1)[0]
    conf = tmp_path / "t.conf"
    conf.write_text(f"users {db}\nspool {tmp_path}/s\ndrop {tmp_path}/d\n"
                    f"badmail {tmp_path}/b\nserver s {{\n"
                    f" listen 127.0.0.1:{port}\n auth plain\n}}\n")
    r = subprocess.run([str(TERN_BIN), "-c", str(conf)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0
    assert f"{db}:2: user database: bad line" in r.stderr, r.stderr


@pytest.mark.parametrize("server,glob,msg", [
    ("auth plain frob", "users /x", "unknown mechanism 'frob'"),
    ("auth plain", "", "no user database"),
    ("relay allow authenticated", "", "needs auth MECH"),
    ("auth plaintext maybe", "", "auth plaintext takes yes or no"),
    ("auth max-failures x", "", "max-failures takes a number"),
])
def test_config_errors(tmp_path, server, glob, msg):
    conf = tmp_path / "t.conf"
    conf.write_text(f"{glob}\nserver s {{\n listen 127.0.0.1:1\n {server}\n}}\n")
    r = subprocess.run([str(TERN_BIN), "-t", "-c", str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert msg in r.stderr, r.stderr
    assert f"{conf}:" in r.stderr
