"""
Relaying by DNS MX through tern's own resolver, against dnsmasq on
127.0.0.1 and a high port (`resolver 127.0.0.1:PORT`, `connector mx {
address-space *; route mx; port PORT }`). The MX hosts of the test
domains resolve to 127.0.0.2, 127.0.0.3 (scripted peers listening there on
PORT) and 127.0.0.4 (nothing listens). RFC 5321 5.1: preference order,
equal preferences shared, implicit MX, null MX (RFC 7505) fails 5.1.10 at
once, NXDOMAIN fails, a temporary DNS failure defers.

These run once the resolver exists (`tern resolve` in the usage), or
with TERN_FORCE_MX=1; the dnsmasq fixture itself is checked always.
"""
import os
import time

import pytest

from relay_helpers import (Dnsmasq, Peer, closed_port, connector, dns_query,
                           has_resolver, message, queue_block,
                           relay_tern,  # noqa: F401 (fixture)
                           statuses, submit, wait_for, wait_gone, wait_out,
                           wait_state)

ZONE = "mx.test"


def records():
    return [
        # preference order
        f"--mx-host=pref.{ZONE},mx1.{ZONE},10",
        f"--mx-host=pref.{ZONE},mx2.{ZONE},20",
        # the best MX refuses connections
        f"--mx-host=down.{ZONE},mxdown.{ZONE},5",
        f"--mx-host=down.{ZONE},mx2.{ZONE},50",
        # equal preference
        f"--mx-host=equal.{ZONE},mx1.{ZONE},10",
        f"--mx-host=equal.{ZONE},mx2.{ZONE},10",
        # an MX host with two addresses, the first one dead
        f"--mx-host=multi.{ZONE},both.{ZONE},10",
        # null MX: preference 0, exchange "." (RFC 7505)
        f"--dns-rr=null.{ZONE},15,000000",
        # no MX, an A record: implicit MX
        f"--host-record=implicit.{ZONE},127.0.0.2",
        # hosts
        f"--host-record=mx1.{ZONE},127.0.0.2",
        f"--host-record=mx2.{ZONE},127.0.0.3",
        f"--host-record=mxdown.{ZONE},127.0.0.4",
        f"--host-record=both.{ZONE},127.0.0.4",
        f"--host-record=both.{ZONE},127.0.0.3",
        f"--host-record=smart.{ZONE},127.0.0.3",
        # temporary failure: the zone's server does not answer
        f"--server=/tempfail.{ZONE}/127.0.0.1#{closed_port()}",
    ]


@pytest.fixture
def dns(tmp_path):
    d = Dnsmasq(tmp_path, records(), local=[ZONE])
    yield d
    d.stop()


@pytest.fixture
def mx_peers():
    """Scripted peers on 127.0.0.2 and 127.0.0.3, same port."""
    made = []

    def make(script2=None, script3=None):
        p2 = Peer(host="127.0.0.2", script=script2, name="mx1.peer.test")
        p3 = Peer(host="127.0.0.3", port=p2.port, script=script3,
                  name="mx2.peer.test")
        made.extend([p2, p3])
        return p2, p3
    yield make
    for p in made:
        p.stop()
    errors = [e for p in made for e in p.errors]
    if errors:
        pytest.fail("peer errors: " + "; ".join(errors), pytrace=False)


def test_dnsmasq_fixture_answers(dns):
    """The DNS side of these tests works (independent of tern)."""
    rc, mx = dns_query(dns.port, f"pref.{ZONE}", "MX")
    assert rc == 0 and sorted(mx) == [(10, f"mx1.{ZONE}"),
                                      (20, f"mx2.{ZONE}")], (rc, mx)
    assert dns_query(dns.port, f"mx1.{ZONE}", "A") == (0, ["127.0.0.2"])
    rc, mx = dns_query(dns.port, f"null.{ZONE}", "MX")
    assert (rc, mx) == (0, [(0, "")]), (rc, mx)
    rc, mx = dns_query(dns.port, f"implicit.{ZONE}", "MX")
    assert (rc, mx) == (0, []), (rc, mx)
    assert dns_query(dns.port, f"implicit.{ZONE}", "A") == (0, ["127.0.0.2"])
    assert dns_query(dns.port, f"nx.{ZONE}", "MX")[0] == 3     # NXDOMAIN
    assert sorted(dns_query(dns.port, f"both.{ZONE}", "A")[1]) == \
        ["127.0.0.3", "127.0.0.4"]


