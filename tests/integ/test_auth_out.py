"""
Outbound AUTH to a smart host, per connector: tern relays through another
tern that requires AUTH for relaying (its user database written with
ternctl). The client picks the strongest mechanism both offer (SCRAM-SHA-
256 > CRAM-MD5 > PLAIN > LOGIN); without TLS it sends nothing unless the
connector says `auth plaintext yes`; a refusal defers the message with
the smart host's reply as the reason.

These tests use the connector's plaintext permission; `plaintext_ok=False`
is the case that must not send a password. AUTH over STARTTLS, the
default, is in test_auth_tls.py.
"""
import pytest

from auth_helpers import PASSWORD, smarthost_pair
from relay_helpers import submit, wait_for

MSG = b"Subject: out\r\n\r\nthrough the smart host\r\n"


@pytest.mark.parametrize("mechs,used", [
    ("plain login cram-md5 scram-sha-256", "SCRAM-SHA-256"),
    ("plain login cram-md5", "CRAM-MD5"),
    ("login plain", "PLAIN"),
    ("login", "LOGIN"),
])
def test_relay_through_authenticating_hub(tern_factory, tmp_path, mechs,
                                          used):
    hub, edge = smarthost_pair(tern_factory, tmp_path, mechs=mechs)
    submit(edge, "x@remote.test", MSG)
    hub.wait_delivered(1, timeout=15)
    assert f"auth ok mech={used} user=alice" in hub.log()
    text = hub.delivered()[0].read_bytes()
    assert b"with ESMTPA id" in text
    assert PASSWORD not in edge.log() + hub.log()


def test_wrong_password_defers(tern_factory, tmp_path):
    hub, edge = smarthost_pair(tern_factory, tmp_path, password="not it")
    submit(edge, "x@remote.test", MSG)
    assert wait_for(lambda: "auth failed reason=AUTH SCRAM-SHA-256 refused: "
                    "535 5.7.8" in edge.log(), timeout=15), edge.log()
    assert "status=deferred" in edge.log() or "deferred" in edge.log()
    assert hub.delivered() == []
    assert "not it" not in edge.log() + hub.log()


def test_no_password_without_tls(tern_factory, tmp_path):
    hub, edge = smarthost_pair(tern_factory, tmp_path, plaintext_ok=False)
    submit(edge, "x@remote.test", MSG)
    assert wait_for(lambda: "AUTH to this host needs TLS" in edge.log(),
                    timeout=15), edge.log()
    assert "smtp in auth" not in hub.log()  # no AUTH command reached it
    assert hub.delivered() == []


def test_hub_without_auth(tern_factory, tmp_path):
    """A smart host that offers no AUTH: the message waits (4.7.0)."""
    hub, edge = smarthost_pair(tern_factory, tmp_path)
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
