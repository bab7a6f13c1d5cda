"""
Outbound AUTH to a smart host, per connector: tern relays through another
tern that requires AUTH for relaying (its user database written with
ternctl). The client picks the strongest mechanism both offer (SCRAM-SHA-
256 > CRAM-MD5 > PLAIN > LOGIN); without TLS it sends nothing unless the
connector says `auth plaintext yes`; a refusal defers the message with
the smart host's reply as the reason.

No outbound TLS exists in this version, so every test uses the plaintext
permission; `plaintext_ok=False` is the case that must not send a password.
"""
import pytest

from auth_helpers import PASSWORD, auth_tern
from relay_helpers import FAST_QUEUE, submit, wait_for

MSG = b"Subject: out\r\n\r\nthrough the smart host\r\n"
REMOTE = "domain remote.test {\n    mailbox x\n}\n"


def pair(tern_factory, tmp_path, mechs="plain login cram-md5 scram-sha-256",
         password=PASSWORD, plaintext_ok=True):
    hub = auth_tern(tern_factory, tmp_path, mechs=mechs)
    # the hub delivers remote.test itself
    hub.stop()
    hub.config = hub.config.replace("server default {", REMOTE +
                                    "server default {", 1)
    hub.config_path.write_text(hub.config)
    hub.start()
    pw = tmp_path / "smarthost.pass"
    pw.write_text(password + "\n")
    conn = ("connector hub {\n    address-space *\n"
            f"    smarthost [127.0.0.1]:{hub.port}\n"
            f"    auth user alice password-file {pw}\n" +
            ("    auth plaintext yes\n" if plaintext_ok else "") + "}\n")
    edge = tern_factory(server="relay allow 127.0.0.1/32",
                        global_=FAST_QUEUE + conn, name="edge")
    return hub, edge


@pytest.mark.parametrize("mechs,used", [
    ("plain login cram-md5 scram-sha-256", "SCRAM-SHA-256"),
    ("plain login cram-md5", "CRAM-MD5"),
    ("login plain", "PLAIN"),
    ("login", "LOGIN"),
])
def test_relay_through_authenticating_hub(tern_factory, tmp_path, mechs,
                                          used):
    hub, edge = pair(tern_factory, tmp_path, mechs=mechs)
    submit(edge, "x@remote.test", MSG)
    hub.wait_delivered(1, timeout=15)
    assert f"auth ok mech={used} user=alice" in hub.log()
    text = hub.delivered()[0].read_bytes()
    assert b"with ESMTPA id" in text
    assert PASSWORD not in edge.log() + hub.log()


def test_wrong_password_defers(tern_factory, tmp_path):
    hub, edge = pair(tern_factory, tmp_path, password="not it")
    submit(edge, "x@remote.test", MSG)
    assert wait_for(lambda: "auth failed reason=AUTH SCRAM-SHA-256 refused: "
                    "535 5.7.8" in edge.log(), timeout=15), edge.log()
    assert "status=deferred" in edge.log() or "deferred" in edge.log()
    assert hub.delivered() == []
    assert "not it" not in edge.log() + hub.log()


def test_no_password_without_tls(tern_factory, tmp_path):
    hub, edge = pair(tern_factory, tmp_path, plaintext_ok=False)
    submit(edge, "x@remote.test", MSG)
    assert wait_for(lambda: "AUTH to this host needs TLS" in edge.log(),
                    timeout=15), edge.log()
    assert "smtp in auth" not in hub.log()  # no AUTH command reached it
    assert hub.delivered() == []


def test_hub_without_auth(tern_factory, tmp_path):
    """A smart host that offers no AUTH: the message waits (4.7.0)."""
    hub, edge = pair(tern_factory, tmp_path)
    hub.stop()
    hub.config = "\n".join(ln for ln in hub.config.splitlines()
                           if not ln.strip().startswith("auth "))
    hub.config = hub.config.replace("relay allow authenticated",
                                    "relay allow 127.0.0.1/32")
    hub.config_path.write_text(hub.config)
    hub.start()
    submit(edge, "x@remote.test", MSG)
    assert wait_for(lambda: "offers no AUTH mechanism" in edge.log(),
                    timeout=15), edge.log()
    assert hub.delivered() == []
