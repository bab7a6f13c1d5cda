"""
The queue under load and at its limits: a healthy disk never makes tern
answer 451/452 because the journal's append buffers are momentarily full
(back-pressure must wait, not refuse); many sessions share fdatasyncs
(group commit); a lone commit is fast; the index full answers 452 4.3.1
at RCPT, and a spool holding a full index still starts.
"""
import re
import statistics
import threading
import time

from queue_helpers import (LoadClients, Outcome, acked_files_present,
                           connect_quiet, count_states,
                           qfactory,  # noqa: F401 (fixture)
                           recovery_reports, verify_delivery, wait_for)

STATS_RE = re.compile(r"queue stats journal-bytes=(\d+) syncs=(\d+) "
                      r"commits=(\d+)")


def test_no_temporary_failure_under_load(qfactory):
    """Six clients stream 2 MiB messages in 1 MiB BDAT chunks while six
    others send small ones: the writer falls behind now and then, which
    must slow the clients down, not refuse them. Every reply is 250."""
    t = qfactory("load", server="max-messages 0",
                 global_="queue {\n    retry 1s\n}\n")
    big = LoadClients(t.port, nthreads=6, seed=1, tag="big",
                      sizes=(2 << 20, 2 << 20 + 1), max_per_conn=2)
    small = LoadClients(t.port, nthreads=6, seed=2, tag="small",
                        sizes=(100, 5000), max_per_conn=10)
    big.start()
    small.start()
    time.sleep(3)
    outcomes = big.stop(60) + small.stop(60)
    wait_for(lambda: acked_files_present(t.drop, outcomes), 60)
    t.sync(timeout=60)
    problems = verify_delivery(t.drop, outcomes, allow_refused=True)
    assert not problems, problems[:20]
    refused = [(o.seq, o.reply) for o in outcomes
               if o.state != Outcome.ACKED]
    assert not refused, (f"{len(refused)} of {len(outcomes)} messages not "
                         f"accepted on a healthy disk: {refused[:8]}")


def test_group_commit_shares_syncs(qfactory):
    """Twenty sessions sending at once: fewer fdatasyncs than commits."""
    t = qfactory("group", server="max-messages 0")
    load = LoadClients(t.port, nthreads=20, seed=3, tag="g",
                       sizes=(200, 2000), max_per_conn=10)
    load.start()
    time.sleep(2)
    outcomes = load.stop()
    assert count_states(outcomes).get(Outcome.ACKED, 0) >= 200
    t.stop_checked()
    m = STATS_RE.findall(t.log())
    assert m, t.log()[-2000:]
    _, syncs, commits = map(int, m[-1])
    assert commits >= 200 and syncs < 0.8 * commits, (
        f"syncs={syncs} commits={commits}: no group commit")


def test_lone_commit_latency(qfactory):
    """One client, one message at a time: the 250 comes within a few
    milliseconds (one write and one fdatasync), not after a timer."""
    t = qfactory("lat")
    c = connect_quiet(t.port)
    msg = b"Subject: lat\r\n\r\nbody\r\n"
    lat = []
    for k in range(40):
        c.cmd("MAIL FROM:<a@client.test>", 250)
        c.cmd("RCPT TO:<alice@localhost>", 250)
        t0 = time.monotonic()
        c.send(f"BDAT {len(msg)} LAST\r\n".encode() + msg)
        c.expect(250, "2.0.0")
        lat.append(time.monotonic() - t0)
    c.close()
    med = statistics.median(lat)
    assert med < 0.05, f"median commit latency {med * 1000:.1f} ms: {lat}"


INDEX_MAX = 10000        # CONFIG_QUEUE_MAX_MESSAGES of both boards


def fill_queue(t, n, nconn=4):
    """n messages to carol (whose tmp/ is a file: delivery fails at once,
    the messages stay); MAIL/RCPT/BDAT pipelined per connection. Returns
    the replies of the BDAT LAST commands."""
    body = b"Subject: q\r\n\r\nq\r\n"
    per = [n // nconn + (1 if k < n % nconn else 0) for k in range(nconn)]
    results = [None] * nconn

    def run(k):
        c = connect_quiet(t.port, timeout=60)
        one = (b"MAIL FROM:<f@client.test>\r\nRCPT TO:<carol@example.test>"
               b"\r\n" + f"BDAT {len(body)} LAST\r\n".encode() + body)
        out = []
        sender = threading.Thread(target=c.sock.sendall,
                                  args=(one * per[k],), daemon=True)
        sender.start()
        for _ in range(per[k]):
            r1, r2, r3 = c.reply(60), c.reply(60), c.reply(60)
            out.append((r1.code, r2.code, r3.code))
        sender.join(60)
        c.cmd("QUIT")
        c.close()
        results[k] = out

    ths = [threading.Thread(target=run, args=(k,)) for k in range(nconn)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(120)
    return [r for rs in results for r in rs]


def test_index_full_then_restart(qfactory):
    """10,000 live messages fill the index: the next RCPT gets 452 4.3.1.
    One transaction was abandoned on the way (its envelope is in the
    journal, never committed). The server must still start on this spool
    (the abandoned one is dropped, it does not need an index entry for
    good), and `tern journal check` must be able to read it."""
    t = qfactory("full", server="max-messages 0",
                 global_="queue {\n    retry 1h\n}\n")
    tmp = t.drop / "example.test" / "carol" / "tmp"
    tmp.rmdir()
    tmp.write_text("not a directory\n")
    got = fill_queue(t, INDEX_MAX - 1)
    assert all(r == (250, 250, 250) for r in got), \
        sorted(set(got))[:5]
    c = connect_quiet(t.port)
    c.cmd("MAIL FROM:<a@client.test>", 250)
    c.cmd("RCPT TO:<carol@example.test>", 250)
    c.cmd("RSET", 250)                  # abandoned: MSG/RCPT in the journal
    body = b"Subject: last\r\n\r\nx\r\n"
    c.cmd("MAIL FROM:<a@client.test>", 250)
    c.cmd("RCPT TO:<carol@example.test>", 250)
    c.send(f"BDAT {len(body)} LAST\r\n".encode() + body)
    c.expect(250, "2.0.0")
    c.cmd("MAIL FROM:<a@client.test>", 250)
    r = c.cmd("RCPT TO:<alice@localhost>")
    assert r.code == 452 and r.enh == "4.3.1", f"index full: {r}"
    c.cmd("RSET", 250)
    c.close()
    t.stop_checked()
    t.start()
    rep = recovery_reports(t.log())[-1]
    assert rep["messages"] == INDEX_MAX and rep["dropped"] == 1, rep
    t.stop_checked()
    rc, out, s = t.journal_check()
    assert rc == 0 and s["messages"] == INDEX_MAX and s["dropped"] == 1, out
