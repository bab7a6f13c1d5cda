"""
CHUNKING / BDAT (RFC 3030) received by tern, with a raw-socket client:
chunk sizes from 1 octet to 1 MiB, in lock-step and pipelined in one
write, random mixes, BDAT 0 LAST, every refusal (the octets are always
consumed so the stream stays framed), an unframable size closing the
session, the size limit across chunks, a connection dropped mid-chunk
(nothing accepted), and the delivered file byte-exact (no dot-unstuffing,
any octet). Optionally Debian's Exim as a second, independent BDAT sender.
"""
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import SMTPTestError, dot_stuff, send_mail, split_delivered
from queue_helpers import (OK_ID_RE, bdat_stream, file_name, journal_check,
                           make_message, qfactory)  # noqa: F401 (fixture)

SENDER = "bdat@client.test"


# ---- helpers -----------------------------------------------------------------

def start_txn(c, rcpts=("alice@localhost",), params=""):
    c.cmd(f"MAIL FROM:<{SENDER}>" + (" " + params if params else ""),
          250, "2.1.0")
    for r in rcpts:
        c.cmd(f"RCPT TO:<{r}>", 250, "2.1.5")


def chunk(data, last=False, verb="BDAT"):
    return f"{verb} {len(data)}{' LAST' if last else ''}\r\n".encode() + data


def split_sizes(message, size):
    return [message[i:i + size] for i in range(0, len(message), size)] or [b""]


def pipelined(c, stream, nreplies, timeout=60):
    """Send stream from a thread while reading nreplies replies, so that
    neither side's socket buffer can stall the other."""
    err = []

    def sender():
        try:
            c.sock.sendall(stream)
        except OSError as e:
            err.append(e)

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    replies = [c.reply(timeout=timeout) for _ in range(nreplies)]
    th.join(timeout)
    assert not err, err
    return replies


def expect_ok_id(r, what=""):
    r.check(250, "2.0.0", what=what or "end of the BDAT transaction")
    m = OK_ID_RE.match(r.text)
    assert m, f"250 after BDAT LAST without an id: {r}"
    return m.group(1)


def check_delivered(tern, qid, message, boxes=("localhost/alice",),
                    sender=SENDER):
    """The message is in each box under its queue id, byte-exact after
    Return-Path and Received; returns the Received header."""
    received = None
    for b in boxes:
        p = tern.drop / b / "new" / file_name(qid)
        deadline = time.monotonic() + 10
        while not p.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert p.exists(), (f"{p} not delivered; have "
                            f"{[str(x) for x in tern.delivered()]}")
        rp, received, body = split_delivered(p.read_bytes())
        assert rp == f"<{sender}>".encode()
        assert f"id {qid}".encode() in received, received
        assert body == message, (
            f"delivered body differs: {len(body)} vs {len(message)} octets; "
            f"{body[:120]!r} vs {message[:120]!r}")
    return received


def nothing_delivered(tern):
    tern.sync()
    got = tern.delivered()
    assert got == [], [str(p) for p in got]


def msg_of(n, tag="m", seed=1):
    return make_message(tag, n, random.Random(seed))


# ---- advertisement ---------------------------------------------------------------

def test_chunking_advertised(tern):
    with tern.client() as c:
        c.expect(220)
        r = c.cmd("EHLO client.test", 250)
        words = [ln.split()[0].upper() for ln in r.lines[1:]]
        assert "CHUNKING" in words and "PIPELINING" in words, r.lines


def test_helo_session_still_has_bdat(tern):
    """CHUNKING is an ESMTP extension; after HELO a client has no right to
    use it. Whatever tern does then, the stream must stay framed: the
    reply is either a normal BDAT reply or a refusal, and the next command
    is read as a command."""
    with tern.client() as c:
        c.expect(220)
        c.cmd("HELO client.test", 250)
        start_txn(c)
        c.send(chunk(b"RSET\r\n"))
        r = c.reply()
        assert r.code in (250, 503, 502, 500), r
        c.cmd("NOOP", 250)


# ---- chunk sizes, lock-step and pipelined -------------------------------------------

SIZES = [1, 2, 3, 511, 1000, 2047, 2048, 2049, 4096, 65535, 65536,
         1048576]


