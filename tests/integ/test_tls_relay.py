"""
STARTTLS in the SMTP client (RFC 3207) by the connector's policy: to tern
itself and to Debian's Postfix; none, opportunistic (the default, with a
failed handshake retried in cleartext), required (never cleartext) and
verify (CA bundle and host name). The TLS version and cipher go to the
log; the receiving tern writes them into its Received header.
"""
import re
import subprocess

import pytest

from conftest import TERN_BIN, split_delivered
from relay_helpers import (Peer, PostfixPeer, connector, message,  # noqa
                           peers, relay_tern, submit, wait_for, wait_out)
from tls_helpers import CA, make_cert, server_tls

FAR = "far.test"
RCPT = f"dest@{FAR}"
FAR_DOMAIN = f"domain {FAR} {{\n    mailbox dest\n}}\n"


def receiver(tern_factory, cert=None, key=None, name="receiver"):
    """A tern that takes mail for far.test, with STARTTLS if cert."""
    return tern_factory(server=server_tls(cert, key) if cert else "",
                        global_=FAR_DOMAIN, name=name)


def sender(relay_tern, port, *tls_lines):
    return relay_tern(connector("far", FAR, [port],
                                extra=list(tls_lines)), name="sender")


def received(t, n=1):
    files = t.wait_delivered(n)
    return [split_delivered(f.read_bytes())[1] for f in files]


def test_opportunistic_to_tern(tern_factory, relay_tern, tmp_path):
    cert, key = make_cert(tmp_path, "ecdsa")
    r = receiver(tern_factory, cert, key)
    s = sender(relay_tern, r.port)           # no tls line: opportunistic
    qid = submit(s, RCPT, message("opp"))
    wait_out(s, qid, RCPT, "sent")
    rec = received(r)[0]
    assert b"with ESMTPS" in rec and b"(version=TLSv1.3 cipher=" in rec, rec
    assert re.search(r"smtp out host=127\.0\.0\.1 starttls version=TLSv1\.3 "
                     r"cipher=TLS_\S+", s.log()), s.log()


def test_kept_connection_stays_tls(tern_factory, relay_tern, tmp_path):
    cert, key = make_cert(tmp_path, "rsa")
    r = receiver(tern_factory, cert, key)
    s = sender(relay_tern, r.port, "tls required")
    for k in range(3):
        qid = submit(s, RCPT, message(f"kept{k}"))
        wait_out(s, qid, RCPT, "sent")
    recs = received(r, 3)
    assert all(b"with ESMTPS" in x for x in recs), recs
    # no message went in cleartext, whether or not the connection was kept
    assert s.log().count("starttls version=") <= 3


def test_none_stays_cleartext(tern_factory, relay_tern, tmp_path):
    cert, key = make_cert(tmp_path, "rsa")
    r = receiver(tern_factory, cert, key)
    s = sender(relay_tern, r.port, "tls none")
    qid = submit(s, RCPT, message("none"))
    wait_out(s, qid, RCPT, "sent")
    rec = received(r)[0]
    assert b"with ESMTP id" in rec, rec
    assert "starttls" not in s.log()


def test_required_without_starttls_defers(tern_factory, relay_tern):
    r = receiver(tern_factory)                  # no certificate
    s = sender(relay_tern, r.port, "tls required")
    qid = submit(s, RCPT, message("req"))
    e = wait_out(s, qid, RCPT, "deferred")
    assert "4.7.4 TLS required but the peer does not offer STARTTLS" in \
        e[3], e
    r.sync()
    assert r.delivered() == []                  # never in cleartext


def test_required_refused_starttls_defers(peers, relay_tern):
    p = peers(caps=Peer.DEFAULT_CAPS + ("STARTTLS",),
              script={"unknown": "454 4.7.0 not now"})
    s = sender(relay_tern, p.port, "tls required")
    qid = submit(s, RCPT, message("refused"))
    e = wait_out(s, qid, RCPT, "deferred")
    assert "4.7.0 the peer refused STARTTLS" in e[3], e
    assert p.all_messages() == []


def test_opportunistic_failed_handshake_retries_cleartext(peers, relay_tern):
    """The peer offers STARTTLS, says 220 and then speaks no TLS: tern
    logs it and delivers over a new cleartext connection (RFC 7435)."""
    p = peers(caps=Peer.DEFAULT_CAPS + ("STARTTLS",),
              script={"unknown": "220 2.0.0 go ahead"})
    s = sender(relay_tern, p.port)
    qid = submit(s, RCPT, message("fallback"))
    wait_out(s, qid, RCPT, "sent", timeout=15)
    assert len(p.all_messages()) == 1
    assert re.search(r"4\.7\.5 TLS handshake (failed|timed out).*again "
                     r"without TLS", s.log()), s.log()


