"""
Restarting with messages still in the queue: recipients whose delivery
failed (their Maildir's new/ is a file, so the rename fails even for root)
are deferred, stay in the journal, are reported by `tern journal check`
and are delivered after the fault is fixed, by the retry timer or by a
restart (SIGTERM or kill -9); a recipient already delivered is not
delivered again; a message that is done does not come back; a transaction
cut off by the shutdown is dropped.
"""
import shutil
import time

import pytest

from queue_helpers import (Outcome, connect_quiet, delivered_index,
                           fast_message, file_name, journal_check,
                           qfactory,  # noqa: F401 (fixture)
                           recovery_reports, send_one, spool_digest,
                           verify_delivery, wait_for)
import random

RETRY_SLOW = "queue {\n    retry 1h\n}\n"
RETRY_FAST = "queue {\n    retry 1s\n}\n"


def break_box(t, domain, box):
    new = t.drop / domain / box / "new"
    shutil.rmtree(new)
    new.write_text("not a directory: delivery here fails\n")
    return new


def fix_box(new):
    new.unlink()
    new.mkdir()


def send(t, tag, rcpts, n=3, size=3000, seed=1):
    rng = random.Random(seed)
    c = connect_quiet(t.port)
    assert c is not None
    out = []
    for k in range(n):
        o = Outcome(f"{tag}{k}", fast_message(f"{tag}{k}", size, rng),
                    list(rcpts), "bdat" if k % 2 else "data")
        assert send_one(c, o, rng) and o.state == Outcome.ACKED, o.reply
        out.append(o)
    c.cmd("QUIT")
    c.close()
    return out


def deferred_count(t):
    return t.log().count("status=deferred")


@pytest.mark.parametrize("stop", ["sigterm", "kill9"])
def test_deferred_then_restart_redelivers(qfactory, stop):
    t = qfactory("defer", global_=RETRY_SLOW)
    new = break_box(t, "example.test", "carol")
    msgs = send(t, "d", ["alice@localhost", "carol@example.test"], n=3)
    msgs += send(t, "c", ["carol@example.test"], n=1, seed=2)
    assert wait_for(lambda: deferred_count(t) >= 4, 10), t.log()
    assert "maildir example.test/carol" in t.log()
    t.sync()
    alice = sorted(p.name for p in t.drop.glob("localhost/alice/new/*"))
    assert alice.count(file_name(msgs[0].qid)) == 1
    if stop == "sigterm":
        t.stop_checked()
    else:
        t.kill9()
    # offline: four messages committed and not done, nothing to drop
    before = spool_digest(t.spool)
    rc, out, s = t.journal_check()
    assert spool_digest(t.spool) == before, "journal check changed the spool"
    assert rc == 0, out
    # after kill -9 the sentinel's DONE may not be on disk yet (results
    # are not synced on their own): it is then live again, harmlessly
    assert s["messages"] == 4 or (stop == "kill9" and s["messages"] == 5), out
    assert s["dropped"] == 0 and s["bad_records"] == 0, out
    assert "recovery would drop" not in out, out
    rc, vout, _ = t.journal_check(verbose=True)
    for o in msgs:
        assert f"commit id={o.qid}" in vout, vout[-3000:]
    fix_box(new)
    t.start()
    got = recovery_reports(t.log())[-1]
    assert got["messages"] == s["messages"] and got["dropped"] == 0, got
    for o in msgs:
        p = t.drop / "example.test" / "carol" / "new" / file_name(o.qid)
        assert wait_for(p.exists, 10), f"{o.seq} not redelivered to carol"
    t.sync()
    problems = verify_delivery(t.drop, msgs)
    assert not problems, problems
    t.stop_checked()
    rc, out, s = t.journal_check()
    assert rc == 0 and s["messages"] == 0, out


def test_deferred_retried_by_timer(qfactory):
    """With `retry 1s` a deferred recipient is tried again without a
    restart once its mailbox works."""
    t = qfactory("timer", global_=RETRY_FAST)
    new = break_box(t, "localhost", "bob")
    msgs = send(t, "r", ["bob@localhost"], n=2)
    assert wait_for(lambda: deferred_count(t) >= 2, 10), t.log()
    fix_box(new)
    for o in msgs:
        p = t.drop / "localhost" / "bob" / "new" / file_name(o.qid)
        assert wait_for(p.exists, 10), f"{o.seq} not retried\n{t.log()[-2000:]}"
    assert not verify_delivery(t.drop, msgs)


