"""
8BITMIME, BINARYMIME and 7bit conversion end to end (RFC 6152, RFC 3030):
the server's BODY=BINARYMIME (only with BDAT), and the relay client
against scripted peers with and without 8BITMIME / BINARYMIME and against
Debian's Postfix told not to offer 8BITMIME. Every sample message of
mime_samples.py (the hostile ones included) is relayed to a peer without
8BITMIME: converted ones must decode to exactly the original (Python's
email package: every leaf's payload bytes, structure, non-CTE headers),
clean ones arrive unchanged, impossible ones fail with 5.6.3.
"""
import re

import pytest

from mime_samples import SAMPLES, leaves, non_cte_headers, structure
from test_mime import golden
from relay_helpers import (PostfixPeer, check_tern_trace, closed_port,
                           connector, queue_rcpt_results, wait_state,
                           peers,  # noqa: F401 (fixture)
                           relay_tern,  # noqa: F401 (fixture)
                           strip_trace, submit, submit_bdat, wait_for,
                           wait_gone, wait_out)

BASE = ("PIPELINING", "SIZE 10485760", "ENHANCEDSTATUSCODES")
NO_8BIT = BASE                                  # DATA, no 8BITMIME
NO_8BIT_CHUNKING = BASE + ("CHUNKING",)
WITH_8BIT = BASE + ("8BITMIME", "CHUNKING")     # but no BINARYMIME
WITH_BINARY = WITH_8BIT + ("BINARYMIME",)
RCPT = "user@other.example"


def params_of(m):
    return " ".join(m.mail_params).upper()


def is_7bit(data):
    lines = data.split(b"\r\n")
    return all(b"\r" not in l and b"\n" not in l and len(l) <= 998 and
               all(0 < b < 128 for b in l) for l in lines)


def start_peer(relay_tern, peers, caps):
    p = peers(caps=caps)
    t = relay_tern(connector("smart", "*", [p.port]))
    return t, p


def relayed(p, qid, n=1):
    ms = p.wait_messages(n)
    m = [x for x in ms if f"id {qid}".encode() in x.data[:400]]
    assert m, [x.data[:300] for x in ms]
    heads, rest = strip_trace(m[0].data)
    check_tern_trace(heads[0], qid)
    return m[0], rest


def same_content(converted, original):
    assert leaves(converted) == leaves(original)
    assert structure(converted) == structure(original)
    assert non_cte_headers(converted) == non_cte_headers(original)


# ---- the server ---------------------------------------------------------

def assert_exact_size(m):
    """RFC 1870: SIZE= on MAIL is the size of the text sent, exactly."""
    size = re.search(r"SIZE=(\d+)", params_of(m))
    assert size and int(size.group(1)) == len(m.data), (params_of(m),
                                                        len(m.data))


def test_ehlo_offers_binarymime_with_chunking(tern):
    with tern.connect(ehlo=None) as c:
        r = c.cmd("EHLO client.test", 250)
        kws = [l.split()[0].upper() for l in r.lines[1:]]
        assert "CHUNKING" in kws and "BINARYMIME" in kws, kws
        assert kws.index("BINARYMIME") == kws.index("CHUNKING") + 1


def test_binarymime_refuses_data(tern):
    with tern.connect() as c:
        c.cmd("MAIL FROM:<a@client.test> BODY=BINARYMIME", 250)
        c.cmd("RCPT TO:<postmaster@localhost>", 250)
        # RFC 3030 3: DATA MUST NOT be used; nothing changes
        c.cmd("DATA", 503, "5.5.1")
        c.send(b"BDAT 5 LAST\r\nab\x00\rc")
        c.reply(timeout=10).check(250)
        c.cmd("MAIL FROM:<a@client.test> BODY=binarymime BODY=8BITMIME", 501,
              "5.5.4")
        c.cmd("MAIL FROM:<a@client.test> BODY=BINARY", 501, "5.5.4")


# ---- the relay client -----------------------------------------------------

def test_binarymime_to_binarymime_peer_is_byte_exact(relay_tern, peers):
    t, p = start_peer(relay_tern, peers, WITH_BINARY)
    msg = SAMPLES["multipart_text_binary"][0]
    qid = submit_bdat(t, RCPT, msg, params="BODY=BINARYMIME", chunk=100)
    wait_out(t, qid, RCPT, "sent")
    m, rest = relayed(p, qid)
    assert "BODY=BINARYMIME" in params_of(m)
    assert m.how == "BDAT"
    assert rest == msg


