"""
Relaying to smart hosts ([127.0.0.1]:PORT): the SMTP client against an
aiosmtpd sink (DATA, no CHUNKING), a second tern (CHUNKING: BDAT) and a
scripted peer that records the raw transcript and answers 4xx/5xx, drops
the connection or never answers at each step. States come from tern's log
(`<id> smtp out rcpt=<a> status=...`) and `ternctl queue show/list`.
"""
import random
import time

import pytest

from conftest import (HOSTNAME, dot_stuff, free_ports, port_listening,
                      split_delivered)
from relay_helpers import (Blackhole, AioSink, check_tern_trace, closed_port,
                           connector, message, out_events,
                           peers,  # noqa: F401 (fixture)
                           queue_block, queue_list, queue_rcpt_results,
                           relay_tern,  # noqa: F401 (fixture)
                           wait_state,
                           statuses, strip_trace, submit, submit_bdat, ctl,
                           wait_for, wait_gone, wait_out)

NO_CHUNKING = ("PIPELINING", "SIZE 10485760", "8BITMIME", "SMTPUTF8",
               "ENHANCEDSTATUSCODES")
CHUNKING = NO_CHUNKING + ("CHUNKING",)
RCPT = "user@other.example"

DOTTY_BODY = (b".\r\n..\r\n...\r\n.leading dot\r\n..two dots\r\n"
              b" .space dot\r\nmiddle . dot\r\n.\tdot tab\r\n\r\n.\r\n"
              b"line\r\n.")
DOTTY_BODY += b"\r\n"          # the text ends with a line that is a dot


def one_peer(relay_tern, peers, caps=NO_CHUNKING, script=None, linger=0.0,
             queue=None, spaces="*"):
    p = peers(caps=caps, script=script, linger=linger)
    kw = {"queue": queue} if queue else {}
    t = relay_tern(connector("smart", spaces, [p.port]), **kw)
    return t, p


def relayed_text(m, qid):
    """The message a peer got, without tern's Received header (checked)."""
    heads, rest = strip_trace(m.data)
    check_tern_trace(heads[0], qid)
    return rest


# ---- the DATA path ----------------------------------------------------------

def test_data_path_aiosmtpd(relay_tern):
    sink = AioSink()
    try:
        t = relay_tern(connector("smart", "*", [sink.port]))
        msg = message("aio", DOTTY_BODY)
        qid = submit(t, [RCPT, "second@other.example"], msg,
                     sender="from@client.test", params=f"SIZE={len(msg)}")
        env = sink.wait(1)[0]
        assert env.mail_from == "from@client.test"
        assert sorted(env.rcpt_tos) == sorted([RCPT, "second@other.example"])
        heads, rest = strip_trace(env.original_content)
        check_tern_trace(heads[0], qid)
        assert rest == msg
        # aiosmtpd offers SIZE, not 8BITMIME-needing text, no CHUNKING
        assert any(o.upper().startswith("SIZE=") for o in env.mail_options), \
            env.mail_options
        assert not any(o.upper().startswith("BODY=")
                       for o in env.mail_options), env.mail_options
        wait_out(t, qid, RCPT, "sent")
        wait_out(t, qid, "second@other.example", "sent")
        wait_gone(t, qid)
        assert len(sink.envelopes) == 1
    finally:
        sink.stop()


def test_dot_stuffing_byte_exact(relay_tern, peers):
    t, p = one_peer(relay_tern, peers)
    msg = message("dots", DOTTY_BODY)
    qid = submit(t, RCPT, msg)
    m = p.wait_messages(1)[0]
    assert m.how == "DATA"
    assert relayed_text(m, qid) == msg
    # on the wire: exactly the RFC 5321 4.5.2 transparency of the text
    assert bytes(m.wire) == dot_stuff(m.data)
    assert b"\r\n..\r\n" in m.wire and b"\r\n...\r\n" in m.wire
    assert bytes(m.wire).endswith(b"\r\n..\r\n.\r\n")
    wait_out(t, qid, RCPT, "sent")


