"""
Ordinary SMTP with real clients (Python smtplib, swaks) and the raw client:
every command, delivery into the drop directory byte-exact, the added
Return-Path and Received headers, dot-stuffing, 8BITMIME, SMTPUTF8, a
large message, PIPELINING.
"""
import random
import re
import shutil
import smtplib
import subprocess

import pytest

from conftest import (HOSTNAME, QUEUED_RE, dot_stuff, send_mail,
                      split_delivered)

KEYWORDS = {"PIPELINING", "SIZE", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING",
            "BINARYMIME", "ENHANCEDSTATUSCODES"}
SWAKS = shutil.which("swaks") or "/usr/bin/swaks"


def msg(subject, body=b"hello\r\n", extra=b""):
    return (b"From: a@b.example\r\nTo: postmaster@localhost\r\n" + extra +
            b"Subject: " + subject.encode() + b"\r\n\r\n" + body)


def check_file(path, sender, message):
    """The delivered file is Return-Path, one Received, then the message."""
    data = path.read_bytes()
    rp, received, body = split_delivered(data)
    assert rp == b"<" + sender.encode() + b">", data[:200]
    assert b"by " + HOSTNAME.encode() in received, received
    assert body == message, (body[:300], message[:300])
    return received


def smtp(tern, **kw):
    return smtplib.SMTP(tern.host, tern.port, local_hostname="client.test",
                        timeout=10, **kw)


# ---- greeting, EHLO, HELO ------------------------------------------------

def test_greeting_exact(tern):
    with tern.client() as c:
        r = c.expect(220)
        assert str(r) == f"220 {HOSTNAME} ESMTP tern"


def test_ehlo_reply_raw(tern):
    with tern.client() as c:
        c.expect(220)
        r = c.cmd("EHLO client.test", 250)
        assert r.lines[0] == f"{HOSTNAME} Hello client.test [127.0.0.1]"
        words = [ln.split()[0].upper() for ln in r.lines[1:]]
        assert sorted(words) == sorted(KEYWORDS), r.lines
        assert len(words) == len(set(words)), "a keyword is repeated"
        size = [ln for ln in r.lines if ln.upper().startswith("SIZE")]
        # 10M: sizes are binary multiples (the spec does not say; both
        # readings accepted so that only a wrong value fails)
        assert size[0].split()[1:] in (["10485760"], ["10000000"]), size


def test_helo_single_line(tern):
    with tern.client() as c:
        c.expect(220)
        r = c.cmd("HELO client.test", 250)
        assert r.lines == [f"{HOSTNAME} Hello client.test [127.0.0.1]"]


@pytest.mark.parametrize("arg", ["[127.0.0.1]", "[IPv6:::1]",
                                 "client-1.test", "localhost"])
def test_ehlo_valid_arguments(tern, arg):
    with tern.client() as c:
        c.expect(220)
        r = c.cmd(f"EHLO {arg}", 250)
        assert f"Hello {arg} [127.0.0.1]" in r.lines[0]


def test_smtplib_ehlo_features(tern):
    with smtp(tern) as s:
        code, text = s.ehlo()
        assert code == 250
        assert text.split(b"\n")[0] == (
            f"{HOSTNAME} Hello client.test [127.0.0.1]".encode())
        assert set(s.esmtp_features) == {k.lower() for k in KEYWORDS}
        assert s.has_extn("chunking") and s.has_extn("dsn")
        for k in ("starttls", "auth"):
            assert not s.has_extn(k)


# ---- the other commands --------------------------------------------------

def test_smtplib_commands(tern):
    with smtp(tern) as s:
        s.ehlo()
        assert s.noop() == (250, b"2.0.0 OK")
        assert s.rset() == (250, b"2.0.0 OK")
        code, text = s.verify("alice@localhost")
        assert code == 252 and text.startswith(b"2.0.0 "), (code, text)
        code, text = s.expn("postmaster")
        assert code == 502 and text.startswith(b"5.5.1 "), (code, text)
        code, text = s.docmd("HELP")
        assert code == 214 and text.startswith(b"2.0.0"), (code, text)
        assert s.help()
        code, text = s.quit()
        assert code == 221 and text.startswith(b"2.0.0 "), (code, text)