def total_for(size):
    if size == 1:
        return 300
    if size < 4096:
        return size * 5 + 7
    if size < 1048576:
        return size * 3 + 17
    return size * 3 + 17       # three full 1 MiB chunks and a bit


@pytest.mark.parametrize("mode", ["lockstep", "pipelined"])
@pytest.mark.parametrize("size", SIZES)
def test_chunk_sizes(tern, size, mode):
    message = msg_of(total_for(size), f"size{size}{mode}", seed=size)
    pieces = split_sizes(message, size)
    with tern.connect(timeout=60) as c:
        start_txn(c)
        replies = []
        if mode == "lockstep":
            for i, p in enumerate(pieces):
                c.send(chunk(p, last=i == len(pieces) - 1))
                replies.append(c.reply(timeout=60))
        else:
            stream = b"".join(chunk(p, last=i == len(pieces) - 1)
                              for i, p in enumerate(pieces))
            replies = pipelined(c, stream, len(pieces))
        total = 0
        for i, (p, r) in enumerate(zip(pieces[:-1], replies[:-1])):
            total += len(p)
            assert str(r) == f"250 2.0.0 {total} octets received", \
                f"chunk {i}: {r}"
        qid = expect_ok_id(replies[-1])
        c.cmd("QUIT", 221)
    check_delivered(tern, qid, message)


# ---- mixes -------------------------------------------------------------------

def test_random_mix_pipelined_one_write(tern):
    """Several whole transactions (MAIL, RCPT, BDAT chunks of random sizes
    including empty non-last chunks, LAST), some with DATA instead, all in
    one write; every reply in order; everything delivered byte-exact."""
    rng = random.Random(3030)
    plan = []
    stream = []
    for k in range(12):
        message = make_message(f"mix{k}", rng.choice(
            [50, 700, 5000, 40000, 150000]), rng)
        how = "data" if k % 4 == 3 else "bdat"
        stream.append(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<bob@localhost>\r\n"
                      .encode())
        nrep = 2
        if how == "data":
            stream.append(b"DATA\r\n" + dot_stuff(message))
            nrep += 2
            sizes = None
        else:
            sizes = []
            pos = 0
            while pos < len(message):
                n = rng.choice([0, 1, 7, 512, 3000, 65536, 100000])
                n = min(n, len(message) - pos)
                sizes.append(n)
                pos += n
            sizes.append(0)            # BDAT 0 LAST
            pos = 0
            for i, n in enumerate(sizes):
                stream.append(chunk(message[pos:pos + n],
                                    last=i == len(sizes) - 1))
                pos += n
            nrep += len(sizes)
        plan.append((message, how, sizes, nrep))
    with tern.connect(timeout=60) as c:
        replies = pipelined(c, b"".join(stream),
                            sum(p[3] for p in plan), timeout=60)
        c.cmd("QUIT", 221)
    ids = []
    k = 0
    for message, how, sizes, nrep in plan:
        rs = replies[k:k + nrep]
        k += nrep
        rs[0].check(250, "2.1.0")
        rs[1].check(250, "2.1.5")
        if how == "data":
            rs[2].check(354)
        else:
            total = 0
            for n, r in zip(sizes[:-1], rs[2:-1]):
                total += n
                assert str(r) == f"250 2.0.0 {total} octets received", r
        ids.append(expect_ok_id(rs[-1]))
    assert len(set(ids)) == len(ids), ids
    for (message, *_), qid in zip(plan, ids):
        check_delivered(tern, qid, message, boxes=("localhost/bob",))


def test_bdat_then_data_then_bdat_same_session(tern):
    a, b, d = msg_of(900, "a"), msg_of(1500, "b"), msg_of(30, "d")
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(a[:400]) + chunk(a[400:], last=True))
        c.expect(250, "2.0.0")
        qa = expect_ok_id(c.reply())
        qb = send_mail(c, SENDER, ["alice@localhost"], b)
        qb = expect_ok_id(qb)
        start_txn(c)
        c.send(chunk(d, last=True))
        qd = expect_ok_id(c.reply())
    for q, m in ((qa, a), (qb, b), (qd, d)):
        check_delivered(tern, q, m)