def test_bdat_in_data_out_normalised(relay_tern, peers):
    """Text that came in by BDAT (no dot-stuffing, bare CR/LF, no final
    CRLF) goes out by DATA stuffed, with CRLF line ends and a CRLF added
    before the final dot: no line of it can end the DATA early."""
    t, p = one_peer(relay_tern, peers)
    msg = (b"Subject: bdat in\r\n\r\n.first\r\nbare lf\n.\nbare cr\r.x\r\n"
           b"\r\n.\r\nno final crlf")
    qid = submit_bdat(t, RCPT, msg, chunk=7)
    m = p.wait_messages(1)[0]
    wire = bytes(m.wire)
    assert b"\n" not in wire.replace(b"\r\n", b""), wire
    assert b"\r" not in wire.replace(b"\r\n", b""), wire
    assert wire == dot_stuff(m.data)
    assert relayed_text(m, qid) == (
        b"Subject: bdat in\r\n\r\n.first\r\nbare lf\r\n.\r\nbare cr\r\n.x\r\n"
        b"\r\n.\r\nno final crlf\r\n")


def test_pipelining_offered(relay_tern, peers):
    """With PIPELINING, MAIL and every RCPT come in one go (they are all
    there before the MAIL's reply); DATA waits for the RCPT replies."""
    t, p = one_peer(relay_tern, peers, linger=0.3)
    rcpts = ["a@other.example", "b@other.example", "c@other.example"]
    qid = submit(t, rcpts, message("pipe"))
    p.wait_messages(1)
    s = p.sessions[0]
    mail = s.lines("MAIL")[0]
    assert mail[2] == b"".join(f"RCPT TO:<{r}>\r\n".encode()
                               for r in rcpts), mail
    last_rcpt = s.lines("RCPT")[-1]
    assert last_rcpt[2] == b"", f"sent before the RCPT replies: {last_rcpt}"
    for r in rcpts:
        wait_out(t, qid, r, "sent")


def test_no_pipelining_lockstep(relay_tern, peers):
    """Without PIPELINING every command waits for the previous reply."""
    caps = [c for c in NO_CHUNKING if c != "PIPELINING"]
    t, p = one_peer(relay_tern, peers, caps=caps, linger=0.2)
    rcpts = ["a@other.example", "b@other.example", "c@other.example"]
    qid = submit(t, rcpts, message("lockstep"))
    m = p.wait_messages(1)[0]
    assert m.rcpts == rcpts
    s = p.sessions[0]
    for line, reply, pending in s.lines("MAIL") + s.lines("RCPT"):
        assert pending == b"", f"{line!r}: the client did not wait: " \
            f"{pending!r}"
    for r in rcpts:
        wait_out(t, qid, r, "sent")


def test_ehlo_name_and_envelope(relay_tern, peers):
    t, p = one_peer(relay_tern, peers)
    msg = message("env")
    qid = submit(t, [RCPT], msg, sender="Some.One@Client.Test")
    m = p.wait_messages(1)[0]
    s = p.sessions[0]
    assert s.ehlo == HOSTNAME
    assert s.verbs()[0] == "EHLO"
    assert m.mail_from == "Some.One@Client.Test"
    assert m.rcpts == [RCPT]
    wait_out(t, qid, RCPT, "sent")
    # the QUIT after the transaction
    p.wait_sessions(1, closed=True)
    assert s.verbs()[-1] == "QUIT", s.verbs()


def test_null_sender_relayed(relay_tern, peers):
    t, p = one_peer(relay_tern, peers)
    qid = submit(t, RCPT, message("bounce"), sender="")
    m = p.wait_messages(1)[0]
    assert m.mail_from == ""
    wait_out(t, qid, RCPT, "sent")


# ---- SIZE -------------------------------------------------------------------

@pytest.mark.parametrize("declared", [True, False],
                         ids=["client-declared", "undeclared"])
def test_size_sent(relay_tern, peers, declared):
    """SIZE= goes with MAIL when the peer offers SIZE, and it is not less
    than the octets that follow (RFC 1870: tern's Received header and the
    message); tern knows that size once the message is queued, whether or
    not its client declared one."""
    t, p = one_peer(relay_tern, peers)
    msg = message("size", (b"x" * 70 + b"\r\n") * 40)
    qid = submit(t, RCPT, msg, params=f"SIZE={len(msg)}" if declared else "")
    m = p.wait_messages(1)[0]
    sizes = [w for w in m.mail_params if w.upper().startswith("SIZE=")]
    assert sizes, f"no SIZE= in MAIL: {m.mail_params}"
    # what tern sends is its Received header and the message
    assert int(sizes[0][5:]) >= len(m.data), \
        f"declared {sizes[0]}, sent {len(m.data)} octets"
    wait_out(t, qid, RCPT, "sent")