def test_help_raw_every_line_enhanced(tern):
    with tern.connect() as c:
        r = c.cmd("HELP", 214, "2.0.0")
        assert all(e == "2.0.0" for e in r.enhs), str(r)


def test_noop_with_argument(tern):
    with tern.connect() as c:
        c.cmd("NOOP", 250, "2.0.0")
        c.cmd("NOOP anything at all", 250, "2.0.0")


def test_quit_closes(tern):
    with tern.connect() as c:
        c.cmd("QUIT", 221, "2.0.0")
        c.expect_closed()


def test_commands_case_insensitive(tern):
    with tern.client() as c:
        c.expect(220)
        c.cmd("ehlo client.test", 250)
        c.cmd("mail from:<a@b.example>", 250, "2.1.0")
        c.cmd("rcpt to:<alice@localhost>", 250, "2.1.5")
        c.cmd("data", 354)
        m = msg("lower")
        c.send(dot_stuff(m))
        c.expect(250, "2.0.0")
        c.cmd("quit", 221)
    check_file(tern.wait_delivered(1)[0], "a@b.example", m)


@pytest.mark.tern_config(server="vrfy yes")
def test_vrfy_enabled(tern):
    with smtp(tern) as s:
        s.ehlo()
        code, text = s.verify("alice@localhost")
        assert code == 250 and text.startswith(b"2.1.5"), (code, text)
        code, text = s.verify("nobody@localhost")
        assert code == 550 and text.startswith(b"5.1.1"), (code, text)
    with tern.connect() as c:
        c.cmd("VRFY", 501, "5.5.4")
        c.cmd("VRFY <ALICE@LocalHost>", 250, "2.1.5")


def test_vrfy_disabled_by_default_raw(tern):
    with tern.connect() as c:
        c.cmd("VRFY alice@localhost", 252, "2.0.0")
        c.cmd("VRFY nobody@localhost", 252, "2.0.0")


# ---- delivery ------------------------------------------------------------

def test_smtplib_sendmail_delivers(tern):
    m = msg("smtplib")
    with smtp(tern) as s:
        s.ehlo()
        assert s.sendmail("a@b.example", ["postmaster@localhost"], m) == {}
    files = tern.wait_delivered(1)
    assert files[0].parent.parent == tern.drop / "localhost" / "postmaster"
    assert files[0].parent.name == "new"
    received = check_file(files[0], "a@b.example", m)
    assert received.startswith(b"Received: from client.test ")


def test_smtplib_helo_sendmail(tern):
    m = msg("helo")
    with smtp(tern) as s:
        s.helo("client.test")
        assert s.sendmail("a@b.example", ["alice@localhost"], m) == {}
    check_file(tern.wait_delivered(1)[0], "a@b.example", m)


def test_queued_reply_and_unique_ids(tern):
    ids = []
    with tern.connect() as c:
        for i in range(2):
            r = send_mail(c, "a@b.example", ["alice@localhost"],
                          msg(f"id {i}")).check(250, "2.0.0")
            assert QUEUED_RE.match(r.text), str(r)
            ids.append(r.text)
    assert ids[0] != ids[1]
    assert len(tern.wait_delivered(2)) == 2


def test_received_and_return_path_headers(tern):
    m = msg("headers")
    with tern.connect(ehlo="client.test") as c:
        send_mail(c, "a@b.example", ["alice@localhost"], m).check(250)
    data = tern.wait_delivered(1)[0].read_bytes()
    assert data.startswith(b"Return-Path: <a@b.example>\r\nReceived: from "
                           b"client.test ")
    rp, received, body = split_delivered(data)
    assert b"[127.0.0.1]" in received
    assert b"by " + HOSTNAME.encode() in received
    assert received.endswith(b"\r\n")
    assert body == m


@pytest.mark.parametrize("count", [1, 3])
def test_swaks_delivers(tern, count):
    cmd = [SWAKS, "--server", f"{tern.host}:{tern.port}",
           "--to", "postmaster@localhost", "--from", "a@b.example",
           "--ehlo", "client.test", "--timeout", "10"]
    if count > 1:
        cmd[4] = "postmaster@localhost,alice@localhost,carol@example.test"
        cmd.append("--pipeline")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    files = tern.wait_delivered(count)
    assert len(files) == count
    for f in files:
        data = f.read_bytes()
        assert data.startswith(b"Return-Path: <a@b.example>\r\n")
        assert b"This is a test mailing" in data
        assert b"\r\nSubject: test " in data


