"""
Connectors: which one carries a recipient domain (address-space patterns,
cost, equal costs sharing the load), schedules (outside its windows a
connector's mail waits, deferred, and is not sent), the connector's
maximum message size, and the configuration checks of these settings.
"""
import subprocess
import time

import pytest

from conftest import TERN_BIN, build_config
from relay_helpers import (connector, message, peers,  # noqa: F401
                           queue_block, relay_tern,  # noqa: F401
                           statuses, submit, wait_for, wait_gone, wait_out,
                           wait_state)

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def rcpts_of(p):
    return sorted(r for m in p.all_messages() for r in m.rcpts)


def settle(*ps, t=0.5):
    time.sleep(t)
    return [rcpts_of(p) for p in ps]


# ---- cost and address spaces ------------------------------------------------

def test_cheaper_connector_wins(relay_tern, peers):
    cheap, dear = peers(), peers()
    t = relay_tern(connector("dear", "other.example", [dear.port], cost=10),
                   connector("cheap", "other.example", [cheap.port], cost=5))
    qids = [submit(t, f"u{k}@other.example", message(f"cost{k}"))
            for k in range(4)]
    cheap.wait_messages(4)
    for k, q in enumerate(qids):
        wait_out(t, q, f"u{k}@other.example", "sent")
    assert dear.sessions == []


def test_cost_beats_specificity(relay_tern, peers):
    """The cheapest matching connector wins, not the most specific one."""
    wild, exact = peers(), peers()
    t = relay_tern(connector("exact", "other.example", [exact.port],
                             cost=20),
                   connector("wild", "*", [wild.port], cost=3))
    submit(t, "a@other.example", message("spec"))
    wild.wait_messages(1)
    assert settle(exact) == [[]]


def test_default_cost_and_patterns(relay_tern, peers):
    """`*.example.com` is below it only; `example.com` exactly it;
    the rest goes to `*` (dearer)."""
    sub, exact, rest = peers(), peers(), peers()
    t = relay_tern(
        connector("sub", "*.example.com", [sub.port], cost=5),
        connector("exact", "example.com", [exact.port], cost=5),
        connector("rest", "*", [rest.port], cost=50))
    to_sub = ["a@sub.example.com", "b@deep.sub.example.com",
              "c@SUB.Example.COM"]
    to_exact = ["d@example.com", "e@EXAMPLE.COM"]
    to_rest = ["f@badexample.com", "g@example.com.evil", "h@example.co",
               "i@other.example", "j@xexample.com"]
    for r in to_sub + to_exact + to_rest:
        submit(t, r, message("pat"))
    n = len(to_sub + to_exact + to_rest)
    wait_for(lambda: sum(len(p.all_messages()) for p in (sub, exact, rest))
             >= n, 10)
    got = settle(sub, exact, rest, t=0.3)
    assert got == [sorted(to_sub), sorted(to_exact), sorted(to_rest)], got


def test_several_spaces_per_connector(relay_tern, peers):
    a, b = peers(), peers()
    t = relay_tern(connector("a", "one.example *.two.example", [a.port],
                             cost=1),
                   connector("b", "*", [b.port], cost=2))
    for r in ("x@one.example", "y@b.two.example", "z@two.example"):
        submit(t, r, message("spaces"))
    wait_for(lambda: len(a.all_messages()) + len(b.all_messages()) >= 3,
             10)
    assert settle(a, b) == [["x@one.example", "y@b.two.example"],
                            ["z@two.example"]]


def test_one_message_split_by_domain(relay_tern, peers):
    """Recipients of one message in two domains go by two connectors;
    each gets only its own recipients."""
    a, b = peers(), peers()
    t = relay_tern(connector("a", "a.example", [a.port]),
                   connector("b", "b.example", [b.port]))
    rcpts = ["1@a.example", "2@b.example", "3@a.example", "4@b.example"]
    msg = message("split")
    qid = submit(t, rcpts, msg)
    a.wait_messages(1)
    b.wait_messages(1)
    assert [m.rcpts for m in a.all_messages()] == [["1@a.example",
                                                    "3@a.example"]]
    assert [m.rcpts for m in b.all_messages()] == [["2@b.example",
                                                    "4@b.example"]]
    for r in rcpts:
        wait_out(t, qid, r, "sent")
    wait_gone(t, qid)


def test_equal_cost_shares_load(relay_tern, peers):
    left, right = peers(), peers()
    t = relay_tern(connector("left", "*", [left.port], cost=7),
                   connector("right", "*", [right.port], cost=7),
                   connector("dear", "*", [right.port], cost=8))
    n = 20
    for k in range(n):
        submit(t, f"u{k}@share.example", message(f"share{k}"))
    wait_for(lambda: len(left.all_messages()) + len(right.all_messages())
             >= n or not t.alive(), 15)
    assert t.alive(), "tern died"
    nl, nr = len(left.all_messages()), len(right.all_messages())
    assert nl + nr == n
    # all 20 on one side by chance: 2 * 2**-20
    assert nl > 0 and nr > 0, (nl, nr)