def test_no_size_param_without_extension(relay_tern, peers):
    caps = [c for c in NO_CHUNKING if not c.startswith("SIZE")]
    t, p = one_peer(relay_tern, peers, caps=caps)
    msg = message("nosize")
    submit(t, RCPT, msg, params=f"SIZE={len(msg)}")
    m = p.wait_messages(1)[0]
    assert not any(w.upper().startswith("SIZE=") for w in m.mail_params)


@pytest.mark.parametrize("declared", [True, False],
                         ids=["client-declared", "undeclared"])
def test_peer_size_limit(relay_tern, peers, declared):
    """A message larger than the peer's SIZE fails 5.3.4 before MAIL."""
    t, p = one_peer(relay_tern, peers, caps=("PIPELINING", "SIZE 2000",
                                             "ENHANCEDSTATUSCODES"))
    msg = message("big", (b"y" * 70 + b"\r\n") * 70)
    qid = submit(t, RCPT, msg, params=f"SIZE={len(msg)}" if declared else "")
    e = wait_out(t, qid, RCPT, "failed")
    assert "5.3.4" in e[3], e
    wait_gone(t, qid)
    assert p.all_messages(accepted=False) == []
    assert all(s.lines("MAIL") == [] for s in p.sessions), p.describe()


# ---- 8BITMIME and SMTPUTF8 --------------------------------------------------

EIGHT_BIT = message("8bit", "Grüße, ça va? \u00e9t\u00e9\r\n".encode())


def test_8bit_to_peer_without_8bitmime_fails(relay_tern, peers):
    caps = ("PIPELINING", "SIZE 10485760", "ENHANCEDSTATUSCODES")
    t, p = one_peer(relay_tern, peers, caps=caps)
    qid = submit(t, RCPT, EIGHT_BIT, params="BODY=8BITMIME")
    e = wait_out(t, qid, RCPT, "failed")
    assert e[3].startswith("554 5.6.3"), e
    wait_gone(t, qid)
    # nothing but the failure report (from <>) to the sender
    assert all(ln[0].startswith("MAIL FROM:<> ")
               for s in p.sessions for ln in s.lines("MAIL")), p.describe()


def test_8bit_to_peer_with_8bitmime(relay_tern, peers):
    t, p = one_peer(relay_tern, peers)
    qid = submit(t, RCPT, EIGHT_BIT, params="BODY=8BITMIME")
    m = p.wait_messages(1)[0]
    assert "BODY=8BITMIME" in [w.upper() for w in m.mail_params]
    assert relayed_text(m, qid) == EIGHT_BIT
    wait_out(t, qid, RCPT, "sent")


@pytest.mark.parametrize("params", ["", "BODY=7BIT"])
def test_7bit_gets_no_body_param(relay_tern, peers, params):
    t, p = one_peer(relay_tern, peers)
    submit(t, RCPT, message("7bit"), params=params)
    m = p.wait_messages(1)[0]
    assert not any(w.upper().startswith("BODY=8") for w in m.mail_params), \
        m.mail_params


def test_smtputf8_to_peer_without_it_fails(relay_tern, peers):
    caps = ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES")
    t, p = one_peer(relay_tern, peers, caps=caps)
    rcpt = "jürgen@other.example"
    qid = submit(t, rcpt, EIGHT_BIT, sender="zoë@client.test",
                 params="SMTPUTF8 BODY=8BITMIME")
    e = wait_out(t, qid, rcpt, "failed")
    assert "5.6.7" in e[3], e
    assert all(s.lines("MAIL") == [] for s in p.sessions), p.describe()


def test_smtputf8_to_peer_with_it(relay_tern, peers):
    t, p = one_peer(relay_tern, peers)
    rcpt = "jürgen@other.example"
    qid = submit(t, rcpt, EIGHT_BIT, sender="zoë@client.test",
                 params="SMTPUTF8 BODY=8BITMIME")
    m = p.wait_messages(1)[0]
    assert "SMTPUTF8" in [w.upper() for w in m.mail_params]
    assert m.mail_from == "zoë@client.test" and m.rcpts == [rcpt]
    wait_out(t, qid, rcpt, "sent")


# ---- BDAT -------------------------------------------------------------------

def big_message(tag, size, seed=4):
    rng = random.Random(seed)
    lines = [f"Subject: {tag}".encode(), b"From: a@client.test", b""]
    n = sum(len(x) + 2 for x in lines)
    k = 0
    while n < size:
        k += 1
        if k % 11 == 0:
            line = b"."
        elif k % 7 == 0:
            line = b".." + bytes(rng.choice(b"abcdef .") for _ in range(40))
        else:
            line = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123 .-")
                         for _ in range(rng.randrange(0, 78)))
        lines.append(line)
        n += len(line) + 2
    return b"\r\n".join(lines) + b"\r\n"


