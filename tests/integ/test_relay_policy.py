"""
Relay control at RCPT: relaying only for clients in the server's `relay
allow` networks (CIDR, IPv4 and IPv6), to `domain X relay|hold` domains
from anyone, and never through any of the classic open-relay tricks from
an untrusted address (the client socket is bound to 127.0.0.2). Nothing
refused may be queued or reach the smart host behind tern.
"""
import socket
import time

import pytest

from conftest import Reply, dot_stuff, free_ports
from relay_helpers import (BoundClient, client_from, connector, message,
                           peers,  # noqa: F401 (fixture)
                           queue_list, relay_tern,  # noqa: F401 (fixture)
                           submit, wait_for, wait_out)

OUTSIDE = "127.0.0.2"       # not in any relay network of these tests


def sink_tern(relay_tern, peers, server="relay allow 127.0.0.1/32",
              extra=""):
    """tern relaying everything (connector *) to a scripted sink."""
    p = peers()
    t = relay_tern(connector("all", "*", [p.port]), server=server,
                   extra=extra)
    return t, p


def rcpt_reply(t, rcpt, source=OUTSIDE, sender="probe@client.test",
               ehlo="client.test", host=None, port=None):
    """One connection: EHLO, MAIL, RCPT TO:<rcpt> (rcpt may be a whole
    argument when it starts with ':' -- then it is sent after "RCPT TO"
    as is). When the RCPT is accepted the message is sent too, so that a
    wrongly accepted recipient shows up in the queue and at the sink.
    Returns the RCPT reply."""
    c = client_from(t, source, host=host, port=port, ehlo=ehlo)
    with c:
        c.cmd(f"MAIL FROM:<{sender}>", 250)
        line = f"RCPT TO{rcpt}" if rcpt.startswith(":") or \
            rcpt.startswith(" ") else f"RCPT TO:<{rcpt}>"
        try:
            r = c.cmd(line)
        except AssertionError as e:         # closed on us: refused too
            return Reply(554, [f"(no reply: {str(e)[:100]})"])
        if r.code == 250:
            c.cmd("DATA", 354)
            c.send(dot_stuff(message("probe")))
            c.reply(timeout=10)
        try:
            c.cmd("QUIT")
        except (OSError, AssertionError):
            pass
    return r


def assert_nothing_relayed(t, p, settle=1.0):
    time.sleep(settle)
    rows = queue_list(t)
    assert rows == [], f"queued: {rows}"
    assert p.sessions == [], f"the sink was contacted:\n{p.describe()}"
    assert "smtp out" not in t.log(), t.log()


# ---- networks ---------------------------------------------------------------

def test_relay_allowed_from_network(relay_tern, peers):
    t, p = sink_tern(relay_tern, peers)
    qid = submit(t, "user@other.example", message("allowed"))
    p.wait_messages(1)
    wait_out(t, qid, "user@other.example", "sent")


def test_relay_denied_outside_network(relay_tern, peers):
    t, p = sink_tern(relay_tern, peers)
    with client_from(t, OUTSIDE) as c:
        c.cmd("MAIL FROM:<someone@client.test>", 250)
        r = c.cmd("RCPT TO:<user@other.example>")
        assert r.code == 550 and r.enh == "5.7.1", r
        assert r.text == "<user@other.example>: Relay access denied", r
        # the transaction goes on for local recipients
        c.cmd("RCPT TO:<bob@localhost>", 250)
        c.cmd("DATA", 354)
        c.send(dot_stuff(message("local")))
        c.expect(250)
        c.cmd("QUIT", 221)
    t.wait_delivered(1)
    time.sleep(0.5)
    assert queue_list(t) == []
    assert p.sessions == []
    assert "smtp out" not in t.log()


def test_no_relay_by_default(relay_tern, peers):
    """Without `relay allow` nobody may relay, not even 127.0.0.1."""
    t, p = sink_tern(relay_tern, peers, server="")
    for source in ("127.0.0.1", OUTSIDE):
        r = rcpt_reply(t, "user@other.example", source=source)
        assert (r.code, r.enh) == (550, "5.7.1"), (source, r)
    assert_nothing_relayed(t, p)