# ---- schedules --------------------------------------------------------------

def hhmm(minute):
    minute %= 1440
    return f"{minute // 60:02d}:{minute % 60:02d}"


def window_around_now(open_now):
    """A daily window that contains the current local minute (open) or
    is two hours away from it (closed), by tern's clock: local time."""
    lt = time.localtime()
    now = lt.tm_hour * 60 + lt.tm_min
    if open_now:
        a, b = now - 60, now + 60
    else:
        a, b = now + 120, now + 180
    end = hhmm(b)
    return f"daily {hhmm(a)}-{'24:00' if end == '00:00' else end}"


def days_from_now(k):
    return DAYS[(time.localtime().tm_wday + k) % 7]


@pytest.mark.parametrize("schedule", [
    lambda: window_around_now(False),
    lambda: f"{days_from_now(3)}",
    lambda: f"{days_from_now(2)}-{days_from_now(4)} 00:00-24:00",
    lambda: f"{days_from_now(3)} 18:00-08:00",
], ids=["hours-later", "another-day", "day-range", "night-window"])
def test_schedule_closed_waits(relay_tern, peers, schedule):
    p = peers()
    t = relay_tern(connector("night", "*", [p.port], schedule=schedule()),
                   queue=queue_block(retry="1s"))
    qid = submit(t, "late@other.example", message("sched"))
    e = wait_out(t, qid, "late@other.example", "deferred")
    assert "waiting for the connector's schedule" in e[3], e
    info = wait_state(t, qid, {"late@other.example": "deferred"})
    assert "schedule" in info["last-reply"], info["text"]
    time.sleep(1.5)             # retries happen, but stay closed
    assert p.sessions == [], p.describe()
    assert set(statuses(t, qid)) == {"deferred"}


@pytest.mark.parametrize("schedule", [
    lambda: window_around_now(True),
    lambda: "daily",
    lambda: f"{days_from_now(0)}",
    lambda: f"{days_from_now(3)}, {days_from_now(0)} 00:00-24:00",
    lambda: f"{days_from_now(-1)}-{days_from_now(1)}",
], ids=["hours-now", "daily", "today", "second-window", "day-range"])
def test_schedule_open_sends(relay_tern, peers, schedule):
    p = peers()
    t = relay_tern(connector("day", "*", [p.port], schedule=schedule()))
    qid = submit(t, "now@other.example", message("open"))
    p.wait_messages(1)
    wait_out(t, qid, "now@other.example", "sent")


def test_closed_cheap_connector_falls_back_to_open_dear(relay_tern, peers):
    cheap, dear = peers(), peers()
    t = relay_tern(connector("cheap", "*", [cheap.port], cost=1,
                             schedule=window_around_now(False)),
                   connector("dear", "*", [dear.port], cost=9))
    qid = submit(t, "x@other.example", message("fallback"))
    dear.wait_messages(1)
    wait_out(t, qid, "x@other.example", "sent")
    assert cheap.sessions == []


def test_schedule_only_affects_its_domains(relay_tern, peers):
    """One message, two domains: the one whose only connector is closed
    waits; the other goes now."""
    closed, open_ = peers(), peers()
    t = relay_tern(connector("closed", "late.example", [closed.port],
                             schedule=f"{days_from_now(3)}"),
                   connector("open", "now.example", [open_.port]),
                   queue=queue_block(retry="1s"))
    qid = submit(t, ["a@late.example", "b@now.example"], message("two"))
    open_.wait_messages(1)
    wait_out(t, qid, "a@late.example", "deferred")
    wait_state(t, qid, {"a@late.example": "deferred",
                        "b@now.example": "delivered"})
    time.sleep(1.2)
    assert closed.sessions == []
    assert rcpts_of(open_) == ["b@now.example"]


def test_closed_connector_is_skipped_for_an_open_dearer_one(relay_tern,
                                                            peers):
    """The cheapest *open* matching connector: a closed exact one does not
    make its domain wait while `*` is open."""
    closed, anyway = peers(), peers()
    t = relay_tern(connector("closed", "late.example", [closed.port],
                             cost=1, schedule=f"{days_from_now(3)}"),
                   connector("any", "*", [anyway.port], cost=100))
    qid = submit(t, "a@late.example", message("skip"))
    anyway.wait_messages(1)
    wait_out(t, qid, "a@late.example", "sent")
    assert closed.sessions == []


# ---- connector limits -------------------------------------------------------

@pytest.mark.parametrize("declared", [True, False],
                         ids=["client-declared", "undeclared"])
def test_connector_max_message_size(relay_tern, peers, declared):
    p = peers()
    t = relay_tern(connector("small", "*", [p.port],
                             extra=["max-message-size 2K"]))
    big = message("big", (b"z" * 70 + b"\r\n") * 60)      # > 4 KiB
    small = message("small")
    qb = submit(t, "big@other.example", big,
                params=f"SIZE={len(big)}" if declared else "")
    qs = submit(t, "small@other.example", small,
                params=f"SIZE={len(small)}" if declared else "")
    e = wait_out(t, qb, "big@other.example", "failed")
    assert "5.3.4" in e[3], e
    wait_out(t, qs, "small@other.example", "sent")
    wait_gone(t, qb)
    assert rcpts_of(p) == ["small@other.example"], p.describe()