def test_bdat_to_scripted_peer_chunks(relay_tern, peers):
    """CHUNKING offered: BDAT chunks of 16 KiB, LAST on the final one, the
    text as stored (no dot-stuffing), no DATA."""
    t, p = one_peer(relay_tern, peers, caps=CHUNKING)
    msg = big_message("chunks", 60_000)
    qid = submit(t, RCPT, msg)
    m = p.wait_messages(1)[0]
    assert m.how == "BDAT"
    assert relayed_text(m, qid) == msg
    sizes = [c[0] for c in m.chunks]
    lasts = [c[1] for c in m.chunks]
    assert len(sizes) == (len(m.data) + 16383) // 16384, sizes
    assert all(sz == 16384 for sz in sizes[:-1]) and 0 < sizes[-1] <= 16384
    assert lasts == [False] * (len(sizes) - 1) + [True]
    assert "DATA" not in p.sessions[0].verbs()
    wait_out(t, qid, RCPT, "sent")


def test_bdat_small_single_chunk(relay_tern, peers):
    t, p = one_peer(relay_tern, peers, caps=CHUNKING)
    msg = message("small", DOTTY_BODY)
    qid = submit(t, RCPT, msg)
    m = p.wait_messages(1)[0]
    assert m.chunks == [(len(m.data), True)]
    assert bytes(m.wire) == f"BDAT {len(m.data)} LAST\r\n".encode() + m.data
    assert relayed_text(m, qid) == msg


@pytest.mark.parametrize("size", [800, 16_000, 100_000])
def test_tern_to_tern_bdat(tern_factory, relay_tern, size):
    """tern -> tern: the second one offers CHUNKING, so BDAT; the message
    arrives byte for byte in its drop directory."""
    t2 = tern_factory(global_="domain other.example {\n    mailbox dave\n}\n",
                      name="far")
    with t2.connect() as c:
        r = c.cmd("EHLO probe.test", 250)
        assert "CHUNKING" in r.lines, r
    t1 = relay_tern(connector("far", "other.example", [t2.port]),
                    name="near")
    msg = big_message(f"t2t-{size}", size)
    qid = submit(t1, "dave@other.example", msg)
    files = t2.wait_delivered(1)
    assert len(files) == 1
    _, recv2, rest = split_delivered(files[0].read_bytes())
    assert f"from {HOSTNAME} ([127.0.0.1])".encode() in recv2, recv2
    heads, text = strip_trace(rest)
    check_tern_trace(heads[0], qid)
    assert text == msg
    e = wait_out(t1, qid, "dave@other.example", "sent")
    assert "OK id=" in e[3], e
    wait_gone(t1, qid)


# ---- the scripted peer: failures at each step -------------------------------