@pytest.mark.parametrize("nets,allowed,denied", [
    ("127.0.0.0/31", ["127.0.0.1"], ["127.0.0.2", "127.0.0.3"]),
    ("127.0.0.2/32", ["127.0.0.2"], ["127.0.0.1", "127.0.0.3"]),
    ("127.0.0.2", ["127.0.0.2"], ["127.0.0.1"]),
    ("10.0.0.0/8 127.0.0.3/32", ["127.0.0.3"], ["127.0.0.1", "127.0.0.2"]),
    ("127.0.0.0/30", ["127.0.0.1", "127.0.0.2", "127.0.0.3"],
     ["127.0.0.4"]),
    ("0.0.0.0/0", ["127.0.0.1", "127.0.0.2"], []),
    ("::1/128", [], ["127.0.0.1"]),
    ("::/0", [], ["127.0.0.1", "127.0.0.2"]),
], ids=["slash31", "host32", "bare-address", "two-nets", "slash30",
        "everyone", "v6-only", "v6-all"])
def test_relay_networks_cidr(relay_tern, peers, nets, allowed, denied):
    t, p = sink_tern(relay_tern, peers, server=f"relay allow {nets}")
    for source in denied:
        r = rcpt_reply(t, "user@other.example", source=source)
        assert (r.code, r.enh) == (550, "5.7.1"), (source, r)
    for source in allowed:
        r = rcpt_reply(t, f"from-{source}@other.example", source=source)
        assert r.code == 250, (source, r)
    if allowed:
        p.wait_messages(len(allowed))
    else:
        assert_nothing_relayed(t, p)


def _v6_loopback_ok():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _v6_loopback_ok(), reason="no IPv6 loopback")
@pytest.mark.parametrize("nets,v6_allowed,v4_allowed", [
    ("::1/128", True, False),
    ("::1", True, False),
    ("::/127", True, False),
    ("fe80::/10 2001:db8::/32", False, False),
    ("127.0.0.1/32", False, True),
    ("127.0.0.1/32 ::1/128", True, True),
], ids=["v6-host", "v6-bare", "v6-slash127", "v6-others", "v4-only",
        "both"])
def test_relay_networks_ipv6(relay_tern, peers, nets, v6_allowed,
                             v4_allowed):
    """A listener on [::1] too: IPv6 clients match IPv6 networks only."""
    port6 = free_ports(1)[0]
    t, p = sink_tern(relay_tern, peers,
                     server=f"relay allow {nets}\nlisten [::1]:{port6}")

    def v6_up():
        try:
            socket.create_connection(("::1", port6), 0.5).close()
            return True
        except OSError:
            return False
    assert wait_for(v6_up, 5), "tern does not listen on [::1]"
    r6 = rcpt_reply(t, "six@other.example", source="::1", host="::1",
                    port=port6)
    r4 = rcpt_reply(t, "four@other.example", source="127.0.0.1")
    assert (r6.code == 250) == v6_allowed, r6
    assert (r4.code == 250) == v4_allowed, r4
    for r in (r6, r4):
        if r.code != 250:
            assert (r.code, r.enh) == (550, "5.7.1"), r
    n = v6_allowed + v4_allowed
    if n:
        p.wait_messages(n)


# ---- relay and hold domains -------------------------------------------------

def test_relay_domain_from_anyone(relay_tern, peers):
    t, p = sink_tern(relay_tern, peers,
                     extra="domain relay.example relay")
    r = rcpt_reply(t, "user@relay.example")
    assert r.code == 250, r
    r = rcpt_reply(t, "Other.User@RELAY.EXAMPLE")
    assert r.code == 250, r
    msgs = p.wait_messages(2)
    assert sorted(r for m in msgs for r in m.rcpts) == \
        ["Other.User@RELAY.EXAMPLE", "user@relay.example"]


@pytest.mark.parametrize("rcpt", [
    "user@sub.relay.example",           # below it: not the domain
    "user@xrelay.example",              # a suffix that is no label
    "user@relay.example.evil",          # it as a prefix
    "user%other.example@relay.example.evil",
    "user@[127.0.0.1]",
])
def test_relay_domain_is_exact(relay_tern, peers, rcpt):
    t, p = sink_tern(relay_tern, peers,
                     extra="domain relay.example relay")
    r = rcpt_reply(t, rcpt)
    assert 500 <= r.code <= 599, r
    assert_nothing_relayed(t, p, settle=0.3)


