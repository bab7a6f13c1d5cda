"""
Every limit of a virtual server and of the session pool: SIZE advertised
and enforced, session size, messages, recipients, errors, hops, line
lengths, time-outs, greeting delay, max-sessions, max-connections.
"""
import signal
import time

import pytest

from conftest import SMTPTestError, dot_stuff, send_mail


def body_of(n, subject="sized"):
    """A message of exactly n octets (n >= 40), 60-octet lines."""
    head = f"Subject: {subject}\r\n\r\n".encode()
    full, rest = divmod(n - len(head), 62)
    if rest == 1:
        full, rest = full - 1, 63
    lines = [b"x" * 60 + b"\r\n"] * full
    if rest:
        lines.append(b"y" * (rest - 2) + b"\r\n")
    m = head + b"".join(lines)
    assert len(m) == n, len(m)
    return m


def ehlo_size(c):
    r = c.cmd("EHLO client.test", 250)
    sizes = [ln.split() for ln in r.lines[1:] if ln.upper().startswith("SIZE")]
    assert len(sizes) == 1, r.lines
    return sizes[0][1:]


# ---- SIZE and max-message-size -------------------------------------------

@pytest.mark.tern_config(server="max-message-size 2000")
def test_size_advertised(tern):
    with tern.client() as c:
        c.expect(220)
        assert ehlo_size(c) == ["2000"]


@pytest.mark.tern_config(server="max-message-size 1K")
def test_size_suffix(tern):
    with tern.client() as c:
        c.expect(220)
        # K: 1024 (binary, as most MTA configs); 1000 accepted too
        assert ehlo_size(c) in (["1024"], ["1000"])


@pytest.mark.tern_config(server="max-message-size 0\nmax-session-size 10G")
def test_size_unlimited(tern):
    with tern.client() as c:
        c.expect(220)
        # RFC 1870: "SIZE" or "SIZE 0" both mean no fixed maximum
        assert ehlo_size(c) in ([], ["0"])
        # 5 GB: over 32 bits, under the session size
        c.cmd("MAIL FROM:<a@b.example> SIZE=5000000000", 250, "2.1.0")


@pytest.mark.tern_config(server="max-message-size 2000")
def test_size_parameter_enforced(tern):
    with tern.connect() as c:
        c.cmd("MAIL FROM:<a@b.example> SIZE=2001", 552, "5.3.4")
        c.cmd("RCPT TO:<alice@localhost>", 503, "5.5.1")
        c.cmd("MAIL FROM:<a@b.example> SIZE=2000", 250, "2.1.0")


