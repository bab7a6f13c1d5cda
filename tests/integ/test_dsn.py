"""
Delivery status notifications (RFC 3461-3464): the DSN extension's
parameters (NOTIFY, ORCPT, RET, ENVID) with their exact replies, kept in
the journal and passed on to peers that offer DSN; the reports tern writes
(failed, delayed, delivered, relayed) parsed with Python's email package
and checked field by field; double bounces to badmail, ndr-copy, report
loops.

The sender of every reported message is alice@localhost, a local mailbox:
a report reaching her is a file in the drop directory. Recipients in other
domains go to a scripted peer (relay_helpers.Peer) through a smart-host
connector.
"""
import email
import email.utils
import re
import shutil
import subprocess
import time

import pytest

from conftest import TERN_BIN, dot_stuff, tail
from relay_helpers import (Peer, connector, ctl, queue_show,  # noqa: F401
                           peers, relay_tern, wait_for)

SENDER = "alice@localhost"
DSN_CAPS = Peer.DEFAULT_CAPS + ("DSN",)


def dsn_queue(expire="1h", delay="0", extra=""):
    return (f"queue {{\n    retry 1s\n    expire {expire}\n"
            f"    timeout connect 2s\n    timeout reply 2s\n"
            f"    delay-notice {delay}\n{extra}}}\n")


def start(relay_tern, peer, queue=None, name=None):
    return relay_tern(connector("out", hosts=[peer.port]),
                      queue=queue or dsn_queue(), name=name)