def test_binarymime_to_8bitmime_peer_is_converted(relay_tern, peers):
    t, p = start_peer(relay_tern, peers, WITH_8BIT)
    msg = SAMPLES["multipart_text_binary"][0]
    qid = submit_bdat(t, RCPT, msg, params="BODY=BINARYMIME")
    wait_out(t, qid, RCPT, "sent")
    m, rest = relayed(p, qid)
    params = params_of(m)
    assert "BODY=7BIT" in params, params
    assert_exact_size(m)
    assert is_7bit(m.data)
    same_content(rest, msg)


def test_8bitmime_to_8bitmime_peer_unchanged(relay_tern, peers):
    t, p = start_peer(relay_tern, peers, WITH_8BIT)
    msg = SAMPLES["rfc822_8bit"][0]
    qid = submit(t, RCPT, msg, params="BODY=8BITMIME")
    wait_out(t, qid, RCPT, "sent")
    m, rest = relayed(p, qid)
    assert "BODY=8BITMIME" in params_of(m)
    assert rest == msg


def test_8bitmime_to_plain_peer_over_data(relay_tern, peers):
    t, p = start_peer(relay_tern, peers, NO_8BIT)
    msg = SAMPLES["rfc822_8bit"][0]
    qid = submit(t, RCPT, msg, params="BODY=8BITMIME")
    wait_out(t, qid, RCPT, "sent")
    m, rest = relayed(p, qid)
    assert m.how == "DATA" and "BODY" not in params_of(m)
    assert_exact_size(m)
    assert is_7bit(m.data)
    assert b"Content-Transfer-Encoding: quoted-printable" in rest
    same_content(rest, msg)


def test_7bit_declared_is_trusted(relay_tern, peers):
    """A message declared 7BIT (or without BODY=) goes as it is, 8-bit
    octets and all: tern does not scan what the client vouched for."""
    t, p = start_peer(relay_tern, peers, NO_8BIT)
    msg = SAMPLES["text_8bit"][0]
    qid = submit(t, RCPT, msg)
    wait_out(t, qid, RCPT, "sent")
    m, rest = relayed(p, qid)
    assert "BODY" not in params_of(m)
    assert rest == msg


def test_impossible_fails_with_5_6_3(relay_tern, peers):
    t, p = start_peer(relay_tern, peers, NO_8BIT_CHUNKING)
    msg = SAMPLES["not_mime_8bit"][0]
    qid = submit(t, [RCPT, "second@other.example"], msg,
                 params="BODY=8BITMIME")
    for r in (RCPT, "second@other.example"):
        e = wait_out(t, qid, r, "failed")
        assert e[3].startswith("554 5.6.3 conversion to 7bit impossible: "
                               "8-bit data in a message that is not MIME"), e
    wait_gone(t, qid)
    # the peer sees at most the failure report (from <>), never the message
    assert not [m for m in p.all_messages(accepted=False) if m.mail_from]
    assert not any("<sender@" in c[0] for s in p.sessions
                   for c in s.lines("MAIL"))


@pytest.mark.parametrize("caps", [NO_8BIT, NO_8BIT_CHUNKING],
                         ids=["data", "bdat"])
def test_every_sample_to_a_peer_without_8bitmime(relay_tern, peers, caps):
    t, p = start_peer(relay_tern, peers, caps)
    qids = {}
    for name, (msg, _) in sorted(SAMPLES.items()):
        qids[name] = submit_bdat(t, RCPT, msg, params="BODY=BINARYMIME",
                                 chunk=997)
    verdicts = {name: golden(name)[0] for name in SAMPLES}
    n_sent = sum(1 for v in verdicts.values() if v != "impossible")
    p.wait_messages(n_sent, timeout=30)
    for name, (msg, _) in sorted(SAMPLES.items()):
        qid = qids[name]
        verdict = verdicts[name]
        if verdict == "impossible":
            e = wait_out(t, qid, RCPT, "failed")
            assert e[3].startswith("554 5.6.3 conversion to 7bit "
                                   "impossible: "), (name, e)
            continue
        wait_out(t, qid, RCPT, "sent")
        m, rest = relayed(p, qid, n_sent)
        assert "BODY" not in params_of(m), (name, m.mail_params)
        if verdict == "clean":
            assert rest == msg, name        # as it is, long header and all
        else:
            assert is_7bit(m.data), name
            same_content(rest, msg)