def test_bdat_several_recipients_and_alias(tern):
    message = msg_of(3000, "multi")
    rcpts = ["alice@localhost", "bob@localhost", "carol@example.test",
             "root@localhost"]
    with tern.connect() as c:
        start_txn(c, rcpts)
        c.send(chunk(message[:1000]) + chunk(message[1000:], last=True))
        c.expect(250, "2.0.0")
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message, boxes=(
        "localhost/alice", "localhost/bob", "example.test/carol",
        "localhost/postmaster"))
    tern.sync()
    assert len(tern.delivered()) == 4


def test_lowercase_verb_and_last(tern):
    message = msg_of(200, "lower")
    with tern.connect() as c:
        start_txn(c)
        c.send(b"bdat 100\r\n" + message[:100])
        c.expect(250, "2.0.0")
        c.send(f"Bdat {len(message) - 100} last\r\n".encode() + message[100:])
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)


# ---- content: byte-exact, no transparency ------------------------------------------

def test_no_dot_unstuffing(tern):
    """BDAT has no dot-stuffing: lines ".", ".x", "..y" and even
    CRLF.CRLF in the middle of the data are message text."""
    message = (b"Subject: dots\r\n\r\n.x\r\n..y\r\n.\r\nmiddle\r\n.\r\n"
               b"...\r\n. \r\nend\r\n")
    # a chunk boundary right after CRLF "." and one inside CRLF.CRLF
    cut1 = message.index(b"\r\n.\r\nmiddle") + 3
    cut2 = message.index(b"middle\r\n.\r\n") + 8
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(message[:cut1]))
        c.expect(250, "2.0.0")
        c.send(chunk(message[cut1:cut2]))
        c.expect(250, "2.0.0")
        c.send(chunk(message[cut2:], last=True))
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)


def test_chunk_ending_with_dot_line_then_commands(tern):
    """A chunk that ends in CRLF.CRLF and is followed by commands: the
    commands are commands (no DATA-style end of message inside BDAT)."""
    message = b"Subject: x\r\n\r\nbody\r\n.\r\n"
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(message) + b"NOOP\r\n")
        c.expect(250, "2.0.0")
        c.expect(250)                   # NOOP, inside the transaction
        c.send(chunk(b"tail\r\n", last=True))
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message + b"tail\r\n")


def test_every_octet_value(tern):
    """BDAT carries octets, not lines: NUL, bare CR, bare LF, 8-bit, all
    delivered as sent."""
    body = bytes(range(256)) * 40 + b"\r\n"
    message = b"Subject: octets\r\n\r\n" + body + b"a\rb\nc\r\r\n\n.\n"
    with tern.connect() as c:
        start_txn(c, params="BODY=8BITMIME")
        c.send(chunk(message[:5000]) + chunk(message[5000:], last=True))
        c.expect(250, "2.0.0")
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)


def test_long_line_in_bdat(tern):
    """No line-length limit on BDAT octets (max-line-length is DATA's)."""
    message = b"Subject: long\r\n\r\n" + b"x" * 20000 + b"\r\n"
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(message, last=True))
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)


def test_hop_limit_applies_to_bdat(tern):
    hdrs = b"".join(b"Received: from h%d by h%d\r\n" % (i, i)
                    for i in range(31))
    message = hdrs + b"Subject: loop\r\n\r\nbody\r\n"
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(message[:100]) + chunk(message[100:], last=True))
        c.expect(250, "2.0.0")
        c.expect(554, "5.4.6")
        c.cmd("NOOP", 250)
    nothing_delivered(tern)


# ---- BDAT 0 ------------------------------------------------------------------------

def test_bdat_0_last_only(tern):
    """An empty message: the file is Return-Path and Received alone."""
    with tern.connect() as c:
        start_txn(c)
        c.send(b"BDAT 0 LAST\r\n")
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, b"")


def test_bdat_0_last_after_chunks(tern):
    message = msg_of(5000, "zero-last")
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(message[:3000]) + chunk(message[3000:]) +
               b"BDAT 0 LAST\r\n")
        assert str(c.reply()) == "250 2.0.0 3000 octets received"
        assert str(c.reply()) == f"250 2.0.0 {len(message)} octets received"
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)