# ---- configuration checks ---------------------------------------------------

BAD_CONFIGS = [
    ("relay allow 300.1.1.1", "", "relay allow"),
    ("relay allow 10.0.0.0/33", "", "relay allow"),
    ("relay allow ::1/129", "", "relay allow"),
    ("relay allow", "", "relay"),
    ("relay deny 10.0.0.0/8", "", "relay"),
    ("", "connector c {\n smarthost [127.0.0.1]:25\n}", "address-space"),
    ("", "connector c {\n address-space *\n}", "route mx or smarthost"),
    ("", "connector c {\n address-space *\n route mx\n"
         " smarthost [127.0.0.1]:25\n}", "route mx or smarthost"),
    ("", "connector c {\n address-space *.\n smarthost [127.0.0.1]:25\n}",
     "address-space"),
    ("", "connector c {\n address-space * cost -1\n"
         " smarthost [127.0.0.1]:25\n}", "cost"),
    ("", "connector c {\n address-space *\n smarthost [127.0.0.1]:0\n}",
     "smarthost"),
    ("", "connector c {\n address-space *\n smarthost [300.0.0.1]:25\n}",
     "smarthost"),
    ("", "connector c {\n address-space *\n smarthost [127.0.0.1\n}",
     "smarthost"),
    ("", "connector c {\n address-space *\n smarthost [127.0.0.1]:25\n"
         " schedule funday\n}", "schedule"),
    ("", "connector c {\n address-space *\n smarthost [127.0.0.1]:25\n"
         " schedule mon 25:00-26:00\n}", "schedule"),
    ("", "connector c {\n address-space *\n smarthost [127.0.0.1]:25\n"
         " schedule mon 10:00-10:00\n}", "schedule"),
    ("", "connector c {\n address-space *\n smarthost [127.0.0.1]:25\n"
         " max-message-size lots\n}", "max-message-size"),
    ("", "connector c {\n address-space *\n route mx\n port 70000\n}",
     "port"),
    ("", "connector c {\n address-space *\n smarthost [127.0.0.1]:25\n"
         " colour blue\n}", "colour"),
    ("", "connector c {\n address-space *\n smarthost [127.0.0.1]:25\n}\n"
         "connector c {\n address-space *\n smarthost [127.0.0.1]:26\n}",
     "already defined"),
    ("", "domain x.example frobnicate", "relay or hold"),
    ("", "queue {\n timeout connect 0s\n}", "timeout"),
    ("", "queue {\n timeout banner 5s\n}", "timeout"),
    ("", "queue {\n retry\n}", "retry"),
    ("", "resolver nowhere", "resolver"),
]


def check_config(tmp_path, server, global_):
    text = build_config(tmp_path / "spool", tmp_path / "drop",
                        tmp_path / "badmail", 2525, 2526, server, global_)
    path = tmp_path / "t.conf"
    path.write_text(text)
    p = subprocess.run([str(TERN_BIN), "-t", "-c", str(path)],
                       capture_output=True, timeout=10)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace"), text


@pytest.mark.parametrize("server,global_,word", BAD_CONFIGS,
                         ids=[f"bad{k}" for k in range(len(BAD_CONFIGS))])
def test_config_errors(tmp_path, server, global_, word):
    rc, out, text = check_config(tmp_path, server, global_)
    assert rc != 0, f"accepted:\n{text}\n{out}"
    assert "t.conf:" in out and word in out, out


GOOD_CONFIGS = [
    ("relay allow 127.0.0.0/8 ::1 10.0.0.0/8 2001:db8::/32", ""),
    ("", "domain relay.example relay\ndomain hold.example hold\n"
         "queue {\n retry 1s 2s\n}"),
    ("", "connector c {\n address-space * example.com *.example.com cost 3"
         "\n smarthost [127.0.0.1]:2525 [::1]:2525 [IPv6:::1]:25\n"
         " schedule mon-fri 18:00-08:00, sat-sun\n max-message-size 5M\n"
         " max-messages 10\n max-connections 4 per-destination 2\n}"),
    ("", "connector c {\n address-space *\n route mx\n port 2525\n}"),
    ("", "connector c {\n address-space *\n smarthost relay.example:587\n}"),
    ("", "queue {\n retry 2s\n expire 3s\n timeout connect 2s\n"
         " timeout reply 3s\n}"),
]


@pytest.mark.parametrize("server,global_", GOOD_CONFIGS,
                         ids=[f"good{k}" for k in range(len(GOOD_CONFIGS))])
def test_config_accepted(tmp_path, server, global_):
    rc, out, text = check_config(tmp_path, server, global_)
    assert rc == 0, f"refused:\n{text}\n{out}"