def test_swaks_rejected_recipient(tern):
    p = subprocess.run(
        [SWAKS, "--server", f"{tern.host}:{tern.port}", "--to",
         "nobody@localhost", "--from", "a@b.example", "--ehlo",
         "client.test", "--timeout", "10"],
        capture_output=True, text=True, timeout=30)
    assert p.returncode == 24, p.stdout + p.stderr   # swaks: RCPT failed
    assert "550 5.1.1" in p.stdout
    tern.sync()
    assert tern.delivered() == []


def test_multiple_recipients(tern):
    m = msg("many")
    rcpts = ["alice@localhost", "bob@localhost", "carol@example.test"]
    with tern.connect() as c:
        send_mail(c, "a@b.example", rcpts, m).check(250, "2.0.0")
    files = tern.wait_delivered(3)
    assert len(files) == 3
    for domain, box in (("localhost", "alice"), ("localhost", "bob"),
                        ("example.test", "carol")):
        got = tern.mailbox(domain, box)
        assert len(got) == 1, (domain, box, files)
        check_file(got[0], "a@b.example", m)


def test_alias_delivers_to_target(tern):
    m = msg("alias")
    with tern.connect() as c:
        send_mail(c, "a@b.example", ["root@localhost"], m).check(250)
    files = tern.wait_delivered(1)
    assert tern.mailbox("localhost", "postmaster") == files
    check_file(files[0], "a@b.example", m)
    assert not (tern.drop / "localhost" / "root").exists()


def test_mailbox_and_domain_case_insensitive(tern):
    m = msg("case")
    with tern.connect() as c:
        send_mail(c, "A@B.Example", ["ALICE@LocalHost", "Carol@EXAMPLE.test",
                                     "Root@LOCALHOST"], m).check(250)
    files = tern.wait_delivered(3)
    assert len(tern.mailbox("localhost", "alice")) == 1, files
    assert len(tern.mailbox("example.test", "carol")) == 1, files
    assert len(tern.mailbox("localhost", "postmaster")) == 1, files
    for f in files:
        check_file(f, "A@B.Example", m)