def test_bdat_0_not_last(tern):
    message = msg_of(100, "zero-mid")
    with tern.connect() as c:
        start_txn(c)
        c.send(b"BDAT 0\r\n")
        assert str(c.reply()) == "250 2.0.0 0 octets received"
        c.send(chunk(message[:10]) + b"BDAT 0\r\n")
        assert str(c.reply()) == "250 2.0.0 10 octets received"
        assert str(c.reply()) == "250 2.0.0 10 octets received"
        c.send(chunk(message[10:], last=True))
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)


# ---- refusals: octets always consumed ------------------------------------------------

# chunk payloads that would be harmful if read as commands
EVIL = b"RSET\r\nQUIT\r\nMAIL FROM:<evil@x.test>\r\n"


def test_bdat_before_mail(tern):
    with tern.connect() as c:
        c.send(chunk(EVIL))
        c.expect(503, "5.5.1")
        c.send(chunk(EVIL, last=True))
        c.expect(503, "5.5.1")
        c.cmd("NOOP", 250)
        message = msg_of(100, "after")
        start_txn(c)
        c.send(chunk(message, last=True))
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)
    tern.sync()
    assert len(tern.delivered()) == 1


def test_bdat_before_helo(tern):
    with tern.client() as c:
        c.expect(220)
        c.send(chunk(EVIL))
        c.expect(503, "5.5.1")
        c.cmd("EHLO client.test", 250)
        c.cmd("NOOP", 250)
    nothing_delivered(tern)


def test_bdat_without_rcpt(tern):
    """MAIL but no RCPT: 554 5.5.1, octets consumed, the transaction (the
    sender) still stands; after a RCPT only the later chunk is the
    message."""
    with tern.connect() as c:
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        c.send(chunk(b"RCPT TO:<bob@localhost>\r\n"))
        c.expect(554, "5.5.1")
        c.send(chunk(b"RCPT TO:<bob@localhost>\r\n", last=True))
        c.expect(554, "5.5.1")
        c.cmd("RCPT TO:<alice@localhost>", 250)
        message = msg_of(300, "late-rcpt")
        c.send(chunk(message, last=True))
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)
    tern.sync()
    assert len(tern.delivered()) == 1
    assert not list(tern.drop.glob("localhost/bob/new/*"))[1:], \
        "bob got mail"


def test_bdat_after_refused_rcpt(tern):
    with tern.connect() as c:
        c.cmd(f"MAIL FROM:<{SENDER}>", 250)
        c.cmd("RCPT TO:<nobody@localhost>", 550, "5.1.1")
        c.send(chunk(EVIL, last=True))
        c.expect(554, "5.5.1")
        c.cmd("NOOP", 250)
    nothing_delivered(tern)


def test_data_inside_bdat(tern):
    message = msg_of(800, "data-in-bdat")
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(message[:300]))
        c.expect(250, "2.0.0")
        c.cmd("DATA", 503, "5.5.1")
        c.send(chunk(message[300:], last=True))
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)


def test_rcpt_and_mail_inside_bdat(tern):
    message = msg_of(800, "rcpt-in-bdat")
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(message[:300]))
        c.expect(250, "2.0.0")
        c.cmd("RCPT TO:<bob@localhost>", 503, "5.5.1")
        c.cmd(f"MAIL FROM:<{SENDER}>", 503, "5.5.1")
        c.cmd("NOOP", 250)
        c.send(chunk(message[300:], last=True))
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)
    tern.sync()
    assert [p.parent.parent.name for p in tern.delivered()] == ["alice"]


def test_data_after_bdat_last_is_new_sequence(tern):
    """After BDAT LAST the transaction is over: DATA needs MAIL again."""
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(b"Subject: a\r\n\r\nb\r\n", last=True))
        expect_ok_id(c.reply())
        c.cmd("DATA", 503, "5.5.1")


@pytest.mark.parametrize("word", ["RSET", "EHLO client.test",
                                  "HELO client.test"])
def test_reset_inside_bdat(tern, word):
    """RSET (and EHLO/HELO, which reset) in the middle of a BDAT
    transaction: nothing of it is delivered, a new one works."""
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(b"Subject: dropped\r\n\r\n"))
        c.expect(250, "2.0.0")
        c.cmd(word, 250)
        c.send(chunk(b"more\r\n", last=True))
        c.expect(503, "5.5.1")
        message = msg_of(200, "after-reset")
        start_txn(c)
        c.send(chunk(message, last=True))
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)
    tern.sync()
    assert len(tern.delivered()) == 1