def send(t, rcpts, mail_params="", body=b"hello\r\n", sender=SENDER,
         subject="dsn test", extra_headers=b""):
    """One message; rcpts: [(address, params)]; returns the queue id."""
    msg = (f"From: {sender or 'MAILER-DAEMON@localhost'}\r\n"
           f"To: someone@far.example\r\nSubject: {subject}\r\n"
           f"Message-ID: <{subject.replace(' ', '.')}@test>\r\n"
           .encode() + extra_headers + b"\r\n" + body)
    with t.connect() as c:
        c.cmd(f"MAIL FROM:<{sender}>" +
              (" " + mail_params if mail_params else ""), 250, "2.1.0")
        for addr, params in rcpts:
            c.cmd(f"RCPT TO:<{addr}>" + (" " + params if params else ""),
                  250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(dot_stuff(msg))
        r = c.reply(timeout=10).check(250, what="end of data")
        c.cmd("QUIT", 221)
    return re.search(r"id=([0-9a-f]{16})", r.text).group(1)


def reports(t, box="alice", n=1, timeout=10.0):
    """Wait for at least n files in localhost/<box>; all parsed."""
    files = wait_for(lambda: (lambda f: f if len(f) >= n else None)(
        t.mailbox("localhost", box)), timeout)
    assert files, (f"no report in localhost/{box} within {timeout} s\n"
                   f"log:\n{tail(t.log(), 30)}")
    return [(p.read_bytes(), email.message_from_bytes(p.read_bytes()))
            for p in sorted(files)]


def parse_report(raw, msg, action):
    """The checks every report passes; returns (per-message fields,
    [per-recipient fields], the third part)."""
    assert raw.startswith(b"Return-Path: <>\r\n"), raw[:100]
    for line in raw.split(b"\r\n"):
        assert all(32 <= b < 127 or b == 9 for b in line), line  # 7-bit
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert msg["From"] == (
        "Mail Delivery System <MAILER-DAEMON@mx.test.example>")
    assert msg["To"] == f"<{SENDER}>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["MIME-Version"] == "1.0"
    assert email.utils.parsedate_to_datetime(msg["Date"]) is not None
    assert re.fullmatch(r"<[0-9a-f]{16}\.dsn@mx\.test\.example>",
                        msg["Message-ID"])
    subjects = {"failed": "Undelivered Mail Returned to Sender",
                "delayed": "Delayed Mail (still being retried)",
                "delivered": "Successful Mail Delivery Report",
                "relayed": "Relayed Mail Report"}
    assert msg["Subject"] == subjects[action]
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    assert len(parts) == 3, [p.get_content_type() for p in parts]
    assert parts[0].get_content_type() == "text/plain"
    assert parts[0].get_content_charset() == "us-ascii"
    assert parts[1].get_content_type() == "message/delivery-status"
    blocks = parts[1].get_payload()
    assert len(blocks) >= 2
    per_msg, per_rcpt = blocks[0], blocks[1:]
    assert per_msg["Reporting-MTA"] == "dns; mx.test.example"
    assert email.utils.parsedate_to_datetime(per_msg["Arrival-Date"])
    for b in per_rcpt:
        assert b["Action"] == action
        assert b["Final-Recipient"].startswith("rfc822; ")
        assert re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", b["Status"])
        assert b["Status"][0] == {"failed": "5", "delayed": "4"}.get(
            action, "2")
        assert email.utils.parsedate_to_datetime(b["Last-Attempt-Date"])
    return per_msg, per_rcpt, parts[0].get_payload(), parts[2]


def nothing_more(t, box="alice", expect=0):
    t.sync()
    got = t.mailbox("localhost", box)
    assert len(got) == expect, [p.read_bytes()[:400] for p in got]


# ---- parameters -------------------------------------------------------------

def test_ehlo_offers_dsn(tern):
    with tern.client() as c:
        c.expect(220)
        r = c.cmd("EHLO client.test", 250)
        assert "DSN" in r.lines[1:]


HOSTILE = [
    # (command, code, enhanced code, text)
    ("MAIL FROM:<a@b.example> RET=ALL", 501, "5.5.4",
     "Invalid RET: FULL or HDRS"),
    ("MAIL FROM:<a@b.example> RET", 501, "5.5.4",
     "Invalid RET: FULL or HDRS"),
    ("MAIL FROM:<a@b.example> RET=FULL RET=FULL", 501, "5.5.4",
     "Duplicate parameter"),
    ("MAIL FROM:<a@b.example> ENVID=a+4", 501, "5.5.4",
     "Invalid ENVID: printable xtext"),
    ("MAIL FROM:<a@b.example> ENVID=a+zz", 501, "5.5.4",
     "Invalid ENVID: printable xtext"),
    ("MAIL FROM:<a@b.example> ENVID=+0D+0AX-Evil:+201", 501, "5.5.4",
     "Invalid ENVID: printable xtext"),
    ("MAIL FROM:<a@b.example> ENVID=" + "x" * 101, 501, "5.5.4",
     "ENVID longer than 100 or ORCPT longer than 500 characters"),
    ("MAIL FROM:<a@b.example> ENVID=a ENVID=a", 501, "5.5.4",
     "Duplicate parameter"),
]

HOSTILE_RCPT = [
    ("RCPT TO:<bob@localhost> NOTIFY=NEVER,SUCCESS", 501, "5.5.4",
     "Invalid NOTIFY: NEVER, or any of SUCCESS, FAILURE, DELAY"),
    ("RCPT TO:<bob@localhost> NOTIFY=FAILURE,NEVER", 501, "5.5.4",
     "Invalid NOTIFY: NEVER, or any of SUCCESS, FAILURE, DELAY"),
    ("RCPT TO:<bob@localhost> NOTIFY=DELAY,DELAY", 501, "5.5.4",
     "Invalid NOTIFY: NEVER, or any of SUCCESS, FAILURE, DELAY"),
    ("RCPT TO:<bob@localhost> NOTIFY=", 501, "5.5.4",
     "Invalid parameter value"),
    ("RCPT TO:<bob@localhost> NOTIFY=SOMETIMES", 501, "5.5.4",
     "Invalid NOTIFY: NEVER, or any of SUCCESS, FAILURE, DELAY"),
    ("RCPT TO:<bob@localhost> NOTIFY=SUCCESS NOTIFY=DELAY", 501, "5.5.4",
     "Duplicate parameter"),
    ("RCPT TO:<bob@localhost> ORCPT=bob@localhost", 501, "5.5.4",
     "Invalid ORCPT: addr-type;xtext"),
    ("RCPT TO:<bob@localhost> ORCPT=rfc822;bob+4", 501, "5.5.4",
     "Invalid ORCPT: addr-type;xtext"),
    ("RCPT TO:<bob@localhost> ORCPT=rfc822;a+00b", 501, "5.5.4",
     "Invalid ORCPT: addr-type;xtext"),
    ("RCPT TO:<bob@localhost> ORCPT=rfc822;" + "x" * 494, 501, "5.5.4",
     "ENVID longer than 100 or ORCPT longer than 500 characters"),
    ("RCPT TO:<bob@localhost> ORCPT=rfc822;a ORCPT=rfc822;a", 501, "5.5.4",
     "Duplicate parameter"),
]


def test_hostile_parameters(tern):
    """Each malformed, duplicated or over-long value has its exact reply
    and changes nothing: the transaction after them is as if they never
    came."""
    with tern.connect() as c:
        for cmd, code, enh, text in HOSTILE:
            r = c.cmd(cmd, code, enh)
            assert r.lines == [f"{enh} {text}"], (cmd, str(r))
        c.cmd("MAIL FROM:<alice@localhost> RET=HDRS ENVID=ok", 250, "2.1.0")
        for cmd, code, enh, text in HOSTILE_RCPT:
            r = c.cmd(cmd, code, enh)
            assert r.lines == [f"{enh} {text}"], (cmd, str(r))
        # the longest ORCPT allowed is taken
        c.cmd("RCPT TO:<bob@localhost> NOTIFY=NEVER ORCPT=rfc822;" +
              "x" * 493, 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(dot_stuff(b"Subject: after\r\n\r\nx\r\n"))
        c.reply(timeout=10).check(250)
        c.cmd("QUIT", 221)
    files = tern.wait_delivered(1)
    assert len(files) == 1 and b"Subject: after" in files[0].read_bytes()
    nothing_more(tern)      # NOTIFY=NEVER: no success report either


def test_params_journaled_and_passed_on(relay_tern, peers, tmp_path):
    """Kept in the journal (queue show, journal check) while the peer
    defers, then passed on as sent once the peer offers DSN; tern sends
    no report of its own for a peer that takes the NOTIFY over."""
    state = {"defer": True}

    def rcpt(sess, arg):
        return "451 4.3.0 later" if state["defer"] else "250 2.1.5 ok"
    peer = peers(caps=DSN_CAPS, script={"rcpt": rcpt})
    t = start(relay_tern, peer)
    qid = send(t, [("far@far.example",
                    "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Far+2Bx@far.example")],
               "RET=HDRS ENVID=id+3D42")
    info = wait_for(lambda: (lambda i: i if i and i["rcpts"].get(
        "far@far.example") == "deferred" else None)(queue_show(t, qid)))
    assert info, t.log()
    assert "dsn: ret=hdrs envid=id=42" in info["text"], info["text"]
    assert ("state=deferred notify=success,failure "
            "orcpt=rfc822;Far+x@far.example") in info["text"], info["text"]
    out = subprocess.run([str(TERN_BIN), "journal", "check", "-v",
                          str(t.spool)], capture_output=True, text=True)
    assert re.search(r" msg id=" + qid + r" len=\d+ ret=2 envid=id=42",
                     out.stdout), out.stdout
    assert re.search(r" rcpt id=" + qid + r" len=\d+ notify=0x6 "
                     r"orcpt=rfc822;Far\+x@far\.example", out.stdout), \
        out.stdout
    state["defer"] = False
    msgs = peer.wait_messages(1)
    sess = peer.sessions[-1]
    mail = sess.lines("MAIL")[-1][0]
    assert mail.endswith(" RET=HDRS ENVID=id+3D42"), mail
    rcpt_line = sess.lines("RCPT")[-1][0]
    assert rcpt_line == ("RCPT TO:<far@far.example> NOTIFY=SUCCESS,FAILURE "
                         "ORCPT=rfc822;Far+2Bx@far.example"), rcpt_line
    assert msgs[0].rcpts == ["far@far.example"]
    nothing_more(t)


def test_params_not_passed_to_peer_without_dsn(relay_tern, peers):
    peer = peers()
    t = start(relay_tern, peer)
    send(t, [("far@far.example", "NOTIFY=FAILURE ORCPT=rfc822;f@x")],
         "RET=FULL ENVID=abc")
    peer.wait_messages(1)
    sess = peer.sessions[-1]
    assert "RET=" not in sess.lines("MAIL")[-1][0]
    assert sess.lines("RCPT")[-1][0] == "RCPT TO:<far@far.example>"
    nothing_more(t)     # delivered, only FAILURE asked: no report


# ---- failure reports ------------------------------------------------------------

def test_failure_report_reaches_sender(relay_tern, peers):
    peer = peers(script={"rcpt": {
        "gone@far.example": "550 5.1.1 <gone@far.example>: no such user"}})
    t = start(relay_tern, peer)
    qid = send(t, [("gone@far.example", "ORCPT=rfc822;Gone@far.example"),
                   ("here@far.example", "")],
               "ENVID=QQ314159", subject="bounce me")
    (raw, msg), = reports(t)
    per_msg, rcpts, human, orig = parse_report(raw, msg, "failed")
    assert per_msg["Original-Envelope-Id"] == "QQ314159"
    assert len(rcpts) == 1
    r = rcpts[0]
    assert r["Final-Recipient"] == "rfc822; gone@far.example"
    assert r["Original-Recipient"] == "rfc822;Gone@far.example"
    assert r["Status"] == "5.1.1"
    assert r["Remote-MTA"].startswith("dns; ") and "127.0.0.1" in \
        r["Remote-MTA"]
    assert r["Diagnostic-Code"] == (
        "smtp; 550 5.1.1 <gone@far.example>: no such user")
    assert r["Will-Retry-Until"] is None
    assert "could not be" in human and "<gone@far.example>: delivery " \
        "failed" in human
    assert "The server said: 550 5.1.1 <gone@far.example>: no such user" \
        in human
    assert "here@far.example" not in human
    # no RET: a failure returns the whole message
    assert orig.get_content_type() == "message/rfc822"
    inner = orig.get_payload()[0]
    assert inner["Subject"] == "bounce me"
    assert inner.get_payload() == "hello\r\n" or \
        inner.get_payload().strip() == "hello"
    assert f"{qid} dsn action=failed" in t.log()
    nothing_more(t, expect=1)


def test_failure_report_ret_hdrs_and_8bit(relay_tern, peers):
    peer = peers(script={"rcpt": "550 5.7.1 refused"})
    t = start(relay_tern, peer)
    send(t, [("x@far.example", "")], "RET=HDRS", subject="hdrs only")
    send(t, [("y@far.example", "")], "RET=FULL BODY=8BITMIME",
         body="caf\u00e9\r\n".encode(), subject="eight bit")
    got = reports(t, n=2)
    seen = {}
    for raw, msg in got:
        _, rcpts, _, orig = parse_report(raw, msg, "failed")
        assert orig.get_content_type() == "text/rfc822-headers"
        text = orig.get_payload()
        seen[rcpts[0]["Final-Recipient"]] = text
        assert "Subject: " in text and "hello" not in text and \
            "caf" not in text
    assert "Subject: hdrs only" in seen["rfc822; x@far.example"]
    assert "Subject: eight bit" in seen["rfc822; y@far.example"]


def test_expiry_failure_report(relay_tern, peers):
    peer = peers(script={"rcpt": "451 4.3.0 try later"})
    t = start(relay_tern, peer, queue=dsn_queue(expire="3s"))
    send(t, [("slow@far.example", "NOTIFY=FAILURE")])
    (raw, msg), = reports(t, timeout=15)
    _, rcpts, human, _ = parse_report(raw, msg, "failed")
    assert rcpts[0]["Status"] == "5.4.7"
    assert rcpts[0]["Diagnostic-Code"] == "smtp; 451 4.3.0 try later"
    nothing_more(t, expect=1)


def test_notify_never_and_success_only(relay_tern, peers):
    peer = peers(script={"rcpt": "550 5.1.1 no"})
    t = start(relay_tern, peer)
    send(t, [("a@far.example", "NOTIFY=NEVER")])
    send(t, [("b@far.example", "NOTIFY=SUCCESS")])
    send(t, [("c@far.example", "NOTIFY=DELAY")])
    wait_for(lambda: t.log().count("status=failed reason=") >= 3)
    nothing_more(t)


def test_ndr_copy(relay_tern, peers):
    peer = peers(script={"rcpt": "550 5.1.1 no"})
    t = start(relay_tern, peer, queue=dsn_queue(
        extra="    ndr-copy postmaster@localhost\n"))
    send(t, [("a@far.example", "")], subject="copied")
    (raw, msg), = reports(t)
    (raw2, msg2), = reports(t, box="postmaster")
    parse_report(raw, msg, "failed")
    assert raw2 == raw      # the same report, one more envelope recipient
    # success reports are not copied
    send(t, [("bob@localhost", "NOTIFY=SUCCESS")])
    reports(t, n=2)
    nothing_more(t, box="postmaster", expect=1)


# ---- null reverse-path: badmail, report loops ----------------------------------

def badmail(t, n=1, timeout=10.0):
    files = wait_for(lambda: (lambda f: f if len(f) >= n else None)(
        sorted(t.badmail.glob("*.eml"))), timeout)
    assert files, f"no badmail file\nlog:\n{tail(t.log(), 30)}"
    return files


def test_double_bounce_goes_to_badmail(relay_tern, peers):
    peer = peers(script={"rcpt": "550 5.1.1 nobody here"})
    t = start(relay_tern, peer)
    qid = send(t, [("a@far.example", "NOTIFY=SUCCESS,FAILURE")], sender="",
               subject="a bounce")
    f, = badmail(t)
    data = f.read_bytes()
    assert f.name == f"{qid}.eml"
    assert data.startswith(
        b"X-Tern-Badmail: undeliverable with a null reverse-path\r\n"
        b"X-Tern-Queue-Id: " + qid.encode() + b"\r\n"
        b"X-Tern-Reason: far.example: 550 5.1.1 nobody here\r\n")
    assert b"Subject: a bounce\r\n" in data and data.endswith(b"hello\r\n")
    assert re.search(rf"{qid} dsn double-bounce badmail=\S+{qid}\.eml "
                     r"reason=far\.example: 550 5\.1\.1", t.log())
    assert "dsn action=" not in t.log()
    nothing_more(t)


def test_report_about_a_report_is_not_sent(relay_tern, peers):
    """The sender is remote and refuses everything, the report too: the
    failed report (null sender) goes to badmail, and nothing loops."""
    peer = peers(script={"rcpt": "550 5.1.1 refused"})
    t = start(relay_tern, peer)
    send(t, [("a@far.example", "")], sender="someone@sender.example")
    f, = badmail(t)
    data = f.read_bytes()
    assert b"X-Tern-Reason: sender.example: 550 5.1.1 refused" in data
    assert b"Content-Type: multipart/report" in data
    time.sleep(2.5)         # a few retry ticks: no more reports, no loop
    assert t.log().count("dsn action=failed") == 1
    assert len(list(t.badmail.glob("*.eml"))) == 1
    mails = [s.lines("MAIL") for s in peer.sessions]
    assert sum(1 for ls in mails for ln in ls
               if ln[0].startswith("MAIL FROM:<>")) == 1


# ---- delay, success, relayed ------------------------------------------------------

def test_delay_report_once(relay_tern, peers):
    """delay-notice 1s: one delayed report, however many retries follow,
    and not again after a restart (the journal remembers)."""
    peer = peers(script={"rcpt": "451 4.2.0 mailbox busy"})
    t = start(relay_tern, peer, queue=dsn_queue(delay="1s"))
    qid = send(t, [("slow@far.example", "ORCPT=rfc822;slow@far.example")],
               "ENVID=waiting")
    (raw, msg), = reports(t)
    per_msg, rcpts, human, orig = parse_report(raw, msg, "delayed")
    assert per_msg["Original-Envelope-Id"] == "waiting"
    r = rcpts[0]
    assert r["Status"] == "4.2.0"
    assert r["Diagnostic-Code"] == "smtp; 451 4.2.0 mailbox busy"
    until = email.utils.parsedate_to_datetime(r["Will-Retry-Until"])
    arrival = email.utils.parsedate_to_datetime(per_msg["Arrival-Date"])
    assert 3590 <= (until - arrival).total_seconds() <= 3610  # expire 1h
    assert "keeps trying" in human
    assert orig.get_content_type() == "text/rfc822-headers"
    # more attempts, no second notice
    wait_for(lambda: t.log().count(f"{qid} queue rcpt=0 status=deferred")
             >= 4, 15)
    assert t.log().count(f"{qid} dsn action=delayed") == 1
    problems = t.stop()
    assert not problems, problems
    t.start()
    wait_for(lambda: t.log().count(f"{qid} queue rcpt=0 status=deferred")
             >= 2, 15)
    assert f"{qid} dsn action=delayed" not in t.log()
    nothing_more(t, expect=1)


def test_success_report_local_delivery(relay_tern, peers):
    peer = peers()
    t = start(relay_tern, peer)
    send(t, [("bob@localhost", "NOTIFY=SUCCESS ORCPT=rfc822;Bob@localhost"),
             ("postmaster@localhost", "")], "ENVID=ok1 RET=FULL",
         subject="success")
    (raw, msg), = reports(t)
    per_msg, rcpts, human, orig = parse_report(raw, msg, "delivered")
    assert [r["Final-Recipient"] for r in rcpts] == ["rfc822; bob@localhost"]
    assert rcpts[0]["Original-Recipient"] == "rfc822;Bob@localhost"
    assert rcpts[0]["Status"] == "2.0.0"
    assert rcpts[0]["Remote-MTA"] is None
    assert "<bob@localhost>: delivered" in human
    assert orig.get_content_type() == "message/rfc822"    # RET=FULL
    assert orig.get_payload()[0]["Subject"] == "success"
    nothing_more(t, expect=1)


def test_relayed_report_for_peer_without_dsn(relay_tern, peers):
    peer = peers()      # no DSN in its EHLO
    t = start(relay_tern, peer)
    send(t, [("far@far.example", "NOTIFY=SUCCESS,FAILURE")], subject="rel")
    peer.wait_messages(1)
    (raw, msg), = reports(t)
    _, rcpts, human, orig = parse_report(raw, msg, "relayed")
    assert rcpts[0]["Final-Recipient"] == "rfc822; far@far.example"
    assert "127.0.0.1" in rcpts[0]["Remote-MTA"]
    assert "does not report" in human
    assert orig.get_content_type() == "text/rfc822-headers"
    nothing_more(t, expect=1)


# ---- one report per message and action: a round's two jobs -------------------

def broken_mailbox(t, domain="example.test", box="carol"):
    """A local mailbox whose maildir cannot be made (a file in its place):
    local delivery defers it until the message expires."""
    shutil.rmtree(t.drop / domain / box, ignore_errors=True)
    (t.drop / domain).mkdir(parents=True, exist_ok=True)
    (t.drop / domain / box).write_text("not a maildir\n")


def test_local_and_relayed_failures_in_one_report(relay_tern, peers):
    """A local recipient and a relayed one fail in the same round (the
    local job, then the relay job): one failure report lists both. The
    message expires while tern is stopped, so the round after the
    restart fails both, whatever the timing."""
    peer = peers(script={"rcpt": "451 4.3.0 try later"})
    t = start(relay_tern, peer, queue=dsn_queue(expire="3s"))
    broken_mailbox(t)
    qid = send(t, [("carol@example.test", "ORCPT=rfc822;Carol@example.test"),
                   ("far@far.example", "")], subject="both fail")
    wait_for(lambda: f"{qid} queue rcpt=1 status=deferred" in t.log())
    assert f"{qid} queue rcpt=0 status=deferred" in t.log()
    problems = t.stop()
    assert not problems, problems
    # start-up wants every Maildir; the message's own file name in tmp/
    # taken by a directory keeps carol failing
    (t.drop / "example.test" / "carol").unlink()
    (t.drop / "example.test" / "carol" / "tmp" /
     f"Q{qid}.mx.test.example").mkdir(parents=True)
    time.sleep(4)                          # past the expiry time
    t.start()
    (raw, msg), = reports(t, timeout=15)
    per_msg, rcpts, human, orig = parse_report(raw, msg, "failed")
    assert [r["Final-Recipient"] for r in rcpts] == [
        "rfc822; carol@example.test", "rfc822; far@far.example"]
    carol, far = rcpts
    assert carol["Original-Recipient"] == "rfc822;Carol@example.test"
    assert carol["Status"] == "5.4.7"
    assert carol["Remote-MTA"] is None
    assert far["Status"] == "5.4.7"
    assert far["Diagnostic-Code"] == "smtp; 451 4.3.0 try later"
    assert "127.0.0.1" in far["Remote-MTA"]
    assert "<carol@example.test>: delivery failed" in human
    assert "<far@far.example>: delivery failed" in human
    assert orig.get_payload()[0]["Subject"] == "both fail"
    assert t.log().count(f"{qid} dsn action=failed") == 1
    assert f"{qid} dsn action=failed report=" in t.log()
    assert re.search(qid + r" dsn action=failed report=\S+ rcpts=2 ",
                     t.log()), tail(t.log(), 20)
    nothing_more(t, expect=1)


def test_local_failure_waits_for_the_relay_job_of_its_round(relay_tern,
                                                            peers):
    """Without a restart: the local failure (at expiry) is carried to the
    relay job of the same round and reported with it, once. The local
    recipient is deferred, the relayed one too; when the round finds the
    message expired, both fail in one report. (A round that straddles the
    expiry second fails the relayed one a round earlier: then two
    reports, each with one recipient; the test accepts only one.)"""
    peer = peers(script={"rcpt": "451 4.3.0 try later"})
    t = start(relay_tern, peer, queue=dsn_queue(expire="2s"))
    broken_mailbox(t)
    qid = send(t, [("carol@example.test", ""), ("far@far.example", "")],
               subject="expire both")
    wait_for(lambda: f"{qid} queue rcpt=0 status=failed" in t.log() and
             f"{qid} queue rcpt=1 status=failed" in t.log(), 15)
    got = reports(t, timeout=15)
    log = t.log()
    if log.count(f"{qid} dsn action=failed") == 2:   # straddled: see above
        assert log.index(f"{qid} queue rcpt=1 status=failed") < \
            log.index(f"{qid} queue rcpt=0 status=failed")
        pytest.skip("the round straddled the expiry second")
    (raw, msg), = got
    _, rcpts, _, _ = parse_report(raw, msg, "failed")
    assert sorted(r["Final-Recipient"] for r in rcpts) == [
        "rfc822; carol@example.test", "rfc822; far@far.example"]
    nothing_more(t, expect=1)


def test_local_and_relayed_success_one_report_per_action(relay_tern, peers):
    """NOTIFY=SUCCESS for a local and a relayed recipient (a peer without
    DSN): "delivered" and "relayed" are different actions, so two
    reports, one each, never one per job and action twice."""
    peer = peers()      # no DSN in its EHLO
    t = start(relay_tern, peer)
    qid = send(t, [("bob@localhost", "NOTIFY=SUCCESS"),
                   ("postmaster@localhost", "NOTIFY=SUCCESS"),
                   ("far@far.example", "NOTIFY=SUCCESS"),
                   ("near@far.example", "NOTIFY=SUCCESS")], subject="ok")
    peer.wait_messages(1)
    got = reports(t, n=2)
    assert len(got) == 2
    seen = {}
    for raw, msg in got:
        action = msg.get_payload()[1].get_payload()[1]["Action"]
        _, rcpts, _, _ = parse_report(raw, msg, action)
        seen[action] = sorted(r["Final-Recipient"] for r in rcpts)
    assert seen == {
        "delivered": ["rfc822; bob@localhost", "rfc822; postmaster@localhost"],
        "relayed": ["rfc822; far@far.example", "rfc822; near@far.example"]}
    assert t.log().count(f"{qid} dsn action=") == 2
    nothing_more(t, expect=2)


def test_local_deferral_neither_stalls_nor_ends_the_message(relay_tern,
                                                            peers):
    """A local recipient deferred does not hold up the relayed one of the
    same round (it used to be tried again and again, the relay agent
    never getting its turn), and the relayed one delivered does not end
    the message: the local one is retried until its mailbox works."""
    peer = peers()
    t = start(relay_tern, peer)
    broken_mailbox(t)
    qid = send(t, [("carol@example.test", ""), ("far@far.example", "")],
               subject="later")
    peer.wait_messages(1)
    wait_for(lambda: f"{qid} queue rcpt=1 status=delivered" in t.log())
    assert t.log().count(f"{qid} queue rcpt=0 status=deferred") <= 2
    (t.drop / "example.test" / "carol").unlink()   # made again on retry
    got = wait_for(lambda: t.mailbox("example.test", "carol"), 10)
    assert got and b"Subject: later" in got[0].read_bytes()
    wait_for(lambda: f"{qid} queue rcpt=0 status=delivered" in t.log())
    nothing_more(t)


def test_round_cut_by_a_crash_still_reports(relay_tern, peers):
    """The local job's results wait for the relay job of their round; a
    crash in between must not lose their report: at start-up the round's
    local results (in the journal) are carried again and reported with
    the relay job that follows. Here: bob@localhost delivered with
    NOTIFY=SUCCESS, the relay job hangs at RCPT, tern is killed."""
    import signal
    peer = peers(script=[{"rcpt": "hang"}, {}])     # no DSN: "relayed"
    queue = ("queue {\n    retry 1s\n    expire 1h\n"
             "    timeout connect 2s\n    timeout reply 60s\n"
             "    delay-notice 0\n}\n")
    t = start(relay_tern, peer, queue=queue)
    qid = send(t, [("bob@localhost", "NOTIFY=SUCCESS"),
                   ("far@far.example", "NOTIFY=SUCCESS")], subject="cut")
    wait_for(lambda: f"{qid} queue rcpt=0 status=delivered" in t.log())
    peer.wait_sessions(1)
    t.sync()        # another message's commit makes bob's result durable
    assert f"{qid} dsn action" not in t.log()       # carried, not reported
    assert t.mailbox("localhost", "alice") == []
    t.proc.send_signal(signal.SIGKILL)
    t.proc.wait()
    t._logf.close()
    t.start()
    got = reports(t, n=2, timeout=15)
    assert len(got) == 2
    seen = {}
    for raw, msg in got:
        action = msg.get_payload()[1].get_payload()[1]["Action"]
        _, rcpts, _, _ = parse_report(raw, msg, action)
        seen[action] = [r["Final-Recipient"] for r in rcpts]
    assert seen == {"delivered": ["rfc822; bob@localhost"],
                    "relayed": ["rfc822; far@far.example"]}
    log = t.log()
    assert f"{qid} queue rcpt=0" not in log     # not delivered again
    assert f"{qid} queue rcpt=1 status=delivered" in log
    assert len([p for p in t.delivered()
                if p.parent.parent.name == "bob"
                and b"Subject: cut" in p.read_bytes()]) == 1
    nothing_more(t, expect=2)


# ---- a real peer: Debian's Postfix ------------------------------------------------

def test_postfix_sends_its_delivered_report_back(relay_tern, tmp_path):
    """tern relays with NOTIFY=SUCCESS to Postfix, which offers DSN: the
    parameters go on, Postfix delivers and sends its own "delivered"
    report from <> back through tern (its relayhost) to the sender's
    local mailbox; tern sends none of its own."""
    from conftest import free_ports
    from relay_helpers import PostfixPeer
    pport = free_ports(1)[0]
    t = relay_tern(connector("pf", "pf.example", [pport]),
                   queue=dsn_queue())
    pf = PostfixPeer(tmp_path / "postfix", "pf.example", port=pport,
                     main_extra=f"relayhost = [127.0.0.1]:{t.port}\n"
                                "smtp_tls_security_level = none\n",
                     master_extra="smtp unix - - n - - smtp\n",
                     final=True)
    try:
        send(t, [("someone@pf.example",
                  "NOTIFY=SUCCESS ORCPT=rfc822;someone@pf.example")],
             "ENVID=pf+2Bdsn RET=HDRS", subject="via postfix")
        got = wait_for(lambda: t.mailbox("localhost", "alice"), 30)
        log = pf.log()
        assert got, f"no report from Postfix; its log:\n{log[-3000:]}"
        (raw, msg), = reports(t)
    finally:
        pf.stop()
    assert re.search(r"to=<someone@pf\.example>.*status=sent", log), \
        log[-2000:]
    # Postfix's report, not tern's
    assert "dsn action=" not in t.log()
    assert raw.startswith(b"Return-Path: <>\r\n")
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert "pf.test" in msg["From"]
    parts = msg.get_payload()
    status = [p for p in parts
              if p.get_content_type() == "message/delivery-status"]
    assert status, [p.get_content_type() for p in parts]
    blocks = status[0].get_payload()
    assert blocks[0]["Reporting-MTA"] == "dns; pf.test"
    assert blocks[0]["Original-Envelope-Id"] == "pf+dsn"
    r = blocks[1]
    assert r["Final-Recipient"].lower() == "rfc822; someone@pf.example"
    assert r["Original-Recipient"] == "rfc822;someone@pf.example"
    assert r["Action"] == "delivered"
    assert r["Status"].startswith("2.")


def test_alias_to_several_mailboxes_is_expanded(relay_tern, peers):
    """RFC 3461 6.2.7.3: a recipient an alias spreads over several local
    mailboxes is reported once, as "expanded"."""
    peer = peers()
    t = relay_tern(connector("out", hosts=[peer.port]), queue=dsn_queue(),
                   extra="domain team.example {\n    mailbox x y z\n"
                         "    alias all x y z\n}\n")
    send(t, [("all@team.example", "NOTIFY=SUCCESS"),
             ("x@team.example", "NOTIFY=SUCCESS")], subject="to the team")
    (raw, msg), = reports(t)
    parts = msg.get_payload()
    blocks = parts[1].get_payload()[1:]
    assert [(b["Final-Recipient"], b["Action"]) for b in blocks] == [
        ("rfc822; all@team.example", "expanded"),
        ("rfc822; x@team.example", "delivered")]
    assert "<all@team.example>: delivered to 3 mailboxes" in \
        parts[0].get_payload()
    # x, y and z once each (x twice over is one file), and the report
    assert sorted(p.parent.parent.name for p in t.delivered()) == [
        "alice", "x", "y", "z"]


# ---- configuration ---------------------------------------------------------------

@pytest.mark.parametrize("line,message", [
    ("delay-notice soon", "delay-notice takes a duration such as 12h "
                          "(0: never)"),
    ("delay-notice", "delay-notice takes a duration such as 12h (0: never)"),
    ("ndr-copy postmaster", "ndr-copy takes an address such as "
                            "postmaster@example.com"),
    ("ndr-copy <a@b.example>", "ndr-copy takes an address such as "
                               "postmaster@example.com"),
    ("dsn-max-original lots", "dsn-max-original takes a size such as 1M"),
])
def test_bad_dsn_settings(tmp_path, line, message):
    p = tmp_path / "tern.conf"
    p.write_text("queue {\n    retry 1s\n    " + line + "\n}\n")
    r = subprocess.run([str(TERN_BIN), "-t", "-c", str(p)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert f"{p}:3: {message}" in r.stderr, r.stderr


def test_good_dsn_settings(tmp_path):
    p = tmp_path / "tern.conf"
    p.write_text("queue {\n    delay-notice 0\n    ndr-copy pm@example.com\n"
                 "    dsn-max-original 64K\n}\n"
                 "server default {\n    listen 127.0.0.1:2525\n}\n")
    r = subprocess.run([str(TERN_BIN), "-t", "-c", str(p)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr


def test_failure_for_unknown_local_sender_goes_to_badmail(relay_tern, peers):
    """The report has nowhere to go (a local domain, no such mailbox):
    the failed message goes to badmail instead of being lost."""
    peer = peers(script={"rcpt": "550 5.1.1 no"})
    t = start(relay_tern, peer)
    qid = send(t, [("a@far.example", "")], sender="ghost@localhost")
    f, = badmail(t)
    assert f.name == f"{qid}.eml"
    assert b"X-Tern-Reason: the sender has no mailbox\r\n" in f.read_bytes()
    assert f"{qid} dsn double-bounce" in t.log()