FAIL_CASES = [
    # id, caps, script, expected status, text in the reply/reason
    ("greeting-421", NO_CHUNKING, {"greeting": "421 4.3.2 busy"},
     "deferred", "greeting refused"),
    ("greeting-554", NO_CHUNKING, {"greeting": "554 5.7.1 go away"},
     "deferred", "greeting refused"),
    ("greeting-drop", NO_CHUNKING, {"greeting": "drop"},
     "deferred", "closed by the peer"),
    ("greeting-hang", NO_CHUNKING, {"greeting": "hang"},
     "deferred", "timed out"),
    ("ehlo-421", NO_CHUNKING, {"ehlo": "421 4.3.2 closing"},
     "deferred", "EHLO/HELO refused"),
    ("ehlo-helo-5xx", NO_CHUNKING, {"ehlo": "500 5.5.2 what",
                                    "helo": "501 5.5.4 nope"},
     "deferred", "EHLO/HELO refused"),
    ("mail-451", NO_CHUNKING, {"mail": "451 4.3.0 try later"},
     "deferred", "451 4.3.0 try later"),
    ("mail-553", NO_CHUNKING, {"mail": "553 5.7.1 sender refused"},
     "failed", "553 5.7.1 sender refused"),
    ("mail-hang", NO_CHUNKING, {"mail": "hang"}, "deferred", "timed out"),
    ("rcpt-450", NO_CHUNKING, {"rcpt": "450 4.2.1 mailbox busy"},
     "deferred", "450 4.2.1 mailbox busy"),
    ("rcpt-550", NO_CHUNKING, {"rcpt": "550 5.1.1 no such user"},
     "failed", "550 5.1.1 no such user"),
    ("data-451", NO_CHUNKING, {"data": "451 4.3.0 no data now"},
     "deferred", "451 4.3.0 no data now"),
    ("data-554", NO_CHUNKING, {"data": "554 5.5.1 no data ever"},
     "failed", "554 5.5.1 no data ever"),
    ("dot-452", NO_CHUNKING, {"dot": "452 4.3.1 disk full"},
     "deferred", "452 4.3.1 disk full"),
    ("dot-554", NO_CHUNKING, {"dot": "554 5.7.1 spam"},
     "failed", "554 5.7.1 spam"),
    ("dot-drop", NO_CHUNKING, {"dot": "drop"},
     "deferred", "closed by the peer"),
    ("dot-hang", NO_CHUNKING, {"dot": "hang"}, "deferred", "timed out"),
    ("mid-data-drop", NO_CHUNKING, {"data_body": ("drop", 2000)},
     "deferred", ""),
    ("mid-data-hang", NO_CHUNKING, {"data_body": ("hang", 2000)},
     "deferred", "timed out"),
    ("bdat-last-451", CHUNKING, {"bdat_last": "451 4.3.0 later"},
     "deferred", "451 4.3.0 later"),
    ("bdat-last-554", CHUNKING, {"bdat_last": "554 5.6.0 bad text"},
     "failed", "554 5.6.0 bad text"),
    ("bdat-first-552", CHUNKING, {"bdat": "552 5.3.4 too much"},
     "failed", "552 5.3.4 too much"),
    ("mid-bdat-drop", CHUNKING, {"bdat_body": ("drop", 20000)},
     "deferred", ""),
    ("mid-bdat-hang", CHUNKING, {"bdat_body": ("hang", 20000)},
     "deferred", "timed out"),
]


@pytest.mark.parametrize("caps,script,status,text",
                         [c[1:] for c in FAIL_CASES],
                         ids=[c[0] for c in FAIL_CASES])
def test_peer_failure(relay_tern, peers, caps, script, status, text):
    """One recipient, one answer from the peer at one step; deferred
    recipients stay queued with the reason as last reply, failed ones end
    the message."""
    t, p = one_peer(relay_tern, peers, caps=caps, script=script,
                    queue=queue_block(retry="1h", connect="1s", reply="1s"))
    msg = big_message("fail", 60_000)
    qid = submit(t, RCPT, msg)
    e = wait_out(t, qid, RCPT, status, timeout=8)
    assert text in e[3], e
    assert p.all_messages() == [], "the peer accepted the message"
    if status == "failed":
        wait_gone(t, qid)
        res = queue_rcpt_results(t, qid)
        assert res[0][0] == "failed" and text in res[0][1], res
    else:
        info = wait_state(t, qid, {RCPT: "deferred"})
        assert info["rcpts"] == {RCPT: "deferred"}, info["text"]
        assert text in info["last-reply"], info["text"]
        assert info["next-retry"] != "-", info["text"]
        rows = queue_list(t)
        assert [r["id"] for r in rows] == [qid]
        assert (rows[0]["done"], rows[0]["nrcpt"]) == (0, 1)
    assert statuses(t, qid) == [status], out_events(t, qid)


def test_ehlo_refused_helo_fallback(relay_tern, peers):
    """EHLO 5xx: HELO, then plain SMTP: no extensions, no SIZE=, DATA."""
    t, p = one_peer(relay_tern, peers, caps=CHUNKING,
                    script={"ehlo": "502 5.5.1 EHLO not implemented"})
    msg = message("helo", DOTTY_BODY)
    qid = submit(t, RCPT, msg, params=f"SIZE={len(msg)}")
    m = p.wait_messages(1)[0]
    s = p.sessions[0]
    assert s.verbs()[:3] == ["EHLO", "HELO", "MAIL"], s.verbs()
    assert s.ehlo == HOSTNAME
    assert m.how == "DATA" and m.mail_params == []
    assert relayed_text(m, qid) == msg
    wait_out(t, qid, RCPT, "sent")