def test_verify_ok(tern_factory, relay_tern, tmp_path):
    ca = CA(tmp_path)
    chain, key = ca.issue("rsa", "localhost", "DNS:localhost,IP:127.0.0.1")
    r = receiver(tern_factory, chain, key)
    s = sender(relay_tern, r.port, "tls verify", f"tls ca {ca.cert}")
    qid = submit(s, RCPT, message("verify"))
    wait_out(s, qid, RCPT, "sent")
    assert b"with ESMTPS" in received(r)[0]


@pytest.mark.parametrize("case", ["untrusted", "wrong-name"])
def test_verify_fails_never_cleartext(tern_factory, relay_tern, tmp_path,
                                      case):
    ca = CA(tmp_path)
    if case == "untrusted":
        cert, key = make_cert(tmp_path, "rsa")      # self-signed
        want = "certificate not trusted"
    else:
        cert, key = ca.issue("ecdsa", "other.test", "DNS:other.test")
        want = "certificate does not match the host name"
    r = receiver(tern_factory, cert, key)
    s = sender(relay_tern, r.port, "tls verify", f"tls ca {ca.cert}")
    qid = submit(s, RCPT, message(case))
    e = wait_out(s, qid, RCPT, "deferred")
    assert f"4.7.5 TLS handshake failed: {want}" in e[3], e
    r.sync()
    assert r.delivered() == []


def test_verify_missing_ca_bundle(tern_factory, relay_tern, tmp_path):
    cert, key = make_cert(tmp_path, "rsa")
    r = receiver(tern_factory, cert, key)
    s = sender(relay_tern, r.port, "tls verify",
               f"tls ca {tmp_path}/missing.pem")
    assert re.search(r"tern\.conf:\d+: warning: tls ca .*missing\.pem: no "
                     r"such file", s.log()), s.log()
    qid = submit(s, RCPT, message("noca"))
    e = wait_out(s, qid, RCPT, "deferred")
    assert "CA bundle could not be loaded" in e[3], e


@pytest.mark.parametrize("line", ["tls maybe", "tls", "tls ca"])
def test_connector_config_errors(tmp_path, line):
    conf = tmp_path / "t.conf"
    conf.write_text("server default {\n    listen 127.0.0.1:2\n}\n"
                    "connector c {\n    address-space *\n    route mx\n"
                    f"    {line}\n}}\n")
    r = subprocess.run([str(TERN_BIN), "-t", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert ("t.conf:7: tls takes none, opportunistic, required, verify or "
            "'ca FILE'") in r.stderr, r.stderr


@pytest.fixture(scope="module")
def tls_postfix(tmp_path_factory):
    d = tmp_path_factory.mktemp("pfcert")
    cert, key = make_cert(d, "rsa", "pf.test", "DNS:pf.test")
    import os
    os.chmod(d, 0o755)
    for f in (cert, key):
        os.chmod(f, 0o644)
    pf = PostfixPeer(tmp_path_factory.mktemp("postfix"), FAR, main_extra=(
        f"smtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\n"
        "smtpd_tls_security_level = may\nsmtpd_tls_loglevel = 1\n"
        "smtpd_tls_received_header = yes\n"),
        master_extra="tlsmgr unix - - n 1000? 1 tlsmgr\n")
    yield pf
    pf.stop()


@pytest.mark.parametrize("policy", ["opportunistic", "required"])
def test_starttls_to_postfix(relay_tern, tls_postfix, policy):
    s = sender(relay_tern, tls_postfix.port, f"tls {policy}")
    qid = submit(s, RCPT, message(f"pf-{policy}"))
    e = wait_out(s, qid, RCPT, "sent", timeout=15)
    assert "queued as" in e[3], e
    m = re.search(r"starttls version=(TLSv1\.[23]) cipher=(\S+)", s.log())
    assert m, s.log()
    assert wait_for(lambda: re.search(
        r"TLS connection established from \S+: " + re.escape(m.group(1)),
        tls_postfix.log()), 10), tls_postfix.log()[-2000:]


def test_ca_bundle_shared(tmp_path):
    """Connectors verifying against the same CA bundle share one parsed
    copy (about 500 KiB parsed): sixty of them fit the TLS heap, which
    sixty copies would not."""
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    import os
    if not os.path.exists(bundle):
        pytest.skip("no CA bundle (package ca-certificates)")
    conf = tmp_path / "t.conf"
    conf.write_text("server default {\n    listen 127.0.0.1:2\n}\n" + "".join(
        f"connector c{k} {{\n    address-space d{k}.test\n    route mx\n"
        f"    tls verify\n}}\n" for k in range(60)))
    r = subprocess.run([str(TERN_BIN), "-t", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(": configuration ok\n"), r.stdout + r.stderr
    assert "warning" not in r.stderr, r.stderr