needs_resolver = pytest.mark.skipif(
    not (has_resolver() or os.environ.get("TERN_FORCE_MX")),
    reason="tern has no DNS resolver yet (`tern resolve` is not in its "
    "usage)")


def mx_tern(relay_tern, dns, port, queue=None, extra_conn=()):
    return relay_tern(*extra_conn, connector("mx", "*", route_mx=True,
                                             port=port),
                      queue=queue or queue_block(retry="1h"),
                      extra=f"resolver 127.0.0.1:{dns.port}")


@needs_resolver
def test_mx_preference(relay_tern, dns, mx_peers):
    p2, p3 = mx_peers()
    t = mx_tern(relay_tern, dns, p2.port)
    qid = submit(t, f"user@pref.{ZONE}", message("pref"))
    p2.wait_messages(1)
    wait_out(t, qid, f"user@pref.{ZONE}", "sent")
    assert p3.sessions == []


@needs_resolver
def test_mx_next_when_best_refuses(relay_tern, dns, mx_peers):
    p2, p3 = mx_peers()
    t = mx_tern(relay_tern, dns, p2.port)
    qid = submit(t, f"user@down.{ZONE}", message("down"))
    p3.wait_messages(1)
    wait_out(t, qid, f"user@down.{ZONE}", "sent")


@needs_resolver
def test_mx_next_when_best_greets_4xx(relay_tern, dns, mx_peers):
    p2, p3 = mx_peers(script2={"greeting": "421 4.3.2 busy"})
    t = mx_tern(relay_tern, dns, p2.port)
    qid = submit(t, f"user@pref.{ZONE}", message("busy"))
    p3.wait_messages(1)
    wait_out(t, qid, f"user@pref.{ZONE}", "sent")
    assert len(p2.sessions) == 1 and p2.all_messages() == []


@needs_resolver
def test_mx_second_address_of_a_host(relay_tern, dns, mx_peers):
    p2, p3 = mx_peers()
    t = mx_tern(relay_tern, dns, p2.port)
    qid = submit(t, f"user@multi.{ZONE}", message("multi"))
    p3.wait_messages(1)
    wait_out(t, qid, f"user@multi.{ZONE}", "sent")


@needs_resolver
def test_mx_equal_preference_shared(relay_tern, dns, mx_peers):
    p2, p3 = mx_peers()
    # one message per connection, so that each makes its own MX choice
    # (kept connections would carry them all to the first host chosen)
    t = relay_tern(connector("mx", "*", route_mx=True, port=p2.port,
                             extra=["max-messages 1"]),
                   queue=queue_block(retry="1h"),
                   extra=f"resolver 127.0.0.1:{dns.port}")
    n = 16
    for k in range(n):
        submit(t, f"u{k}@equal.{ZONE}", message(f"eq{k}"))
    wait_for(lambda: len(p2.all_messages()) + len(p3.all_messages()) >= n
             or not t.alive(), 20)
    n2, n3 = len(p2.all_messages()), len(p3.all_messages())
    assert n2 + n3 == n
    assert n2 > 0 and n3 > 0, (n2, n3)     # 2 * 2**-16 by chance


@needs_resolver
def test_implicit_mx(relay_tern, dns, mx_peers):
    p2, p3 = mx_peers()
    t = mx_tern(relay_tern, dns, p2.port)
    qid = submit(t, f"user@implicit.{ZONE}", message("implicit"))
    p2.wait_messages(1)
    wait_out(t, qid, f"user@implicit.{ZONE}", "sent")