@pytest.mark.parametrize("rcpt", ["Postmaster", "postmaster", "POSTMASTER"])
def test_postmaster_without_domain(tern, rcpt):
    m = msg("postmaster")
    with tern.connect() as c:
        c.cmd("MAIL FROM:<a@b.example>", 250, "2.1.0")
        c.cmd(f"RCPT TO:<{rcpt}>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(dot_stuff(m))
        c.expect(250, "2.0.0")
    files = tern.wait_delivered(1)
    # which domain's postmaster is not specified: any postmaster mailbox
    assert files[0].parent.parent.name == "postmaster", files
    check_file(files[0], "a@b.example", m)


def test_null_sender(tern):
    m = msg("bounce")
    with tern.connect() as c:
        c.cmd("MAIL FROM:<>", 250, "2.1.0")
        c.cmd("RCPT TO:<alice@localhost>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(dot_stuff(m))
        c.expect(250, "2.0.0")
    data = tern.wait_delivered(1)[0].read_bytes()
    assert data.startswith(b"Return-Path: <>\r\n")
    assert split_delivered(data)[2] == m


def test_quoted_local_part_sender(tern):
    m = msg("quoted")
    with tern.connect() as c:
        send_mail(c, '"john doe"@b.example', ["alice@localhost"], m).check(250)
    check_file(tern.wait_delivered(1)[0], '"john doe"@b.example', m)


def test_rset_between_transactions(tern):
    m = msg("after rset")
    with tern.connect() as c:
        c.cmd("MAIL FROM:<first@b.example>", 250, "2.1.0")
        c.cmd("RCPT TO:<bob@localhost>", 250, "2.1.5")
        c.cmd("RSET", 250, "2.0.0")
        send_mail(c, "second@b.example", ["alice@localhost"], m).check(250)
    files = tern.wait_delivered(1)
    tern.sync()
    assert tern.delivered() == files
    check_file(files[0], "second@b.example", m)


def test_8bitmime_byte_exact(tern):
    body = (bytes(range(0x80, 0x100)) + b"\r\n" +
            "Grüße, señor, ½ € ✓\r\n".encode("utf-8") +
            "latin-1: déjà vu\r\n".encode("latin-1") +
            b"\x7f\x01\x02 control bytes\r\n")
    m = msg("8bit", body, b"MIME-Version: 1.0\r\nContent-Type: text/plain; "
            b"charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
    with tern.connect() as c:
        send_mail(c, "a@b.example", ["alice@localhost"], m,
                  params="BODY=8BITMIME").check(250, "2.0.0")
    check_file(tern.wait_delivered(1)[0], "a@b.example", m)


def test_smtputf8_raw(tern):
    sender = "jörg@bücher.example"
    m = ("From: jörg@bücher.example\r\nTo: alice@localhost\r\n"
         "Subject: Grüße\r\n\r\nünïcödé\r\n").encode("utf-8")
    with tern.connect() as c:
        send_mail(c, sender, ["alice@localhost"], m,
                  params="SMTPUTF8 BODY=8BITMIME").check(250, "2.0.0")
    data = tern.wait_delivered(1)[0].read_bytes()
    rp, received, body = split_delivered(data)
    assert rp == ("<" + sender + ">").encode("utf-8")
    assert body == m


def test_smtputf8_smtplib(tern):
    m = "Subject: utf8\r\n\r\nnaïve\r\n".encode("utf-8")
    with smtp(tern) as s:
        s.ehlo()
        assert s.sendmail("андрей@b.example", ["alice@localhost"], m,
                          mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
    check_file(tern.wait_delivered(1)[0], "андрей@b.example", m)


def test_dot_stuffing_round_trip_raw(tern):
    m = (b"Subject: dots\r\n\r\n.\r\n..\r\n...\r\n.leading\r\n..two\r\n"
         b"middle . dot\r\n. space\r\nend.\r\n.\r\n")
    stream = (b"Subject: dots\r\n\r\n..\r\n...\r\n....\r\n..leading\r\n"
              b"...two\r\nmiddle . dot\r\n.. space\r\nend.\r\n..\r\n.\r\n")
    assert dot_stuff(m) == stream
    with tern.connect() as c:
        c.cmd("MAIL FROM:<a@b.example>", 250, "2.1.0")
        c.cmd("RCPT TO:<alice@localhost>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(stream)
        c.expect(250, "2.0.0")
    check_file(tern.wait_delivered(1)[0], "a@b.example", m)


def test_dot_stuffing_round_trip_smtplib(tern):
    m = b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\ntext\r\n."
    with smtp(tern) as s:
        s.ehlo()
        s.sendmail("a@b.example", ["alice@localhost"], m)
    check_file(tern.wait_delivered(1)[0], "a@b.example", m + b"\r\n")


def test_empty_body(tern):
    m = b"Subject: empty body\r\n\r\n"
    with tern.connect() as c:
        send_mail(c, "a@b.example", ["alice@localhost"], m).check(250)
    check_file(tern.wait_delivered(1)[0], "a@b.example", m)


def test_five_megabyte_message_byte_exact(tern):
    rng = random.Random(5321)
    alphabet = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                b"0123456789 .,;:-_!?()<>\t")
    parts = [b"From: a@b.example\r\nTo: alice@localhost\r\n"
             b"Subject: big\r\n\r\n"]
    total = len(parts[0])
    while total < 5 * 1024 * 1024:
        n = rng.choice((0, 1, 40, 76, 200, 998))
        line = bytes(rng.choice(alphabet) for _ in range(min(n, 80)))
        line = (line * (n // max(len(line), 1) + 1))[:n]
        if rng.random() < 0.05 and n < 998:   # stuffed: still <= 1000
            line = b"." + line[1:] if line else b"."
        parts.append(line + b"\r\n")
        total += len(line) + 2
    m = b"".join(parts)
    with tern.connect(timeout=60) as c:
        c.cmd("MAIL FROM:<a@b.example> SIZE=%d" % len(m), 250, "2.1.0")
        c.cmd("RCPT TO:<alice@localhost>", 250, "2.1.5")
        c.cmd("DATA", 354)
        stream = dot_stuff(m)
        for i in range(0, len(stream), 256 * 1024):
            c.send(stream[i:i + 256 * 1024])
        c.expect(250, "2.0.0", timeout=60)
    f = tern.wait_delivered(1, timeout=60)[0]
    data = f.read_bytes()
    rp, received, body = split_delivered(data)
    assert len(body) == len(m)
    assert body == m


# ---- PIPELINING (RFC 2920) -----------------------------------------------

def test_pipelining_whole_transaction(tern):
    m = msg("pipelined")
    with tern.client() as c:
        c.expect(220)
        c.send(b"EHLO client.test\r\nMAIL FROM:<a@b.example>\r\n"
               b"RCPT TO:<alice@localhost>\r\nRCPT TO:<bob@localhost>\r\n"
               b"DATA\r\n")
        r = c.expect(250)
        assert "PIPELINING" in [ln.upper() for ln in r.lines[1:]]
        c.expect(250, "2.1.0")
        c.expect(250, "2.1.5")
        c.expect(250, "2.1.5")
        c.expect(354)
        c.send(dot_stuff(m) + b"QUIT\r\n")
        r = c.expect(250, "2.0.0")
        assert QUEUED_RE.match(r.text)
        c.expect(221, "2.0.0")
        c.expect_closed()
    files = tern.wait_delivered(2)
    assert len(files) == 2
    for f in files:
        check_file(f, "a@b.example", m)


def test_pipelining_with_errors_in_the_group(tern):
    """Replies stay in order when some commands in the group fail."""
    m = msg("mixed")
    with tern.connect() as c:
        c.send(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<nobody@localhost>\r\n"
               b"RCPT TO:<alice@localhost>\r\nRCPT TO:<x@example.org>\r\n"
               b"NOOP\r\nDATA\r\n")
        c.expect(250, "2.1.0")
        c.expect(550, "5.1.1")
        c.expect(250, "2.1.5")
        c.expect(550, "5.7.1")
        c.expect(250, "2.0.0")
        c.expect(354)
        c.send(dot_stuff(m))
        c.expect(250, "2.0.0")
    files = tern.wait_delivered(1)
    tern.sync()
    assert tern.delivered() == files
    assert tern.mailbox("localhost", "alice") == files


def test_pipelining_several_transactions(tern):
    m1, m2, m3 = msg("one"), msg("two"), msg("three")
    with tern.client() as c:
        c.expect(220)
        c.send(b"EHLO client.test\r\nMAIL FROM:<s1@b.example>\r\n"
               b"RCPT TO:<alice@localhost>\r\nDATA\r\n")
        c.expect(250)
        c.expect(250, "2.1.0")
        c.expect(250, "2.1.5")
        c.expect(354)
        c.send(dot_stuff(m1) + b"RSET\r\nMAIL FROM:<s2@b.example>\r\n"
               b"RCPT TO:<carol@example.test>\r\nDATA\r\n")
        c.expect(250, "2.0.0")
        c.expect(250, "2.0.0")
        c.expect(250, "2.1.0")
        c.expect(250, "2.1.5")
        c.expect(354)
        c.send(dot_stuff(m2) + b"RSET\r\nMAIL FROM:<s3@b.example>\r\n"
               b"RCPT TO:<root@localhost>\r\nDATA\r\n")
        c.expect(250, "2.0.0")
        c.expect(250, "2.0.0")
        c.expect(250, "2.1.0")
        c.expect(250, "2.1.5")
        c.expect(354)
        c.send(dot_stuff(m3) + b"RSET\r\nQUIT\r\n")
        c.expect(250, "2.0.0")
        c.expect(250, "2.0.0")
        c.expect(221, "2.0.0")
        c.expect_closed()
    tern.wait_delivered(3)
    check_file(tern.mailbox("localhost", "alice")[0], "s1@b.example", m1)
    check_file(tern.mailbox("example.test", "carol")[0], "s2@b.example", m2)
    check_file(tern.mailbox("localhost", "postmaster")[0], "s3@b.example",
               m3)


def test_maildir_layout(tern):
    """tmp/ then rename into new/: nothing is left in tmp/."""
    with tern.connect() as c:
        send_mail(c, "a@b.example", ["alice@localhost"], msg("md")).check(250)
    f = tern.wait_delivered(1)[0]
    box = tern.drop / "localhost" / "alice"
    assert f.parent == box / "new"
    tmp = box / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []
    assert re.match(r"^[A-Za-z0-9._,:=-]+$", f.name), f.name