def test_quit_inside_bdat(tern):
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(b"Subject: quit\r\n\r\nbody\r\n"))
        c.expect(250, "2.0.0")
        c.cmd("QUIT", 221)
        c.expect_closed()
    nothing_delivered(tern)


# ---- unframable sizes: 501 5.5.4 and close --------------------------------------------

@pytest.mark.parametrize("arg", [
    "", " ", "abc", "-1", "+5", "1e3", "0x10", "12abc",
    "1000000000000000000", "9999999999999999999999",
    "00000000000000000005"])
def test_bdat_unframable_size_closes(tern, arg):
    """A size that cannot be read (or junk after it) leaves no way to find
    the next command: 501 5.5.4 and the session closes; the transaction in
    progress is not delivered."""
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(b"Subject: first\r\n\r\n"))
        c.expect(250, "2.0.0")
        c.send(f"BDAT{' ' if arg else ''}{arg}\r\nQUIT\r\nNOOP\r\n".encode())
        c.expect(501, "5.5.4")
        c.expect_closed()
    nothing_delivered(tern)


@pytest.mark.parametrize("arg", ["5 LASTX", "5 LAST extra", "5 FIRST"])
def test_bdat_junk_after_size_keeps_framing(tern, arg):
    """Junk after a readable size: either 501 5.5.4 and close, or the
    announced octets consumed and refused (the size frames the stream).
    Never are the chunk octets read as commands, never is the transaction
    delivered."""
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(b"Subject: first\r\n\r\n"))
        c.expect(250, "2.0.0")
        c.send(f"BDAT {arg}\r\nQUIT\r\nNOOP\r\n".encode())
        r = c.reply()
        assert r.code in (501, 503, 555), r
        if r.code == 501 and c.read_until_close(timeout=2) == b"":
            pass                        # closed: fine
        else:
            # consumed "QUIT\r" as the 5 octets: "\nNOOP" is not a command
            # line we can rely on; the session must still be in step
            c.cmd("NOOP", 250)
    nothing_delivered(tern)


def test_bdat_18_digit_size_is_a_size(tern):
    """Up to 18 digits is a size: the server waits for that many octets
    (it does not read what follows as commands) instead of closing."""
    with tern.connect() as c:
        start_txn(c)
        c.send(b"BDAT 999999999999999999\r\nNOOP\r\nQUIT\r\n")
        with pytest.raises(SMTPTestError):
            c.reply(timeout=0.5)
        assert not c.eof
    nothing_delivered(tern)


# ---- size limits across chunks --------------------------------------------------------

@pytest.mark.tern_config(server="max-message-size 100000")
def test_size_limit_crossed_mid_transaction(tern):
    """552 5.3.4 at the chunk that crosses the limit; the transaction is
    over: later chunks get 503 (and are consumed); nothing delivered; a
    new transaction works."""
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(b"x" * 60000))
        assert str(c.reply()) == "250 2.0.0 60000 octets received"
        c.send(chunk(b"y" * 40001))
        c.expect(552, "5.3.4")
        c.send(chunk(EVIL) + chunk(EVIL, last=True))
        c.expect(503, "5.5.1")
        c.expect(503, "5.5.1")
        c.cmd("NOOP", 250)
        message = msg_of(1000, "after-552")
        start_txn(c)
        c.send(chunk(message, last=True))
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)
    tern.sync()
    assert len(tern.delivered()) == 1


@pytest.mark.tern_config(server="max-message-size 100000")
def test_size_limit_crossed_by_last_chunk(tern):
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(b"x" * 99999) + chunk(b"yz", last=True) +
               b"NOOP\r\n")
        c.expect(250, "2.0.0")
        c.expect(552, "5.3.4")
        c.expect(250)
    nothing_delivered(tern)


@pytest.mark.tern_config(server="max-message-size 100000")
def test_size_limit_single_huge_chunk(tern):
    """One chunk far over the limit: still consumed to the last octet."""
    with tern.connect(timeout=30) as c:
        start_txn(c)
        data = (b"RSET\r\n" * 100000)[:500000]
        r = pipelined(c, chunk(data, last=True) + b"NOOP\r\n", 2)
        r[0].check(552, "5.3.4")
        r[1].check(250)
    nothing_delivered(tern)