def test_done_messages_do_not_come_back(qfactory):
    """Delivered messages are done: after a clean restart nothing is
    delivered again, even when the mailbox owner has moved the files out
    of new/ (as a mail reader does, into cur/)."""
    t = qfactory("done")
    msgs = send(t, "k", ["alice@localhost", "bob@localhost"], n=5)
    t.sync()
    assert not verify_delivery(t.drop, msgs)
    t.stop_checked()
    rc, out, s = t.journal_check()
    assert rc == 0 and s["messages"] == 0, out
    for p in list(t.drop.glob("*/*/new/*")):
        p.rename(p.parent.parent / "cur" / p.name)
    t.start()
    t.sync()
    time.sleep(0.2)
    again = delivered_index(t.drop)
    assert not again, f"delivered again after a restart: {sorted(again)}"


def test_shutdown_drops_open_transaction(qfactory):
    """A transaction with recipients (its envelope is in the journal) that
    the shutdown cuts off was never acknowledged: `tern journal check`
    says recovery would drop it, recovery does, nothing is delivered."""
    t = qfactory("open")
    c = connect_quiet(t.port)
    c.cmd("MAIL FROM:<a@client.test>", 250)
    c.cmd("RCPT TO:<alice@localhost>", 250)
    c.cmd("RCPT TO:<bob@localhost>", 250)
    c.send(b"BDAT 100\r\n" + b"x" * 98 + b"\r\n")
    c.expect(250)
    done = send(t, "o", ["carol@example.test"], n=1)
    t.sync()
    t.stop_checked()
    c.close()
    rc, out, s = t.journal_check()
    assert rc == 0, out
    assert s["dropped"] == 1 and s["messages"] == 0, out
    assert "recovery would drop 1 messages never acknowledged" in out, out
    t.start()
    got = recovery_reports(t.log())[-1]
    assert got["dropped"] == 1, got
    t.sync()
    assert not verify_delivery(t.drop, done)
    assert [p.parent.parent.name for p in t.delivered()] == ["carol"]


def test_journal_check_usage_and_missing_dir(qfactory, tmp_path):
    import subprocess
    import conftest
    p = subprocess.run([str(conftest.TERN_BIN), "journal", "check"],
                       capture_output=True, timeout=10)
    assert p.returncode != 0
    p = subprocess.run([str(conftest.TERN_BIN), "journal", "check",
                        str(tmp_path / "nope")], capture_output=True,
                       timeout=10)
    assert p.returncode != 0
    assert b"nope" in p.stderr + p.stdout
    # an empty spool is a clean one
    (tmp_path / "empty").mkdir()
    rc, out, s = journal_check(conftest.TERN_BIN, tmp_path / "empty")
    assert rc == 0 and s == {"segments": 0, "records": 0, "messages": 0,
                             "dropped": 0, "torn": 0, "torn_bytes": 0,
                             "bad_records": 0}, out


def test_restart_loop_keeps_deferred_and_frees_segments(qfactory):
    """Four restarts with a recipient that stays deferred: the message is
    kept (and tried once per start), the messages delivered meanwhile are
    done; once the deferred message has waited a moment (its copy forward
    is made on the scheduler's tick) the segments that held only finished
    messages are deleted: not one 16 MiB segment per restart."""
    t = qfactory("loop", global_=RETRY_SLOW)
    new = break_box(t, "example.test", "carol")
    stuck = send(t, "s", ["carol@example.test"], n=1)
    everything = list(stuck)
    for k in range(4):
        everything += send(t, f"l{k}-", ["alice@localhost"], n=3, seed=10 + k)
        t.sync()
        if k:
            # give the copy-forward a chance (it runs on a 1 s tick, for
            # a message waiting in the oldest segment)
            wait_for(lambda: t.log().count("copied-forward") >= k, 2.5)
        t.restart()
    t.sync()
    wait_for(lambda: t.log().count("copied-forward") >= 4, 2.5)
    t.stop_checked()
    rc, out, s = t.journal_check()
    assert rc == 0 and s["messages"] == 1, out
    segs = t.segments()
    # issue 3: "a segment whose messages are all finished is deleted;
    # live messages from old segments are copied forward so old segments
    # can go"
    assert len(segs) <= 3, (
        f"{len(segs)} segments kept for one live message: "
        f"{[p.name for p in segs]}\n{out}")
    fix_box(new)
    t.start()
    p = t.drop / "example.test" / "carol" / "new" / file_name(stuck[0].qid)
    assert wait_for(p.exists, 10)
    t.sync()
    assert not verify_delivery(t.drop, everything)
    t.restart()
    t.sync()
    t.stop_checked()
    rc, out, s = t.journal_check()
    assert rc == 0 and s["messages"] == 0, out
    assert len(t.segments()) <= 2, [p.name for p in t.segments()]