def test_recipient_mix_then_retry(relay_tern, peers):
    """Per recipient: 250 sent, 450 deferred, 550 failed; the retry sends
    only the deferred one; the message is then done."""
    first = {"rcpt": {"a@other.example": "250 2.1.5 ok",
                      "b@other.example": "450 4.2.1 try b later",
                      "c@other.example": "550 5.1.1 no c here"}}
    t, p = one_peer(relay_tern, peers, script=[first, {}],
                    queue=queue_block(retry="2s"))
    rcpts = ["a@other.example", "b@other.example", "c@other.example"]
    msg = message("mix")
    qid = submit(t, rcpts, msg)
    wait_out(t, qid, "a@other.example", "sent")
    wait_out(t, qid, "b@other.example", "deferred")
    e = wait_out(t, qid, "c@other.example", "failed")
    assert "550 5.1.1 no c here" in e[3]
    wait_state(t, qid, {"a@other.example": "delivered",
                        "b@other.example": "deferred",
                        "c@other.example": "failed"})
    # each recipient's result keeps its own reply (the DSN issue needs it)
    # (checked at the end, after the retry)
    res = queue_rcpt_results(t, qid)
    rows = queue_list(t)
    assert [(r["id"], r["done"], r["nrcpt"]) for r in rows] == \
        [(qid, 2, 3)], rows
    wait_out(t, qid, "b@other.example", "sent", timeout=8)
    wait_gone(t, qid)
    # c's failure report (from <>) goes to the sender through the peer too
    wait_for(lambda: any(m.mail_from == "" for m in p.all_messages()))
    msgs = [m for m in p.all_messages() if m.mail_from != ""]
    assert [m.rcpts for m in p.all_messages() if m.mail_from == ""] == \
        [["sender@client.test"]]
    assert [m.rcpts for m in msgs] == [["a@other.example"],
                                       ["b@other.example"]]
    retried = [ln[0] for s in p.sessions[1:] for ln in s.lines("RCPT")
               if ln[0] != "RCPT TO:<sender@client.test>"]
    assert retried == ["RCPT TO:<b@other.example>"]
    for m in msgs:
        assert relayed_text(m, qid) == msg
    assert statuses(t, qid, "a@other.example") == ["sent"]
    assert statuses(t, qid, "c@other.example") == ["failed"]
    assert res[0] == ("delivered", ""), res
    assert res[2][0] == "failed" and "550 5.1.1 no c here" in res[2][1], res
    assert res[1][0] == "deferred" and "450 4.2.1 try b later" in res[1][1], \
        f"the deferred recipient's reason is another one's reply: {res}"


@pytest.mark.parametrize("first", [
    {"rcpt": "451 4.7.1 greylisted, come back later"},
    {"greeting": "421 4.3.2 too busy"},
    {"data_body": ("drop", 3000)},
    {"bdat_body": ("drop", 3000)},
], ids=["greylist", "busy", "drop-mid-data", "drop-mid-bdat"])
def test_retry_after_recovery(relay_tern, peers, first):
    """The peer fails the first attempt; the retry (2 s) delivers exactly
    one copy, byte for byte."""
    caps = CHUNKING if "bdat_body" in first else NO_CHUNKING
    t, p = one_peer(relay_tern, peers, caps=caps, script=[first, {}],
                    queue=queue_block(retry="2s"))
    msg = big_message("retry", 40_000)
    qid = submit(t, RCPT, msg)
    wait_out(t, qid, RCPT, "deferred")
    wait_out(t, qid, RCPT, "sent", timeout=10)
    wait_gone(t, qid)
    msgs = p.all_messages()
    assert len(msgs) == 1
    assert relayed_text(msgs[0], qid) == msg
    assert statuses(t, qid) == ["deferred", "sent"]


def test_flush_retries_now(relay_tern, peers):
    """`ternctl queue flush` retries a deferred message before its time."""
    t, p = one_peer(relay_tern, peers,
                    script=[{"mail": "421 4.3.2 later"}, {}],
                    queue=queue_block(retry="1h"))
    qid = submit(t, RCPT, message("flush"))
    wait_out(t, qid, RCPT, "deferred")
    time.sleep(1.2)
    assert p.all_messages() == [] and len(p.sessions) == 1
    assert "ok" in ctl(t, "queue", "flush")
    wait_out(t, qid, RCPT, "sent", timeout=5)
    wait_gone(t, qid)