@pytest.mark.tern_config(server="max-message-size 100000")
def test_size_limit_boundary_sum_of_chunks(tern):
    """The limit is on the sum of the chunks: exactly the limit passes,
    one octet more does not."""
    exact = b"Subject: exact\r\n\r\n" + b"e" * (100000 - 18)
    assert len(exact) == 100000
    with tern.connect() as c:
        start_txn(c)
        sizes = [1, 33333, 33333, 1, 33332]
        stream, n = bdat_stream(exact, sizes)
        rs = pipelined(c, stream, n)
        qid = expect_ok_id(rs[-1])
        start_txn(c)
        over = exact + b"!"
        stream, n = bdat_stream(over, [50000])
        rs = pipelined(c, stream, n)
        rs[-1].check(552, "5.3.4")
    check_delivered(tern, qid, exact)
    tern.sync()
    assert len(tern.delivered()) == 1


@pytest.mark.tern_config(server="max-message-size 0\nmax-session-size 3000")
def test_session_size_counts_chunks(tern):
    first = b"Subject: one\r\n\r\n" + b"1" * 1984
    assert len(first) == 2000
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(first[:1000]) + chunk(first[1000:], last=True))
        c.expect(250, "2.0.0")
        expect_ok_id(c.reply())
        start_txn(c)
        c.send(chunk(b"2" * 600) + chunk(b"2" * 600, last=True))
        c.expect(250, "2.0.0")
        c.expect(552, "5.3.4")
        c.cmd("NOOP", 250)
    tern.sync()
    assert len(tern.delivered()) == 1


def test_size_param_and_chunks(tern):
    """MAIL SIZE= is a declaration; the message may arrive in any chunks."""
    message = msg_of(5000, "sized")
    with tern.connect() as c:
        start_txn(c, params=f"SIZE={len(message)}")
        stream, n = bdat_stream(message, [1234])
        rs = pipelined(c, stream, n)
        qid = expect_ok_id(rs[-1])
    check_delivered(tern, qid, message)


# ---- dropped connections -----------------------------------------------------------

def drop_cases():
    return {
        "mid-last-chunk": lambda m: chunk(m, last=True)[:len(m) // 2],
        "mid-chunk-after-chunks":
            lambda m: chunk(m[:100]) + chunk(m[100:], last=True)[:300],
        "between-chunks": lambda m: chunk(m[:100]) + chunk(m[100:200]),
        "after-bdat-line": lambda m: chunk(m[:100]) + f"BDAT {len(m) - 100} "
                                     f"LAST\r\n".encode(),
        "last-octet-missing": lambda m: chunk(m, last=True)[:-1],
    }


@pytest.mark.parametrize("case", sorted(drop_cases()))
def test_drop_mid_chunk_nothing_delivered(tern, case):
    message = msg_of(5000, f"drop-{case}")
    with tern.connect() as c:
        start_txn(c)
        c.send(drop_cases()[case](message))
        time.sleep(0.1)
    nothing_delivered(tern)
    with tern.connect() as c:          # the server is fine
        start_txn(c)
        c.send(chunk(message, last=True))
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)


def test_trickled_one_octet_at_a_time(tern):
    """The whole transaction, commands and chunks, one octet per send:
    every boundary falls between reads."""
    message = b"Subject: trickle\r\n\r\n.dot\r\nBDAT 5\r\nend\r\n"
    stream = (f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<alice@localhost>\r\n"
              .encode() + chunk(message[:9]) + chunk(message[9:], last=True))
    with tern.connect() as c:
        for i in range(len(stream)):
            c.send(stream[i:i + 1])
            time.sleep(0.0005)
        c.expect(250, "2.1.0")
        c.expect(250, "2.1.5")
        assert str(c.reply()) == "250 2.0.0 9 octets received"
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)