def test_hold_domain_accepted_and_held(relay_tern, peers):
    """`domain X hold`: accepted from anyone, kept in the queue (for ETRN,
    a later issue), not sent anywhere."""
    t, p = sink_tern(relay_tern, peers, extra="domain held.example hold")
    r = rcpt_reply(t, "user@held.example")
    assert r.code == 250, r
    assert wait_for(lambda: queue_list(t), 5), "the held message is not " \
        "queued"
    time.sleep(2.5)
    assert p.sessions == [], f"held mail was sent:\n{p.describe()}"
    rows = queue_list(t)
    assert len(rows) == 1 and rows[0]["done"] == 0, rows


# ---- open-relay probes from an untrusted address ----------------------------

# RCPT arguments; those starting with ':' or ' ' are sent verbatim after
# "RCPT TO" (the whitespace and bracket games).
PROBES = [
    "user@other.example",
    "USER@OTHER.EXAMPLE",
    "user@Other.Example",
    "postmaster@other.example",
    "abuse@other.example",
    # percent hack
    "user%other.example@localhost",
    "user%other.example@LOCALHOST",
    "user%other.example%localhost@localhost",
    "user%other.example@[127.0.0.1]",
    "user%other.example",
    # bang paths
    "other.example!user@localhost",
    "other.example!user",
    "localhost!other.example!user@localhost",
    "other.example!user@[127.0.0.1]",
    "other.example!user%localhost@localhost",
    # source routes
    "@localhost:user@other.example",
    "@a.example,@b.example:user@other.example",
    "@[127.0.0.1]:user@other.example",
    "@localhost,@localhost:user@other.example",
    "@other.example:user@localhost.example",
    # quoted local parts
    '"user@other.example"@localhost',
    '"user%other.example"@localhost',
    '"other.example!user"@localhost',
    '"user@other.example"',
    '"user@other.example"@[127.0.0.1]',
    '"user"@other.example',
    '"@localhost:user@other.example"@localhost',
    # address literals
    "user@[127.0.0.1]",
    "user@[127.0.0.2]",
    "user@[IPv6:::1]",
    "user@[IPv6:0:0:0:0:0:0:0:1]",
    "user@[IPv6:::ffff:127.0.0.1]",
    "user@[10.0.0.1]",
    "postmaster@[127.0.0.1]",
    "user@[localhost]",
    "user@[other.example]",
    # trailing dots, odd domains
    "user@other.example.",
    "user@localhost.",
    "user@other.example..",
    "user@.other.example",
    "user@other..example",
    "user@127.0.0.1",
    "user@localhost.other.example",
    # two @
    "user@other.example@localhost",
    "user@localhost@other.example",
    "user@@other.example",
    # empty local parts and empty paths
    "@other.example",
    '""@other.example',
    "",
    "@",
    # whitespace and bracket games (sent verbatim after "RCPT TO")
    ": <user@other.example>",
    ":  <user@other.example>",
    ":\t<user@other.example>",
    ":user@other.example",
    ":<user@other.example",
    ":user@other.example>",
    ":<<user@other.example>>",
    ":< user@other.example>",
    ":<user@other.example >",
    ":<user @other.example>",
    ":<user@ other.example>",
    ":<user@other.example> ",
    ":<user@other.example>x",
    ":<user@other.example> <bob@localhost>",
    ":<user@other.example>,<bob@localhost>",
    ":<bob@localhost>,<user@other.example>",
    ":<user@other.example,bob@localhost>",
    ":<bob@localhost user@other.example>",
    ":<user@other.example\x00@localhost>",
    " :<user@other.example>",
    ":<user@other.example> NOTIFY=NEVER",
    ":<user\\@other.example@localhost>",
    ":<user@other.example\\>@localhost>",
    # non-ASCII without SMTPUTF8, and look-alike signs
    "user@othér.example",
    "user\uff20other.example@localhost",
    "user@other\u3002example",
]