def test_expiry_fails_deferred(relay_tern, peers):
    """Past `expire` the deferred recipient fails with the last reason."""
    t, p = one_peer(relay_tern, peers,
                    script={"rcpt": "451 4.3.0 never today"},
                    queue=queue_block(retry="1s", expire="3s"))
    t0 = time.monotonic()
    qid = submit(t, RCPT, message("expire"))
    wait_out(t, qid, RCPT, "deferred")
    wait_state(t, qid, {RCPT: "deferred"})
    res = wait_for(lambda: queue_rcpt_results(t, qid).get(0, ("",))[0]
                   == "failed" and queue_rcpt_results(t, qid), 10)
    assert res, f"not failed after expiry: {queue_rcpt_results(t, qid)}"
    elapsed = time.monotonic() - t0
    assert elapsed >= 1.9, f"failed after {elapsed:.1f} s, before expiry"
    assert "451 4.3.0 never today" in res[0][1], res
    wait_gone(t, qid)
    assert len(p.sessions) >= 2, "no retry before expiry"


def test_expiry_with_peer_down(relay_tern):
    port = closed_port()
    t = relay_tern(connector("smart", "*", [port]),
                   queue=queue_block(retry="1s", expire="2s"))
    qid = submit(t, RCPT, message("down"))
    e = wait_out(t, qid, RCPT, "deferred")
    assert "connection refused" in e[3], e
    assert wait_for(lambda: queue_rcpt_results(t, qid).get(0, ("",))[0]
                    == "failed", 10), queue_rcpt_results(t, qid)
    wait_gone(t, qid)


# ---- several smart hosts ----------------------------------------------------

def test_second_smarthost_when_first_refuses(relay_tern, peers):
    p = peers()
    dead = closed_port()
    t = relay_tern(connector("smart", "*", [dead, p.port]))
    qid = submit(t, RCPT, message("second"))
    p.wait_messages(1)
    wait_out(t, qid, RCPT, "sent")
    assert f"{qid} smtp out host=127.0.0.1 connection refused" in t.log(), \
        t.log()


def test_second_smarthost_when_first_greets_421(relay_tern, peers):
    p1 = peers(script={"greeting": "421 4.3.2 not now"})
    p2 = peers()
    t = relay_tern(connector("smart", "*", [p1.port, p2.port]))
    qid = submit(t, RCPT, message("second421"))
    p2.wait_messages(1)
    wait_out(t, qid, RCPT, "sent")
    assert len(p1.sessions) == 1 and p1.all_messages() == []
    assert statuses(t, qid) == ["sent"]


def test_second_smarthost_when_first_does_not_answer(relay_tern, peers):
    """A host whose SYNs go unanswered: `timeout connect` (1 s), then the
    next smart host."""
    hole = Blackhole()
    try:
        if not hole.works():
            pytest.skip("cannot make a loopback listener drop SYNs here")
        p = peers()
        t = relay_tern(connector("smart", "*", [hole.port, p.port]),
                       queue=queue_block(connect="1s"))
        t0 = time.monotonic()
        qid = submit(t, RCPT, message("hole"))
        p.wait_messages(1, timeout=10)
        assert time.monotonic() - t0 >= 0.8
        wait_out(t, qid, RCPT, "sent")
        assert "timed out" in t.log(), t.log()
    finally:
        hole.close()


def test_all_smarthosts_down_deferred(relay_tern):
    t = relay_tern(connector("smart", "*", [closed_port(), closed_port()]),
                   queue=queue_block(retry="1h"))
    qid = submit(t, RCPT, message("alldown"))
    e = wait_out(t, qid, RCPT, "deferred")
    assert "connection refused" in e[3], e
    wait_state(t, qid, {RCPT: "deferred"})


def test_mixed_local_and_relay_recipients(relay_tern, peers):
    """One message: a local mailbox gets its copy in the drop directory,
    the remote recipient goes to the smart host."""
    t, p = one_peer(relay_tern, peers)
    msg = message("mixed")
    qid = submit(t, ["bob@localhost", RCPT], msg)
    m = p.wait_messages(1)[0]
    assert m.rcpts == [RCPT]
    files = t.wait_delivered(1)
    assert len(files) == 1 and files[0].parent.parent.name == "bob"
    wait_out(t, qid, RCPT, "sent")
    wait_gone(t, qid)


def test_many_recipients_one_transaction(relay_tern, peers):
    t, p = one_peer(relay_tern, peers)
    rcpts = [f"u{k}@other.example" for k in range(30)]
    qid = submit(t, rcpts, message("many"))
    m = p.wait_messages(1)[0]
    assert m.rcpts == rcpts
    for r in rcpts:
        wait_out(t, qid, r, "sent")
    assert len(p.sessions) == 1


# ---- load and synchronous outcomes ------------------------------------------