@pytest.mark.tern_config(server="timeout data 1s\ntimeout command 1s")
def test_stalled_chunk_times_out(tern):
    """A chunk that stops arriving: 421 4.4.2 after the data time-out, the
    connection closes, nothing is delivered."""
    with tern.connect() as c:
        start_txn(c)
        c.send(b"BDAT 100 LAST\r\n" + b"x" * 50)
        r = c.reply(timeout=5)
        assert r.code == 421 and r.enh == "4.4.2", r
        c.read_until_close(timeout=5)
    nothing_delivered(tern)


def test_dropped_transactions_are_dropped_in_journal(tern):
    """After dropped BDAT transactions the journal holds their uncommitted
    records; `tern journal check` counts them as dropped and no message as
    live once the rest is delivered."""
    cases = drop_cases()
    for k, case in enumerate(sorted(cases)):
        with tern.connect() as c:
            start_txn(c)
            c.send(cases[case](msg_of(5000, f"j{k}")))
            time.sleep(0.05)
    tern.sync()
    assert tern.delivered() == []
    binary = tern_binary()
    tern.stop()
    tern.exit_expected = True
    rc, out, s = journal_check(binary, tern.spool)
    assert rc == 0, out
    assert s["messages"] == 0, out
    assert s["dropped"] == len(cases), out
    assert s["torn"] == 0 and s["bad_records"] == 0, out


def tern_binary():
    import conftest
    return conftest.TERN_BIN


def test_half_close_after_last_still_acknowledged(tern):
    """The client sends the whole transaction and shuts its side: the
    message is committed, the 250 still arrives, and it is delivered."""
    message = msg_of(20000, "half-close")
    with tern.connect() as c:
        start_txn(c)
        c.send(chunk(message[:7000]) + chunk(message[7000:], last=True))
        c.sock.shutdown(socket.SHUT_WR)
        c.expect(250, "2.0.0")
        qid = expect_ok_id(c.reply())
    check_delivered(tern, qid, message)


def test_many_sessions_interleaved(tern):
    """Twenty sessions, each with its message in chunks sent a few at a
    time in turn: the chunks of different sessions interleave in the
    journal, each message comes out whole."""
    rng = random.Random(20)
    sessions = []
    for k in range(20):
        c = tern.connect(timeout=30)
        start_txn(c)
        m = make_message(f"inter{k}", rng.randrange(1000, 60000), rng)
        stream, n = bdat_stream(m, [rng.choice([100, 1000, 7000])])
        sessions.append([c, m, stream, n, 0, []])
    try:
        active = list(sessions)
        while active:
            for s in list(active):
                c, m, stream, n, pos, reps = s
                step = rng.randrange(1, 5000)
                c.send(stream[pos:pos + step])
                s[4] = pos + step
                if s[4] >= len(stream):
                    active.remove(s)
        for s in sessions:
            c, m, stream, n, pos, reps = s
            for _ in range(n):
                reps.append(c.reply(timeout=30))
            s.append(expect_ok_id(reps[-1]))
    finally:
        for s in sessions:
            s[0].close()
    for s in sessions:
        check_delivered(tern, s[6], s[1])


# ---- Exim as a second, independent BDAT sender -----------------------------------------

EXIM_DEBS = ["exim4-daemon-light", "exim4-base"]
EXIM_DIR = Path(os.environ.get("TERN_EXIM_DIR", "/tmp/tern-test-exim"))


def exim_binary():
    """Debian's exim4 unpacked (not installed) under EXIM_DIR; None when
    it cannot be had."""
    exe = EXIM_DIR / "root" / "usr" / "sbin" / "exim4"
    if exe.exists():
        return exe
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        return None
    dl = EXIM_DIR / "deb"
    dl.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["apt-get", "download"] + EXIM_DEBS, cwd=dl,
                       capture_output=True, timeout=120, check=True)
        for deb in dl.glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb),
                            str(EXIM_DIR / "root")], check=True,
                           capture_output=True, timeout=60)
    except (subprocess.SubprocessError, OSError):
        return None
    return exe if exe.exists() else None


EXIM_CONF = """\
primary_hostname = exim.client.test
spool_directory = {spool}
log_file_path = {log}/%slog
trusted_users = root
keep_environment =
acl_not_smtp = acl_ok
begin acl
acl_ok:
  accept
begin routers
to_tern:
  driver = manualroute
  route_list = * 127.0.0.1 byname
  transport = tern_smtp
  self = send
begin transports
tern_smtp:
  driver = smtp
  port = {port}
  allow_localhost
  hosts_try_chunking = *
  hosts_avoid_tls = *
  hosts_avoid_pipelining =
begin retry
* * F,1m,1m
"""