# ---- a real peer ----------------------------------------------------------

def test_postfix_without_8bitmime_gets_a_decodable_copy(relay_tern,
                                                        tmp_path_factory):
    pf = PostfixPeer(tmp_path_factory.mktemp("postfix"), "pf.example",
                     main_extra="smtpd_discard_ehlo_keywords = 8bitmime\n")
    try:
        t = relay_tern(connector("pf", "pf.example", [pf.port]))
        msg = SAMPLES["multipart_text_binary"][0]
        qid = submit_bdat(t, "someone@pf.example", msg,
                          params="BODY=BINARYMIME")
        e = wait_out(t, qid, "someone@pf.example", "sent", timeout=15)
        pqid = e[3].split()[-1]
        out = pf.out / pqid
        assert wait_for(out.exists, 10), pf.log()[-2000:]
        got = out.read_bytes().replace(b"\n", b"\r\n")  # Postfix stores LF
        heads, rest = strip_trace(got, 2)
        assert b"(Postfix)" in heads[0], heads
        check_tern_trace(heads[1], qid)
        assert is_7bit(rest)
        same_content(rest, msg)
        # the peer really did not offer 8BITMIME
        assert re.search(r"discarding EHLO keywords: 8BITMIME", pf.log())
    finally:
        pf.stop()


def test_large_binary_message_converted_in_steps(relay_tern, peers):
    """3 MiB of binary and 8-bit text: the plan is made in steps of 1 MiB
    (smtpc_mime.c) and the converted text streams through BDAT chunks."""
    import random
    rnd = random.Random(7)
    blob = bytes(rnd.getrandbits(8) for _ in range(2 << 20))
    text = "Grüße, ça va? ½\r\n".encode() * 40000
    msg = (b"From: a@example.org\r\nTo: b@example.net\r\nSubject: big\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=big-b\r\n\r\n"
           b"--big-b\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n" + text +
           b"\r\n--big-b\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Transfer-Encoding: binary\r\n\r\n" + blob +
           b"\r\n--big-b--\r\n")
    p = peers(caps=("PIPELINING", "SIZE 20000000", "ENHANCEDSTATUSCODES",
                    "8BITMIME", "CHUNKING"))
    t = relay_tern(connector("smart", "*", [p.port]))
    qid = submit_bdat(t, RCPT, msg, params="BODY=BINARYMIME", chunk=65536)
    wait_out(t, qid, RCPT, "sent", timeout=30)
    m, rest = relayed(p, qid)
    assert_exact_size(m)
    assert m.how == "BDAT" and len(m.chunks) > 100
    assert is_7bit(m.data)
    same_content(rest, msg)
    assert f"{qid} smtp out body=converted-7bit size={len(m.data)}" in t.log()


def test_impossible_reason_in_the_queue(relay_tern, peers):
    """The 5.6.3 reason is stored with the recipient's result in the
    journal (for the DSN generator) while the message waits for its other
    recipients."""
    p = peers(caps=NO_8BIT)
    t = relay_tern(connector("smart", "other.example", [p.port]),
                   connector("dead", "dead.example", [closed_port()]))
    msg = SAMPLES["header_8bit"][0]
    qid = submit(t, [RCPT, "x@dead.example"], msg, params="BODY=8BITMIME")
    e = wait_out(t, qid, RCPT, "failed")
    assert "5.6.3 conversion to 7bit impossible: 8-bit data or NUL in a " \
        "header field" in e[3], e
    wait_out(t, qid, "x@dead.example", "deferred")
    info = wait_state(t, qid, {RCPT: "failed", "x@dead.example": "deferred"})
    assert "recipients: 2 (1 done)" in info["text"], info["text"]
    res = wait_for(lambda: queue_rcpt_results(t, qid).get(0), 10)
    assert res and res[0] == "failed", queue_rcpt_results(t, qid)
    assert "554 5.6.3 conversion to 7bit impossible" in res[1], res