@pytest.mark.tern_config(server="max-message-size 2000")
def test_message_over_size_refused_after_data(tern):
    with tern.connect() as c:
        send_mail(c, "a@b.example", ["alice@localhost"],
                  body_of(4000)).check(552, "5.3.4")
        c.cmd("RSET", 250, "2.0.0")
        # declared small, sent big
        c.cmd("MAIL FROM:<a@b.example> SIZE=500", 250, "2.1.0")
        c.cmd("RCPT TO:<alice@localhost>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(dot_stuff(body_of(4000)))
        c.expect(552, "5.3.4")
        # the session is still good for a message under the limit
        ok = body_of(1500, "fits")
        send_mail(c, "a@b.example", ["alice@localhost"], ok).check(
            250, "2.0.0")
    tern.sync()
    files = tern.delivered()
    assert len(files) == 1 and files[0].read_bytes().endswith(ok)


@pytest.mark.tern_config(server="max-message-size 2000")
def test_size_boundary_rfc1870(tern):
    """RFC 1870: the size counts the message octets with their CRLFs, not
    the terminating dot nor the dots doubled for transparency; the added
    trace headers are the server's own."""
    exact = body_of(2000, "exact")
    stuffed = body_of(2000, "stuffed").replace(b"\r\nx", b"\r\n.")
    assert len(stuffed) == 2000 and len(dot_stuff(stuffed)) > 2003
    with tern.connect() as c:
        send_mail(c, "a@b.example", ["alice@localhost"], exact).check(
            250, "2.0.0")
        send_mail(c, "a@b.example", ["alice@localhost"], stuffed).check(
            250, "2.0.0")
        send_mail(c, "a@b.example", ["alice@localhost"],
                  body_of(2001, "one over")).check(552, "5.3.4")
        c.cmd("RSET", 250, "2.0.0")
    tern.sync()
    got = sorted(f.read_bytes() for f in tern.delivered())
    assert len(got) == 2
    assert any(g.endswith(exact) for g in got)
    assert any(g.endswith(stuffed) for g in got)


@pytest.mark.tern_config(server="max-message-size 10M")
def test_message_over_10m_refused(tern):
    big = body_of(10 * 1024 * 1024 + 4096)
    with tern.connect(timeout=60) as c:
        c.cmd("MAIL FROM:<a@b.example>", 250, "2.1.0")
        c.cmd("RCPT TO:<alice@localhost>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(dot_stuff(big))
        c.expect(552, "5.3.4", timeout=60)
        c.cmd("RSET", 250, "2.0.0")
    tern.sync()
    assert tern.delivered() == []


# ---- max-session-size ----------------------------------------------------

@pytest.mark.tern_config(server="max-message-size 0\nmax-session-size 3000")
def test_session_size(tern):
    with tern.connect() as c:
        first = body_of(1200, "first")
        send_mail(c, "a@b.example", ["alice@localhost"], first).check(
            250, "2.0.0")
        # about 1800 octets remain
        c.cmd("MAIL FROM:<a@b.example> SIZE=2500", 552, "5.3.4")
        c.cmd("RCPT TO:<alice@localhost>", 503, "5.5.1")
        c.cmd("MAIL FROM:<a@b.example> SIZE=1000", 250, "2.1.0")
        c.cmd("RCPT TO:<alice@localhost>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(dot_stuff(body_of(2500, "pushes past")))
        c.expect(552, "5.3.4")
        c.cmd("RSET", 250, "2.0.0")
    tern.sync()
    files = tern.delivered()
    assert len(files) == 1 and files[0].read_bytes().endswith(first)


@pytest.mark.tern_config(server="max-session-size 3000")
def test_session_size_new_connection_starts_fresh(tern):
    for i in range(2):
        with tern.connect() as c:
            send_mail(c, "a@b.example", ["alice@localhost"],
                      body_of(2000, f"conn {i}")).check(250, "2.0.0")
    assert len(tern.wait_delivered(2)) == 2


# ---- max-messages, max-recipients, max-errors ----------------------------

@pytest.mark.tern_config(server="max-messages 2")
def test_max_messages(tern):
    with tern.connect() as c:
        for i in range(2):
            send_mail(c, "a@b.example", ["alice@localhost"],
                      body_of(100, f"m{i}")).check(250, "2.0.0")
        c.cmd("MAIL FROM:<a@b.example>", 421, "4.7.0")
        c.expect_closed()
    tern.sync()
    assert len(tern.delivered()) == 2
    with tern.connect() as c:       # per connection, not per server
        send_mail(c, "a@b.example", ["alice@localhost"],
                  body_of(100, "m3")).check(250, "2.0.0")


@pytest.mark.tern_config(server="max-recipients 2")
def test_max_recipients(tern):
    with tern.connect() as c:
        c.cmd("MAIL FROM:<a@b.example>", 250, "2.1.0")
        c.cmd("RCPT TO:<nobody@localhost>", 550, "5.1.1")   # not counted
        c.cmd("RCPT TO:<alice@localhost>", 250, "2.1.5")
        c.cmd("RCPT TO:<carol@example.test>", 250, "2.1.5")
        c.cmd("RCPT TO:<postmaster@localhost>", 452, "4.5.3")
        c.cmd("RCPT TO:<root@localhost>", 452, "4.5.3")
        c.cmd("DATA", 354)
        c.send(dot_stuff(body_of(100)))
        c.expect(250, "2.0.0")
        # a new transaction counts from zero
        c.cmd("MAIL FROM:<a@b.example>", 250, "2.1.0")
        c.cmd("RCPT TO:<postmaster@localhost>", 250, "2.1.5")
        c.cmd("RCPT TO:<alice@localhost>", 250, "2.1.5")
        c.cmd("RCPT TO:<carol@example.test>", 452, "4.5.3")
        c.cmd("RSET", 250, "2.0.0")
    tern.sync()
    files = tern.delivered()
    assert len(files) == 2
    assert tern.mailbox("localhost", "postmaster") == []


@pytest.mark.tern_config(server="max-errors 3")
def test_max_errors(tern):
    with tern.connect() as c:
        c.cmd("FOO", 500, "5.5.2")
        c.cmd("NOOP", 250, "2.0.0")         # successes do not count
        c.cmd("RCPT TO:<alice@localhost>", 503, "5.5.1")
        c.cmd("MAIL FROM:<a@>", 501, "5.1.7")
        # three error replies given: the session ends now
        c.line("NOOP")
        c.expect(421, "4.7.0")
        c.expect_closed()


def test_max_errors_default_config(tern):
    """The base config says max-errors 20."""
    with tern.connect() as c:
        for _ in range(20):
            c.cmd("FOO", 500, "5.5.2")
        c.line("NOOP")
        c.expect(421, "4.7.0")
        c.expect_closed()


# ---- DATA content limits -------------------------------------------------

def hops(n, names=("Received",)):
    return b"".join(f"{names[i % len(names)]}: from h{i} by h{i + 1}; "
                    f"Mon, 1 Jan 2024 00:00:00 +0000\r\n".encode()
                    for i in range(n))


@pytest.mark.tern_config(server="max-hops 3")
def test_max_hops(tern):
    ok = hops(3) + b"Subject: three hops\r\n\r\nbody\r\n"
    in_body = (b"Subject: received in body\r\n\r\n" + hops(6) + b"\r\n")
    loop = hops(4) + b"Subject: four hops\r\n\r\nbody\r\n"
    folded = (b"Received: from a\r\n\tby b; x\r\n" * 4 +
              b"Subject: folded\r\n\r\nbody\r\n")
    with tern.connect() as c:
        send_mail(c, "a@b.example", ["alice@localhost"], ok).check(
            250, "2.0.0")
        send_mail(c, "a@b.example", ["alice@localhost"], in_body).check(
            250, "2.0.0")
        r = send_mail(c, "a@b.example", ["alice@localhost"], loop)
        r.check(554, "5.4.6")
        c.cmd("RSET", 250, "2.0.0")
        send_mail(c, "a@b.example", ["alice@localhost"], folded).check(
            554, "5.4.6")
        c.cmd("RSET", 250, "2.0.0")
    tern.sync()
    got = sorted(f.read_bytes() for f in tern.delivered())
    assert len(got) == 2
    assert any(g.endswith(ok) for g in got)
    assert any(g.endswith(in_body) for g in got)


def test_max_hops_default_30(tern):
    with tern.connect() as c:
        send_mail(c, "a@b.example", ["alice@localhost"],
                  hops(30) + b"Subject: 30\r\n\r\nx\r\n").check(250, "2.0.0")
        send_mail(c, "a@b.example", ["alice@localhost"],
                  hops(31) + b"Subject: 31\r\n\r\nx\r\n").check(554, "5.4.6")
    tern.sync()
    assert len(tern.delivered()) == 1


@pytest.mark.parametrize("limit", [1000, 100])
def test_max_line_length(tern_factory, limit):
    t = tern_factory(server=f"max-line-length {limit}")
    fits = b"Subject: fits\r\n\r\n" + b"a" * (limit - 2) + b"\r\n"
    over = b"Subject: over\r\n\r\n" + b"b" * (limit - 1) + b"\r\n"
    with t.connect() as c:
        send_mail(c, "a@b.example", ["alice@localhost"], fits).check(
            250, "2.0.0")
        send_mail(c, "a@b.example", ["alice@localhost"], over).check(
            554, "5.6.0")
        c.cmd("RSET", 250, "2.0.0")
    t.sync()
    files = t.delivered()
    assert len(files) == 1 and files[0].read_bytes().endswith(fits)


def test_line_length_does_not_count_stuffed_dot(tern):
    """RFC 5321 4.5.3.1.6: 1000 octets incl CRLF, not counting the leading
    dot duplicated for transparency (1001 octets on the wire here)."""
    m = b"Subject: dot line\r\n\r\n." + b"z" * 997 + b"\r\n"
    with tern.connect() as c:
        send_mail(c, "a@b.example", ["alice@localhost"], m).check(
            250, "2.0.0")
    assert tern.wait_delivered(1)[0].read_bytes().endswith(m)


def test_nul_in_data_session_continues(tern):
    with tern.connect() as c:
        send_mail(c, "a@b.example", ["alice@localhost"],
                  b"Subject: nul\r\n\r\na\0b\r\n").check(554, "5.6.0")
        c.cmd("RSET", 250, "2.0.0")
        send_mail(c, "a@b.example", ["alice@localhost"],
                  b"Subject: fine\r\n\r\nab\r\n").check(250, "2.0.0")
    tern.sync()
    assert len(tern.delivered()) == 1


def test_command_line_length(tern):
    with tern.connect() as c:
        c.cmd("NOOP " + "x" * 505, 250, "2.0.0")       # 512 with CRLF
        c.cmd("NOOP " + "x" * 506, 500, "5.5.2")       # 513
        c.cmd("RSET", 250, "2.0.0")


# ---- time-outs and the greeting delay ------------------------------------

@pytest.mark.tern_config(server="timeout command 1s")
def test_timeout_command(tern):
    with tern.client() as c:
        c.expect(220)
        t0 = time.monotonic()
        c.expect(421, "4.4.2", timeout=4)
        elapsed = time.monotonic() - t0
        c.expect_closed()
        assert 0.8 <= elapsed <= 3.0, elapsed


@pytest.mark.tern_config(server="timeout command 1s")
def test_timeout_command_reset_by_activity(tern):
    with tern.connect() as c:
        t0 = time.monotonic()
        for _ in range(4):
            time.sleep(0.5)
            c.cmd("NOOP", 250, "2.0.0")
        assert time.monotonic() - t0 >= 2.0
        c.expect(421, "4.4.2", timeout=4)
        c.expect_closed()


@pytest.mark.tern_config(server="timeout command 1s")
def test_timeout_command_partial_line(tern):
    with tern.connect() as c:
        c.send(b"MAIL FROM:<a@b")
        c.expect(421, "4.4.2", timeout=4)
        c.expect_closed()


@pytest.mark.tern_config(server="timeout data 1s")
def test_timeout_data(tern):
    with tern.connect() as c:
        c.cmd("MAIL FROM:<a@b.example>", 250, "2.1.0")
        c.cmd("RCPT TO:<alice@localhost>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(b"Subject: stalled\r\n\r\nhalf a mess")
        c.expect(421, "4.4.2", timeout=4)
        c.expect_closed()
    tern.sync()
    assert tern.delivered() == []


@pytest.mark.tern_config(server="greeting-delay 1s")
def test_greeting_delay_patient_client(tern):
    t0 = time.monotonic()
    with tern.client() as c:
        c.expect(220, timeout=4)
        assert time.monotonic() - t0 >= 0.9
        c.cmd("EHLO client.test", 250)
        send_mail(c, "a@b.example", ["alice@localhost"],
                  body_of(100)).check(250, "2.0.0")
    assert len(tern.wait_delivered(1)) == 1


@pytest.mark.tern_config(server="greeting-delay 1s")
def test_greeting_delay_early_talker(tern):
    with tern.client() as c:
        c.send(b"EHLO x\r\n")
        c.expect(554, "5.5.1", timeout=4)
        c.expect_closed()


# ---- the session pool and max-connections --------------------------------

def open_greeted(tern, n, port=None):
    out = []
    for _ in range(n):
        c = tern.client(port)
        c.expect(220)
        out.append(c)
    return out


def expect_refused(tern, port=None):
    with tern.client(port) as c:
        c.expect(421, "4.3.2")
        c.expect_closed()


def expect_accepted_soon(tern, port=None, within=3.0):
    """A client close reaches the server asynchronously: retry briefly."""
    deadline = time.monotonic() + within
    while True:
        c = tern.client(port)
        r = c.reply()
        if r.code == 220:
            return c
        c.close()
        if time.monotonic() > deadline:
            raise SMTPTestError(f"still refused {within} s after a close: {r}")
        time.sleep(0.05)


@pytest.mark.tern_config(global_="max-sessions 2")
def test_pool_exhaustion(tern):
    a, b = open_greeted(tern, 2)
    expect_refused(tern)
    expect_refused(tern)
    a.close()                      # abrupt client close frees a session
    c = expect_accepted_soon(tern)
    c.cmd("EHLO client.test", 250)
    expect_refused(tern)
    b.cmd("QUIT", 221, "2.0.0")
    b.expect_closed()
    d = expect_accepted_soon(tern)
    for x in (b, c, d):
        x.close()


@pytest.mark.tern_config(server="max-connections 1")
def test_max_connections_per_server(tern):
    (a,) = open_greeted(tern, 1)
    expect_refused(tern)
    a.close()
    expect_accepted_soon(tern).close()


@pytest.mark.tern_config(
    global_="max-sessions 3\nserver other {\n    listen 127.0.0.1:{PORT2}\n}",
    server="max-connections 1")
def test_pool_is_global_connections_per_server(tern):
    (a,) = open_greeted(tern, 1)
    expect_refused(tern)                       # default: max-connections 1
    others = open_greeted(tern, 2, tern.port2)  # other: no per-server cap
    expect_refused(tern, tern.port2)           # global pool of 3 is full
    others[0].close()
    expect_accepted_soon(tern, tern.port2).close()
    for x in [a] + others:
        x.close()


@pytest.mark.tern_config(global_="max-sessions 2")
def test_pool_refusal_does_not_leak(tern):
    """Many refused connections later, the pool still has its 2 slots."""
    a, b = open_greeted(tern, 2)
    for _ in range(30):
        expect_refused(tern)
    a.close()
    b.close()
    a = expect_accepted_soon(tern)
    b = expect_accepted_soon(tern)
    expect_refused(tern)
    a.close()
    b.close()


# ---- shutdown (smtp.h: end idle sessions with 421, let busy ones finish) --

def test_sigterm_idle_session_gets_421(tern_factory):
    t = tern_factory()
    c = t.connect()
    t.proc.send_signal(signal.SIGTERM)
    c.expect(421, "4.3.2")
    c.expect_closed()
    assert t.wait_exit() == 0


def test_sigterm_busy_session_finishes(tern_factory):
    t = tern_factory()
    c = t.connect()
    c.cmd("MAIL FROM:<a@b.example>", 250, "2.1.0")
    c.cmd("RCPT TO:<alice@localhost>", 250, "2.1.5")
    c.cmd("DATA", 354)
    c.send(b"Subject: in flight\r\n\r\nfirst half\r\n")
    t.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    c.send(b"second half\r\n.\r\n")
    try:
        c.expect(250, "2.0.0")
    finally:
        assert t.wait_exit() == 0
        c.close()