def test_open_relay_probes(relay_tern, peers):
    """Every classic open-relay probe from 127.0.0.2 gets a 5xx at RCPT
    (or at MAIL/syntax), with a local domain `localhost`, relaying allowed
    for 127.0.0.1 and 10.0.0.0/8 only, and a connector that would carry
    anything relayed to a sink."""
    t, p = sink_tern(relay_tern, peers,
                     server="relay allow 127.0.0.1/32 10.0.0.0/8")
    bad = []
    for probe in PROBES:
        r = rcpt_reply(t, probe)
        if not 500 <= r.code <= 599:
            shown = "RCPT TO" + probe if probe[:1] in (":", " ") else \
                f"RCPT TO:<{probe}>"
            bad.append(f"{shown!r} -> {r}")
    assert not bad, "probes not refused:\n" + "\n".join(bad)
    assert_nothing_relayed(t, p)


@pytest.mark.parametrize("sender,ehlo", [
    ("postmaster@localhost", "localhost"),
    ("bob@localhost", "mx.test.example"),
    ("", "[127.0.0.1]"),
    ("user@other.example", "other.example"),
    ("alice@LOCALHOST", "127.0.0.1"),
])
def test_local_sender_or_helo_gives_no_relay(relay_tern, peers, sender,
                                             ehlo):
    """A local sender address or a HELO name of ours is no permission."""
    t, p = sink_tern(relay_tern, peers)
    r = rcpt_reply(t, "user@other.example", sender=sender, ehlo=ehlo)
    assert (r.code, r.enh) == (550, "5.7.1"), r
    assert_nothing_relayed(t, p, settle=0.3)


def test_probes_in_one_session_then_local(relay_tern, peers):
    """Refused relay attempts in a transaction do not spoil it: a local
    recipient after them gets its copy, and only that."""
    t, p = sink_tern(relay_tern, peers)
    with client_from(t, OUTSIDE) as c:
        c.cmd("MAIL FROM:<probe@client.test>", 250)
        for k in range(5):
            r = c.cmd(f"RCPT TO:<user{k}@other.example>")
            assert (r.code, r.enh) == (550, "5.7.1"), r
        c.cmd("RCPT TO:<alice@localhost>", 250)
        c.cmd("DATA", 354)
        c.send(dot_stuff(message("after-probes")))
        c.expect(250)
        c.cmd("QUIT", 221)
    files = t.wait_delivered(1)
    assert [f.parent.parent.name for f in files] == ["alice"]
    time.sleep(0.5)
    assert queue_list(t) == []
    assert p.sessions == []


def test_bound_client_really_comes_from_outside(relay_tern, peers):
    """The test's own premise: tern sees 127.0.0.2 as the client."""
    t, p = sink_tern(relay_tern, peers)
    with BoundClient(t.host, t.port, OUTSIDE) as c:
        c.expect(220)
        c.cmd("EHLO premise.test", 250)
        c.cmd("QUIT", 221)
    assert wait_for(lambda: f"client={OUTSIDE}" in t.log(), 3), t.log()


@pytest.mark.parametrize("rcpt", ["user@[192.0.2.1]", "user@[127.0.0.1]",
                                  "user@[IPv6:2001:db8::1]"])
def test_address_literals_never_relayed(relay_tern, peers, rcpt):
    """Not even for a client in the relay networks."""
    t, p = sink_tern(relay_tern, peers)
    r = rcpt_reply(t, rcpt, source="127.0.0.1")
    assert (r.code, r.enh) == (550, "5.7.1"), r
    assert_nothing_relayed(t, p, settle=0.3)


def test_bare_postmaster_is_local_from_anyone(relay_tern, peers):
    """RFC 5321 4.5.1: <Postmaster> without a domain is ours, and stays
    local."""
    t, p = sink_tern(relay_tern, peers)
    r = rcpt_reply(t, "Postmaster")
    assert r.code == 250, r
    files = t.wait_delivered(1)
    assert [f.parent.parent.name for f in files] == ["postmaster"]
    assert_nothing_relayed(t, p, settle=0.3)