def test_more_messages_than_client_sessions(relay_tern, peers):
    """More messages at once than the build's outbound sessions
    (CONFIG_DSCHED_JOBS, 16 here) all get through, none deferred for want
    of a session; tern stays up."""
    t, p = one_peer(relay_tern, peers, linger=0.05)
    n = 40
    qids = []
    with t.connect() as c:
        for k in range(n):
            c.cmd("MAIL FROM:<load@client.test>", 250)
            c.cmd(f"RCPT TO:<u{k}@other.example>", 250)
            c.cmd("DATA", 354)
            c.send(dot_stuff(message(f"load{k}")))
            r = c.reply(timeout=10).check(250)
            qids.append(r.text.split("id=")[1])
        c.cmd("QUIT", 221)
    wait_for(lambda: len(p.all_messages()) >= n or not t.alive(), 30)
    assert t.alive(), f"tern died after {len(p.all_messages())} of {n}"
    assert sorted(r for m in p.all_messages() for r in m.rcpts) == \
        sorted(f"u{k}@other.example" for k in range(n))
    for q in qids:
        wait_gone(t, q)
    assert "no outbound connection free" not in t.log()
    assert all(statuses(t, q) == ["sent"] for q in qids)


def test_named_smarthost_without_dns_defers(relay_tern):
    """A smart host by name needs DNS; with an unreachable resolver the
    recipient is deferred (and tern stays up)."""
    dead = closed_port()
    t = relay_tern(connector("named", "*", ["relay.tern-test.example:25"]),
                   queue=queue_block(retry="1h"),
                   extra=f"resolver 127.0.0.1:{dead}")
    qid = submit(t, RCPT, message("named"))
    wait_out(t, qid, RCPT, "deferred", timeout=15)
    wait_state(t, qid, {RCPT: "deferred"})
    time.sleep(0.5)
    assert t.alive(), "tern died"
    assert statuses(t, qid) == ["deferred"], out_events(t, qid)


def test_several_messages_over_one_connection(relay_tern, peers):
    """Messages waiting for the same destination go over one connection
    (one transaction each) when they become due together."""
    port = closed_port()
    t = relay_tern(connector("smart", "*", [port]),
                   queue=queue_block(retry="1h"))
    qids = [submit(t, f"u{k}@other.example", message(f"batch{k}"))
            for k in range(3)]
    for k, q in enumerate(qids):
        wait_state(t, q, {f"u{k}@other.example": "deferred"})
    p = peers(port=port)
    ctl(t, "queue", "flush")
    p.wait_messages(3)
    for k, q in enumerate(qids):
        wait_out(t, q, f"u{k}@other.example", "sent")
    assert len(p.sessions) == 1, \
        f"{len(p.sessions)} connections for 3 messages:\n{p.describe()}"
    assert p.sessions[0].verbs().count("MAIL") == 3


def test_connections_per_destination_limited(relay_tern, peers):
    """`max-connections 4 per-destination 1`: never two sessions at once
    to the one smart host."""
    p = peers(script={"greeting": lambda sess, arg: (
        time.sleep(0.3), "220 slow.peer.test ESMTP")[1]})
    t = relay_tern(connector("smart", "*", [p.port],
                             extra=["max-connections 4 per-destination 1"]))
    qids = [submit(t, f"u{k}@other.example", message(f"conc{k}"))
            for k in range(4)]
    wait_for(lambda: len(p.all_messages()) >= 4 or not t.alive(), 15)
    assert len(p.all_messages()) == 4, p.describe()
    assert p.max_active == 1, f"{p.max_active} sessions at once"
    for k, q in enumerate(qids):
        assert statuses(t, q) == ["sent"], out_events(t, q)


def test_mail_loop_to_self_ends(relay_tern):
    """A smart host that is tern itself: each hop adds a Received header
    until max-hops refuses it (554 5.4.6), which fails the last copy."""
    port = free_ports(1)[0]
    t = relay_tern(connector("self", "*", [port]),
                   server=f"relay allow 127.0.0.1/32\nmax-hops 5\n"
                          f"listen 127.0.0.1:{port}",
                   queue=queue_block(retry="1h"))
    assert wait_for(lambda: port_listening(port), 5)
    submit(t, "loop@other.example", message("loop"))
    assert wait_for(lambda: "554 5.4.6" in t.log() and
                    "status=failed" in t.log(), 15), t.log()[-3000:]
    assert wait_for(lambda: queue_list(t) == [], 10), queue_list(t)
    # the failure report loops the same way, then (from <>) goes to badmail
    assert wait_for(lambda: list(t.badmail.glob("*.eml")), 10), t.log()
    assert t.log().count("status=sent") <= 12