def test_exim_sends_bdat(tern, tmp_path):
    """Debian's Exim (unpacked from its .deb, run from the tree in a
    private mount namespace that gives it its Debian-exim user) delivers
    through tern with CHUNKING: its log shows the K flag and the messages
    arrive with their bodies byte-exact."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("Exim test needs root and unshare(1) for a private "
                    "mount namespace")
    exe = exim_binary()
    if exe is None:
        pytest.skip("Debian's exim4 could not be downloaded/unpacked "
                    "(apt-get download exim4-daemon-light exim4-base)")
    # Exim delivers as Debian-exim (uid 65534 in the namespace): its
    # directories must be reachable for that user, tmp_path is not
    work = EXIM_DIR / f"run-{os.getpid()}-{time.monotonic_ns()}"
    (work / "spool").mkdir(parents=True)
    (work / "log").mkdir()
    for d in (EXIM_DIR, work):
        d.chmod(0o755)
    for d in (work / "spool", work / "log"):
        os.chown(d, 65534, 65534)
    request_cleanup = work
    passwd = work / "passwd"
    group = work / "group"
    passwd.write_text(Path("/etc/passwd").read_text() +
                      "Debian-exim:x:65534:65534::/nonexistent:"
                      "/usr/sbin/nologin\n")
    group.write_text(Path("/etc/group").read_text() + "Debian-exim:x:65534:\n")
    conf = work / "exim.conf"
    conf.write_text(EXIM_CONF.format(spool=work / "spool", log=work / "log",
                                     port=tern.port))
    rng = random.Random(4)
    bodies = []
    for k, size in enumerate([200, 9000, 300000, 2500000]):
        body = make_message(f"exim{k}", size, rng)
        # Exim adds its own headers; keep ours after a blank-line split
        bodies.append(body)
    # Exim re-executes itself as /usr/sbin/exim4: in the namespace a
    # directory holding only it is mounted over /usr/sbin
    sbin = work / "sbin"
    sbin.mkdir()
    shutil.copy2(exe, sbin / "exim4")
    script = (
        f"mount --bind {passwd} /etc/passwd && "
        f"mount --bind {group} /etc/group && "
        f"mount --bind {sbin} /usr/sbin && "
        + " && ".join(
            f"/usr/sbin/exim4 -C {conf} -odi -oi -f exim-sender@client.test "
            f"alice@localhost < {work}/m{k}"
            for k in range(len(bodies))))
    for k, b in enumerate(bodies):
        (work / f"m{k}").write_bytes(b.replace(b"\r\n", b"\n"))
    try:
        p = subprocess.run(["unshare", "-m", "sh", "-c", script],
                           capture_output=True, timeout=120)
        mainlog = (work / "log" / "mainlog")
        log = mainlog.read_text(errors="replace") if mainlog.exists() else ""
    finally:
        shutil.rmtree(request_cleanup, ignore_errors=True)
    if p.returncode != 0 and "=>" not in log:
        pytest.skip(f"Exim does not run here (exit {p.returncode}): "
                    f"{p.stderr.decode(errors='replace')[-500:]} {log[-500:]}")
    deliveries = [ln for ln in log.splitlines() if " => " in ln]
    assert len(deliveries) == len(bodies), log
    for ln in deliveries:
        assert " K " in ln, f"Exim did not use CHUNKING: {ln}"
        assert "C=\"250 2.0.0 OK id=" in ln, ln
    tern.sync()
    files = tern.mailbox("localhost", "alice")
    assert len(files) == len(bodies)
    got = {}
    for f in files:
        _, _, msg = split_delivered(f.read_bytes())
        head, _, body = msg.partition(b"\r\n\r\n")
        got[body] = head
    for b in bodies:
        head, _, body = b.partition(b"\r\n\r\n")
        assert body in got, f"body of {head[:60]!r} not delivered exactly"
        for line in head.split(b"\r\n"):
            assert line in got[body].split(b"\r\n"), (line, got[body][:500])