def test_kill9_mid_delivery_to_many_mailboxes(qfactory):
    """A 2 MiB message to 70 mailboxes (more than one delivery batch);
    kill -9 while the copies are being written; after the restart every
    mailbox has exactly one copy, byte-exact (the copies already in new/
    are recognised by name and not written again)."""
    boxes = "".join("    mailbox " + " ".join(f"m{i}" for i in range(k, k + 10))
                    + "\n" for k in range(0, 70, 10))
    t = qfactory("many", global_=f"domain big.test {{\n{boxes}}}\n")
    rcpts = [f"m{i}@big.test" for i in range(70)]
    rng = random.Random(70)
    c = connect_quiet(t.port, timeout=30)
    o = Outcome("many", fast_message("many", 2 << 20, rng), rcpts, "bdat")
    assert send_one(c, o, rng, chunk_sizes=[1 << 20]) and \
        o.state == Outcome.ACKED, o.reply
    c.close()
    assert wait_for(lambda: len(list(t.drop.glob("big.test/*/new/*"))) >= 10,
                    20, step=0.001)
    t.kill9()
    n_before = len(list(t.drop.glob("big.test/*/new/*")))
    t.start()
    assert wait_for(lambda: len(list(t.drop.glob("big.test/*/new/*"))) >= 70,
                    30)
    t.sync()
    problems = verify_delivery(t.drop, [o])
    assert not problems, (f"{n_before} copies before the kill", problems[:10])


def test_copy_forward_keeps_recipient_states(qfactory):
    """Small segments (256K): messages to alice (delivered) and carol
    (deferred) are copied forward out of old segments. The copies must
    carry the recipients' states: after a restart alice does not get them
    again (a reader has moved her mail to cur/), carol gets each once
    when her mailbox works, and then the queue is empty."""
    t = qfactory("copy", global_="queue {\n    retry 1h\n"
                                 "    segment-size 256K\n}\n")
    new = break_box(t, "example.test", "carol")
    both = send(t, "b", ["alice@localhost", "carol@example.test"], n=5,
                size=20_000)
    assert wait_for(lambda: deferred_count(t) >= 5, 10)
    # traffic that moves the journal on, so the first segment is old
    filler = send(t, "f", ["bob@localhost"], n=12, size=60_000, seed=3)
    t.sync()
    assert len(t.segments()) >= 2
    assert wait_for(lambda: t.log().count("copied-forward") >= 5, 5), \
        "deferred messages were not copied forward"
    for p in list(t.drop.glob("*/*/new/*")):
        p.rename(p.parent.parent / "cur" / p.name)
    t.restart()
    t.sync()
    time.sleep(0.3)
    again = sorted(delivered_index(t.drop))
    assert not again, f"delivered again after copy-forward + restart: {again}"
    fix_box(new)
    t.restart()
    for o in both:
        p = t.drop / "example.test" / "carol" / "new" / file_name(o.qid)
        assert wait_for(p.exists, 10), f"{o.seq} lost for carol"
    t.sync()
    time.sleep(0.3)
    got = delivered_index(t.drop)
    assert sorted(got) == sorted(file_name(o.qid) for o in both), sorted(got)
    assert all(len(v) == 1 for v in got.values())
    assert all(p.parent.parent.name == "carol" for v in got.values()
               for p, _ in v)
    # byte-exact for carol
    for o in both:
        [(p, data)] = got[file_name(o.qid)]
        assert data.endswith(o.message)
    t.stop_checked()
    rc, out, s = t.journal_check()
    assert rc == 0 and s["messages"] == 0, out
    assert len(t.segments()) <= 2, [p.name for p in t.segments()]


def test_copy_forward_more_than_the_append_buffers(qfactory):
    """4.8 MB of deferred mail (16 messages of 300 KB) in one old segment
    (segment-size 8M): each copy-forward pass runs out of append buffers
    (4 x 256 KiB) in the middle of a copy, gives that copy up and copies
    the message again on a later tick. Once the old segment is gone, a
    restart must still find every message (the abandoned pieces of the
    first copy must not hide the complete second one), and each is
    delivered once its mailbox works."""
    n = 16
    t = qfactory("copybuf", global_="queue {\n    retry 1h\n"
                                    "    segment-size 8M\n}\n")
    new = break_box(t, "example.test", "carol")
    msgs = send(t, "cb", ["carol@example.test"], n=n, size=300_000)
    assert wait_for(lambda: deferred_count(t) >= n, 10)
    first = t.segments()[0]
    t.restart()                         # the journal moves on: seg 1 is old
    assert wait_for(lambda: t.log().count("copied-forward") >= n, 10), \
        f"{t.log().count('copied-forward')} of {n} copied forward"
    assert wait_for(lambda: not first.exists(), 5), "old segment kept"
    t.sync()
    t.stop_checked()
    rc, out, s = t.journal_check()
    assert rc == 0, out
    assert s["messages"] == n, (
        f"{n - s['messages']} deferred messages lost after copy-forward "
        f"and a restart:\n{out}")
    fix_box(new)
    t.start()
    for o in msgs:
        p = t.drop / "example.test" / "carol" / "new" / file_name(o.qid)
        assert wait_for(p.exists, 10), f"{o.seq} lost"
    t.sync()
    assert not verify_delivery(t.drop, msgs)