@needs_resolver
def test_null_mx_fails_at_once(relay_tern, dns, mx_peers):
    p2, p3 = mx_peers()
    t = mx_tern(relay_tern, dns, p2.port,
                queue=queue_block(retry="1s"))
    qid = submit(t, f"user@null.{ZONE}", message("null"))
    e = wait_out(t, qid, f"user@null.{ZONE}", "failed")
    assert "5.1.10" in e[3], e
    wait_gone(t, qid)
    assert statuses(t, qid) == ["failed"]
    assert p2.sessions == [] and p3.sessions == []


@needs_resolver
def test_nxdomain_fails(relay_tern, dns, mx_peers):
    p2, p3 = mx_peers()
    t = mx_tern(relay_tern, dns, p2.port, queue=queue_block(retry="1s"))
    qid = submit(t, f"user@nx.{ZONE}", message("nx"))
    e = wait_out(t, qid, f"user@nx.{ZONE}", "failed")
    assert e[3].startswith("550") or "5.1.2" in e[3], e
    wait_gone(t, qid)
    assert statuses(t, qid) == ["failed"]


@needs_resolver
def test_dns_temporary_failure_defers(relay_tern, dns, mx_peers):
    p2, p3 = mx_peers()
    t = mx_tern(relay_tern, dns, p2.port)
    rcpt = f"user@tempfail.{ZONE}"
    qid = submit(t, rcpt, message("temp"))
    wait_out(t, qid, rcpt, "deferred", timeout=30)
    wait_state(t, qid, {rcpt: "deferred"})
    assert t.alive()


@needs_resolver
def test_named_smarthost_resolved(relay_tern, dns, mx_peers):
    p2, p3 = mx_peers()
    t = relay_tern(connector("named", "*", [f"smart.{ZONE}:{p2.port}"]),
                   extra=f"resolver 127.0.0.1:{dns.port}")
    qid = submit(t, "user@anything.example", message("named"))
    p3.wait_messages(1)
    wait_out(t, qid, "user@anything.example", "sent")


@needs_resolver
def test_connector_beats_mx(relay_tern, dns, mx_peers):
    """A smart-host connector for one domain; the rest by MX."""
    p2, p3 = mx_peers()
    t = mx_tern(relay_tern, dns, p2.port, extra_conn=[
        connector("direct", f"pref.{ZONE}", [f"[127.0.0.3]:{p2.port}"],
                  cost=0)])
    qid = submit(t, [f"a@pref.{ZONE}", f"b@implicit.{ZONE}"],
                 message("both"))
    p3.wait_messages(1)
    p2.wait_messages(1)
    assert [m.rcpts for m in p3.all_messages()] == [[f"a@pref.{ZONE}"]]
    assert [m.rcpts for m in p2.all_messages()] == [[f"b@implicit.{ZONE}"]]
    wait_gone(t, qid)


@needs_resolver
def test_connector_total_connection_limit(relay_tern, dns, mx_peers):
    """`max-connections 1 per-destination 4` on an MX connector: two
    domains (two destinations) that lead to the same host still share the
    connector's one connection, never two at once."""
    p2, p3 = mx_peers(script2={"greeting": lambda sess, arg: (
        time.sleep(0.3), "220 slow.peer.test ESMTP")[1]})
    t = relay_tern(connector("mx", "*", route_mx=True, port=p2.port,
                             extra=["max-connections 1 per-destination 4"]),
                   queue=queue_block(retry="1h"),
                   extra=f"resolver 127.0.0.1:{dns.port}")
    q1 = submit(t, f"a@pref.{ZONE}", message("total1"))
    q2 = submit(t, f"b@implicit.{ZONE}", message("total2"))
    wait_for(lambda: len(p2.all_messages()) >= 2 or not t.alive(), 15)
    assert len(p2.all_messages()) == 2, p2.describe()
    assert p2.max_active == 1, f"{p2.max_active} sessions at once"
    wait_out(t, q1, f"a@pref.{ZONE}", "sent")
    wait_out(t, q2, f"b@implicit.{ZONE}", "sent")
