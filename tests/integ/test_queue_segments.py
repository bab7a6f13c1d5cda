"""
The journal across segment boundaries (16 MiB segments by default): a
message whose records run from one segment into the next is delivered
like any other; deleting a finished segment never loses a record that a
message in an older, kept segment still needs (its DONE), so a finished
message does not come back after a restart.
"""
import random
import shutil
import time

import pytest

from conftest import dot_stuff
from queue_helpers import (Outcome, connect_quiet, delivered_index,
                           fast_message, file_name,
                           qfactory,  # noqa: F401 (fixture)
                           send_one, verify_delivery, wait_for)

SEG = 16 * 1024 * 1024
BIG = "max-message-size 0\nmax-session-size 0"


def send_serial(t, tag, sizes, rcpts, seed=1):
    rng = random.Random(seed)
    c = connect_quiet(t.port, timeout=60)
    out = []
    for k, size in enumerate(sizes):
        o = Outcome(f"{tag}{k}", fast_message(f"{tag}{k}", size, rng),
                    list(rcpts), "bdat" if k % 2 else "data")
        assert send_one(c, o, rng, chunk_sizes=[1 << 20]) and \
            o.state == Outcome.ACKED, o.reply
        out.append(o)
    c.cmd("QUIT")
    c.close()
    return out


@pytest.mark.parametrize("segment,sizes", [
    ("default", [7 << 20] * 3),
    ("256K", [600_000, 100_000, 250_000, 700_000, 3000])])
def test_message_across_segments_is_delivered(qfactory, segment, sizes):
    """Messages that start in one segment and end in the next (default
    16 MiB segments: three 7 MiB messages; 256 KiB segments: messages
    spanning up to four). All must be delivered, byte-exact; a restart
    afterwards brings nothing back."""
    seg = "" if segment == "default" else f"    segment-size {segment}\n"
    t = qfactory("across", server=BIG,
                 global_=f"queue {{\n    retry 1s\n{seg}}}\n")
    msgs = send_serial(t, "x", sizes, ["alice@localhost", "bob@localhost"])
    assert len(t.segments()) >= 2
    for o in msgs:
        p = t.drop / "localhost" / "bob" / "new" / file_name(o.qid)
        assert wait_for(p.exists, 8), (
            f"{o.seq} ({len(o.message)} B) not delivered; log:\n"
            + "\n".join(ln for ln in t.log().splitlines()
                        if o.qid in ln)[-2000:])
    problems = verify_delivery(t.drop, msgs)
    assert not problems, problems
    t.sync()
    t.stop_checked()
    rc, out, s = t.journal_check()
    assert rc == 0 and s["messages"] == 0, out
    for q in list(t.drop.glob("*/*/new/*")):
        q.rename(q.parent.parent / "cur" / q.name)
    t.start()
    t.sync()
    assert not delivered_index(t.drop)


def test_done_survives_deletion_of_its_segment(qfactory):
    """Small segments (segment-size 256K). A deferred message P keeps
    segment 1. Message M is committed in segment 1 but its delivery
    (queued behind a slow one, X to 60 mailboxes) ends after the journal
    moved on, so M's DONE is in a later segment. When that later segment
    holds nothing live it may be deleted -- but M's MSG..COMMIT are still
    in segment 1, and M must not come back as a live message at the next
    start and be delivered again (by then a mail reader has moved the
    first copy to cur/). The runs are kept short (under the scheduler's
    1 s tick) so that P is not copied forward in between, as after quick
    restarts."""
    boxes = "".join("    mailbox " + " ".join(f"m{i}" for i in range(k, k + 10))
                    + "\n" for k in range(0, 60, 10))
    t = qfactory("sweep", server=BIG,
                 global_="queue {\n    retry 1h\n    segment-size 256K\n}\n"
                         f"domain big.test {{\n{boxes}}}\n")
    new = t.drop / "example.test" / "carol" / "new"
    shutil.rmtree(new)
    new.write_text("not a directory\n")
    rng = random.Random(7)
    # P: deferred, stays live in segment 1
    [p] = send_serial(t, "p", [2000], ["carol@example.test"])
    assert wait_for(lambda: "status=deferred" in t.log(), 5)
    # X: 150 KB to 60 mailboxes keeps the delivery thread busy
    [x] = send_serial(t, "x", [150_000],
                      [f"m{i}@big.test" for i in range(60)], seed=2)
    # M: small, queued for delivery behind X
    [m] = send_serial(t, "m", [3000], ["alice@localhost"], seed=3)
    # Z: a 600 KB transaction cut off before its end moves the journal on
    # to later segments while X is still being delivered
    c = connect_quiet(t.port, timeout=60)
    c.cmd("MAIL FROM:<z@client.test>", 250)
    c.cmd("RCPT TO:<alice@localhost>", 250)
    c.cmd("DATA", 354)
    z = fast_message("z", 600_000, rng)
    c.send(dot_stuff(z)[:-5])
    time.sleep(0.05)
    c.close()
    assert wait_for(lambda: (t.drop / "localhost" / "alice" / "new" /
                             file_name(m.qid)).exists(), 30)
    t.sync()
    t.stop_checked()
    rc, vout, s = t.journal_check(verbose=True)
    m_recs = [ln for ln in vout.splitlines() if f"id={m.qid}" in ln]
    commit_seg = [ln.split("+")[0] for ln in m_recs if " commit " in ln]
    done_seg = [ln.split("+")[0] for ln in m_recs if " done " in ln]
    if not (commit_seg and done_seg and done_seg[0] > commit_seg[0]) or \
            "copied-forward" in t.log():
        pytest.fail("could not arrange M's DONE in a later segment than its "
                    f"COMMIT with P not copied: {m_recs}")
    assert s["messages"] == 1, vout[-2000:]
    # the restart deletes what it considers finished segments
    t.start()
    t.sync()
    t.stop_checked()
    rc, vout2, s2 = t.journal_check(verbose=True)
    # the reader's view: move everything to cur/, restart: nothing new
    for q in list(t.drop.glob("*/*/new/*")):
        q.rename(q.parent.parent / "cur" / q.name)
    t.start()
    t.sync()
    time.sleep(0.5)
    again = sorted(delivered_index(t.drop))
    assert s2["messages"] == 1 and not again, (
        f"after a restart the journal has {s2['messages']} live messages "
        f"instead of 1 (only P): finished messages came back; after the "
        f"next restart delivered again: {again}\n"
        f"segments: {[q.name for q in t.segments()]}\n"
        + "\n".join(ln for ln in vout2.splitlines()
                     if (f"id={m.qid}" in ln or f"id={x.qid}" in ln)
                     and " rcpt " not in ln and " result " not in ln)
        + f"\n(before the restart M was: {m_recs[:1] + m_recs[-3:]})")
