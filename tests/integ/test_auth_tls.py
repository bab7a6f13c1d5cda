"""
AUTH together with STARTTLS, the default way (`auth plaintext no`): AUTH
is neither offered nor accepted in cleartext, appears after STARTTLS, and
an authenticated client over TLS may relay; the Received header says
ESMTPSA (RFC 3848). Outbound: tern authenticates to a smart host only
over TLS (`tls required` + `auth user`), never in cleartext.
Real clients: Python smtplib (starttls + login), swaks --tls --auth.
"""
import re
import shutil
import smtplib
import subprocess

import pytest

from auth_helpers import PASSWORD, auth_tern, smarthost_pair
from relay_helpers import submit, wait_for
from tls_helpers import client_context, make_cert, server_tls, starttls

MSG = b"Subject: tls+auth\r\n\r\nover TLS, authenticated\r\n"


def ehlo_words(reply_lines):
    return [ln.split()[0].upper() for ln in reply_lines if ln.strip()]


@pytest.fixture
def tls_auth(tern_factory, tmp_path):
    cert, key = make_cert(tmp_path / "certs", "ecdsa")
    return auth_tern(tern_factory, tmp_path, plaintext=False,
                     server=server_tls(cert, key))


def test_auth_only_after_starttls(tls_auth):
    c = tls_auth.connect(ehlo=None)
    first = c.cmd("EHLO client.test", 250)
    words = ehlo_words(first.lines)
    assert "STARTTLS" in words and "AUTH" not in words, first.lines
    c.cmd("AUTH PLAIN AGFsaWNlAHMzY3JldCBwYXNz", 538, "5.7.11")
    c.cmd("MAIL FROM:<alice@localhost>", 250)
    c.cmd("RCPT TO:<someone@relay.invalid>", 550, "5.7.1")  # no relay yet
    c.cmd("RSET", 250)
    starttls(c, client_context())
    second = c.cmd("EHLO client.test", 250)
    words = ehlo_words(second.lines)
    assert "AUTH" in words and "STARTTLS" not in words, second.lines
    auth = [ln for ln in second.lines if ln.upper().startswith("AUTH ")]
    assert "PLAIN" in auth[0].upper() and "SCRAM-SHA-256" in auth[0].upper()
    # "\0alice\0s3cret pass"
    c.cmd("AUTH PLAIN AGFsaWNlAHMzY3JldCBwYXNz", 235, "2.7.0")
    c.cmd("MAIL FROM:<alice@localhost>", 250)
    c.cmd("RCPT TO:<someone@relay.invalid>", 250)
    c.close()


def test_smtplib_starttls_login(tls_auth):
    s = smtplib.SMTP(tls_auth.host, tls_auth.port, timeout=10)
    s.ehlo("client.test")
    assert not s.has_extn("auth")
    s.starttls(context=client_context())
    s.ehlo("client.test")
    assert s.has_extn("auth")
    s.login("alice", PASSWORD)
    s.sendmail("alice@localhost", ["bob@localhost"], MSG)
    s.quit()
    tls_auth.wait_delivered(1)
    text = tls_auth.delivered()[0].read_bytes()
    assert re.search(rb"with ESMTPSA\s", text), text[:400]
    assert b"version=TLSv1." in text
    assert PASSWORD not in tls_auth.log()


@pytest.mark.skipif(not shutil.which("swaks"), reason="swaks not installed")
@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_swaks_tls_auth(tls_auth, mech):
    def swaks(password):
        return subprocess.run(
            ["swaks", "--server", f"{tls_auth.host}:{tls_auth.port}",
             "--helo", "client.test", "--from", "alice@localhost",
             "--to", "someone@relay.invalid", "--tls", "--auth", mech,
             "--auth-user", "alice", "--auth-password", password,
             "--timeout", "20"],
            capture_output=True, text=True, timeout=60)
    r = swaks(PASSWORD)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0" in r.stdout
    r = swaks("nope")
    assert r.returncode != 0
    assert "535 5.7.8" in r.stdout


# ---- outbound: AUTH to a smart host over TLS --------------------------

def hub_and_edge(tern_factory, tmp_path, hub_cert=True, tls_line="required"):
    srv = ""
    if hub_cert:
        cert, key = make_cert(tmp_path / "certs", "rsa")
        srv = server_tls(cert, key)
    return smarthost_pair(tern_factory, tmp_path, mechs="plain scram-sha-256",
                          plaintext_ok=False, hub_server=srv,
                          hub_plaintext=False, tls_line=tls_line)


def test_outbound_auth_over_required_tls(tern_factory, tmp_path):
    hub, edge = hub_and_edge(tern_factory, tmp_path)
    submit(edge, "x@remote.test", MSG)
    hub.wait_delivered(1, timeout=15)
    assert "auth ok mech=SCRAM-SHA-256 user=alice" in hub.log()
    text = hub.delivered()[0].read_bytes()
    assert re.search(rb"with ESMTPSA\s", text), text[:400]
    assert PASSWORD not in edge.log() + hub.log()


def test_outbound_auth_never_in_cleartext(tern_factory, tmp_path):
    """The hub has no certificate: opportunistic TLS falls back to
    cleartext, where the password must not go (4.7.0, deferred)."""
    hub, edge = hub_and_edge(tern_factory, tmp_path, hub_cert=False,
                             tls_line="opportunistic")
    submit(edge, "x@remote.test", MSG)
    assert wait_for(lambda: "AUTH to this host needs TLS" in edge.log(),
                    timeout=15), edge.log()
    assert "smtp in auth" not in hub.log()
    assert hub.delivered() == []


def test_starttls_forgets_a_cleartext_auth(tern_factory, tmp_path):
    """RFC 3207 4.2: after the handshake the server knows nothing it
    learnt before it -- an AUTH done in cleartext included."""
    cert, key = make_cert(tmp_path / "certs", "ecdsa")
    t = auth_tern(tern_factory, tmp_path, plaintext=True,
                  server=server_tls(cert, key))
    c = t.connect(ehlo="client.test")
    c.cmd("AUTH PLAIN AGFsaWNlAHMzY3JldCBwYXNz", 235, "2.7.0")
    starttls(c, client_context())
    c.cmd("EHLO client.test", 250)
    c.cmd("MAIL FROM:<alice@localhost>", 250)
    c.cmd("RCPT TO:<someone@relay.invalid>", 550, "5.7.1")
    c.cmd("RSET", 250)
    c.cmd("AUTH PLAIN AGFsaWNlAHMzY3JldCBwYXNz", 235, "2.7.0")
    c.cmd("MAIL FROM:<alice@localhost>", 250)
    c.cmd("RCPT TO:<someone@relay.invalid>", 250)
    c.close()
