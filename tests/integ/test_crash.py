"""
Crash safety of the queue: a message that got a 250 survives kill -9 and
power loss byte for byte, and nothing that was not acknowledged comes out
as a delivered message it should not be.

  kill -9 cycles    24 cycles of: start, several concurrent clients (DATA
                    and BDAT, 100 B to 200 KB), SIGKILL at a random moment
                    (some right after start, during recovery), restart;
                    then drain and compare the drop directory with what
                    the clients were told.
  power cut         TERN_FAULT=write:N:tear (host build): the Nth journal
                    write is half done, then the process kills itself;
                    `tern journal check` before recovery agrees with what
                    recovery reports, and afterwards the journal is clean.
  torn tails        the last segment of a stopped server gets garbage,
                    partial records or a cut at random offsets; `tern
                    journal check` predicts recovery; what was complete
                    before the damage is delivered, nothing else.
  storage faults    TERN_FAULT write/sync fail, nospc, short (host build):
                    the messages of the failed batch get 451 4.3.0, the
                    next ones succeed, nothing acknowledged is lost and
                    nothing refused is delivered, also after a restart.
  ENOSPC            a small tmpfs holds spool and drop: 452 4.3.1 at MAIL
                    while it is full, 451 4.3.0 when a new segment cannot
                    be allocated, normal service once space is freed.

Runs in about a minute; seeds are fixed.
"""
import os
import random
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import tail
from queue_helpers import (LoadClients, Outcome, QueueServer,
                           acked_files_present, connect_quiet, count_states,
                           delivered_by_seq, fast_message, fault_binary,
                           qfactory,  # noqa: F401 (fixture)
                           recovery_reports, send_one, spool_digest,
                           verify_delivery, wait_for)

RETRY_FAST = "queue {\n    retry 1s\n}\n"


def drain(t, outcomes, timeout=60):
    """Wait until every acknowledged message has its files, then push a
    sentinel through."""
    ok = wait_for(lambda: acked_files_present(t.drop, outcomes), timeout)
    t.sync(timeout=timeout)
    return ok


def assert_no_problems(problems, t, extra=""):
    assert not problems, (f"{len(problems)} problems{extra}:\n" +
                          "\n".join(problems[:40]) +
                          f"\nlog tail:\n{tail(t.log(), 30)}")


# ---- kill -9 under load ------------------------------------------------------------

CYCLES = 24


@pytest.mark.parametrize("segment", ["default", "256K"])
def test_kill9_cycles_under_load(qfactory, segment):
    """24 cycles: start, four clients sending concurrently, SIGKILL at a
    random moment (every fifth cycle within 30 ms of the start, while
    recovery and redelivery run). Before each restart `tern journal
    check` must leave the spool as it is and predict what recovery then
    reports. At the end every 250 is in its mailboxes byte-identical under
    its queue id, once; nothing not fully sent is delivered. Run with the
    default segments and with 256 KiB ones (messages then span segments,
    segments are switched and deleted all the time)."""
    rng = random.Random(9009)
    seg = "" if segment == "default" else f"    segment-size {segment}\n"
    t = qfactory("crash", global_=f"queue {{\n    retry 1s\n{seg}}}\n")
    outcomes = []
    early = 0
    predicted = None
    for cycle in range(CYCLES):
        if cycle:
            t.start()
            got = recovery_reports(t.log())[-1]
            for k in ("segments", "records", "messages", "dropped",
                      "torn_bytes", "bad_records"):
                assert got[k] == predicted[k], (
                    f"cycle {cycle}: journal check said {k}={predicted[k]}, "
                    f"recovery did {got[k]}")
        load = LoadClients(t.port, nthreads=4, seed=cycle + len(segment),
                           tag=f"c{cycle}")
        load.start()
        if cycle % 5 == 2:
            delay = rng.uniform(0.0, 0.03)      # during recovery/redelivery
            early += 1
        else:
            delay = rng.uniform(0.1, 0.5)
        time.sleep(delay)
        t.kill9()
        outcomes += load.stop()
        before = spool_digest(t.spool)
        rc, out, predicted = t.journal_check()
        assert spool_digest(t.spool) == before, "journal check changed files"
        assert rc == 0 and predicted["bad_records"] == 0, out
    states = count_states(outcomes)
    print(f"kill -9 cycles ({segment}): {CYCLES} ({early} early), "
          f"outcomes {states}")
    assert states.get(Outcome.ACKED, 0) >= 100, states
    # the last start: everything acknowledged must come out
    t.start()
    assert recovery_reports(t.log())[-1]["records"] == predicted["records"]
    drained = drain(t, outcomes)
    problems = verify_delivery(t.drop, outcomes)
    assert_no_problems(problems, t, f" after {CYCLES} kill -9 cycles "
                       f"({early} early), outcomes {states}")
    assert drained
    t.stop_checked()
    reports = recovery_reports(t.log())
    assert len(reports) == CYCLES + 1, reports
    assert all(r["bad_records"] == 0 for r in reports), reports
    rc, out, s = t.journal_check()
    assert rc == 0, out
    assert s["messages"] == 0, f"messages left in the queue after drain:\n{out}"
    assert s["torn"] == 0 and s["bad_records"] == 0, out
    # finished segments are deleted: what is left is the one in use
    segs = t.segments()
    assert len(segs) <= 2, (f"{len(segs)} segments left after everything was "
                            f"delivered: {[p.name for p in segs]}")


def test_kill9_during_copy_forward(qfactory):
    """Ten cycles with 256 KiB segments and carol's mailbox broken, so her
    mail is deferred and copied forward out of old segments on the 1 s
    tick; SIGKILL lands around those copies. Then her mailbox is fixed:
    every acknowledged message reaches every recipient exactly once,
    byte-identical, and the queue ends empty."""
    rng = random.Random(4242)
    t = qfactory("copycrash",
                 global_="queue {\n    retry 1h\n    segment-size 256K\n}\n")
    new = t.drop / "example.test" / "carol" / "new"
    shutil.rmtree(new)
    new.write_text("not a directory\n")
    outcomes = []
    for cycle in range(10):
        if cycle:
            t.start()
        load = LoadClients(t.port, nthreads=3, seed=500 + cycle,
                           tag=f"cf{cycle}", sizes=(100, 40_000))
        load.start()
        time.sleep(rng.uniform(0.2, 0.5))
        outcomes += load.stop()
        time.sleep(rng.uniform(0.5, 1.2))   # deliveries, ticks, copies
        t.kill9()
    copies = t.log().count("copied-forward")
    states = count_states(outcomes)
    print(f"copy-forward crash cycles: outcomes {states}, copies {copies}")
    assert copies >= 3, f"only {copies} copies forward happened"
    new.unlink()
    new.mkdir()
    t.start()
    drain(t, outcomes)
    assert_no_problems(verify_delivery(t.drop, outcomes), t,
                       f" (outcomes {states}, {copies} copies forward)")
    t.stop_checked()
    rc, out, s = t.journal_check()
    assert rc == 0 and s["messages"] == 0, out


# ---- power cut: a torn write ----------------------------------------------------------

TEAR_CYCLES = 8


def test_power_cut_torn_write(qfactory):
    """TERN_FAULT=write:N:tear: half of the Nth write reaches the file and
    the process dies at once. Before each restart `tern journal check`
    must predict exactly what recovery then reports; after recovery the
    journal has no torn tail; at the end every acknowledged message is
    delivered byte-exact."""
    binary = fault_binary()
    rng = random.Random(7474)
    t = qfactory("tear", global_=RETRY_FAST, binary=binary)
    t.stop_checked()
    outcomes = []
    torn_seen = 0
    for cycle in range(TEAR_CYCLES):
        n = rng.randrange(1, 40)
        t.start(env={"TERN_FAULT": f"write:{n}:tear"})
        load = LoadClients(t.port, nthreads=4, seed=100 + cycle,
                           tag=f"tear{cycle}", sizes=(100, 60_000))
        load.start()
        rc = t.wait_gone(timeout=8)
        if rc is None:
            t.kill9()                   # the Nth write never came
        outcomes += load.stop()
        before = spool_digest(t.spool)
        crc, out, predicted = t.journal_check()
        assert spool_digest(t.spool) == before, "journal check changed files"
        assert crc == 0, out
        assert predicted["bad_records"] == 0, out
        torn_seen += predicted["torn"]
        if predicted["torn"]:
            assert "recovery would cut" in out, out
        # recovery, then a clean stop: the tail is cut
        t.start(env={})
        t.stop_checked()
        got = recovery_reports(t.log())[-1]
        for k in ("segments", "records", "messages", "dropped",
                  "torn_bytes", "bad_records"):
            assert got[k] == predicted[k], (
                f"cycle {cycle}: journal check said {k}={predicted[k]}, "
                f"recovery did {got[k]}\ncheck:\n{out}")
        crc, out, after = t.journal_check()
        assert crc == 0 and after["torn"] == 0 and after["torn_bytes"] == 0, out
    assert t.self_killed >= TEAR_CYCLES // 2, "the tear fault did not fire"
    assert torn_seen >= 1, "no torn tail was ever produced"
    t.start(env={})
    drain(t, outcomes)
    problems = verify_delivery(t.drop, outcomes)
    assert_no_problems(problems, t, f" outcomes {count_states(outcomes)}")


# ---- damaged tail of the last segment, tern stopped --------------------------------------

def parse_verbose(out):
    """`journal check -v` lines -> [(seg, off, seq, type, id, len)]."""
    recs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 5 and "+" in parts[0] and parts[1].startswith("seq="):
            seg, off = parts[0].split("+")
            recs.append((seg, int(off), int(parts[1][4:]), parts[2],
                         parts[3][3:], int(parts[4][4:])))
    return recs


def rec_size(length):
    return (32 + length + 7) & ~7


def make_stuck_spool(qfactory, n=30):
    """A stopped server whose n messages to carol are committed, delivery
    deferred (her new/ is a file), so they are all live in the journal.
    Returns (server, outcomes)."""
    t = qfactory("src", global_="queue {\n    retry 1h\n}\n")
    new = t.drop / "example.test" / "carol" / "new"
    shutil.rmtree(new)
    new.write_text("not a directory\n")
    rng = random.Random(55)
    outcomes = []
    c = connect_quiet(t.port)
    for k in range(n):
        seq = f"tail{k}"
        o = Outcome(seq, fast_message(seq, rng.choice([300, 3000, 30000]),
                                      rng), ["carol@example.test"],
                    "bdat" if k % 2 else "data")
        assert send_one(c, o, rng) and o.state == Outcome.ACKED, o.reply
        outcomes.append(o)
    c.close()
    wait_for(lambda: t.log().count("status=deferred") >= n, 10)
    t.stop_checked()
    return t, outcomes


DAMAGE = ["garbage", "partial-record", "bad-crc", "zeros-then-garbage",
          "truncate"]


def test_torn_tail_at_random_offsets(qfactory, tmp_path):
    """A power cut in the middle of a write leaves the last segment with
    a torn tail. Fifteen damaged copies of a stopped server's spool (30
    messages committed, not delivered): random garbage, the first part of
    a record, a record with a bad CRC, zeros then garbage after the last
    record, or the file cut at a random offset. For each: `tern journal
    check` exits 0, changes nothing, and predicts what recovery reports;
    recovery cuts the tail; every message complete before the damage is
    delivered byte-exact and nothing else; the queue ends empty."""
    src, outcomes = make_stuck_spool(qfactory)
    segs = src.segments()
    assert len(segs) == 1, segs
    pristine = segs[0].read_bytes()
    rc, vout, s0 = src.journal_check(verbose=True)
    assert rc == 0 and s0["messages"] == len(outcomes), vout
    recs = parse_verbose(vout)
    # records the verbose listing leaves out (bodies) are found by walking
    end = 0
    while end + 32 <= len(pristine) and pristine[end:end + 2] == b"TJ":
        (length,) = struct.unpack_from("<I", pristine, end + 4)
        end += rec_size(length)
    assert end > 0 and not pristine[end:end + 64].strip(b"\0")
    commits = {r[4]: r[1] + rec_size(r[5]) for r in recs if r[3] == "commit"}
    firsts = {}
    for r in recs:
        firsts.setdefault(r[4], r[1])
    by_id = {o.qid: o for o in outcomes}
    rng = random.Random(1234)
    trials = [(kind, k) for kind in DAMAGE for k in range(3)]
    for kind, k in trials:
        data = bytearray(pristine)
        cut = None
        if kind == "garbage":
            g = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 5000)))
            off = end
            data[off:off + len(g)] = g
        elif kind == "partial-record":
            # the first part of a real record, as a torn write leaves it
            r = rng.choice(recs)
            whole = pristine[r[1]:r[1] + rec_size(r[5])]
            # cut before the last non-zero byte (a cut in the padding, or
            # in zeros that end the payload, would leave a whole, valid
            # copy of an old record once the zeros after it are read)
            g = whole[:rng.randrange(1, len(whole.rstrip(b"\0")))]
            data[end:end + len(g)] = g
        elif kind == "bad-crc":
            r = rng.choice(recs)
            g = bytearray(pristine[r[1]:r[1] + rec_size(r[5])])
            g[32 if r[5] else 8] ^= 0x40      # payload, or the seq
            data[end:end + len(g)] = g
        elif kind == "zeros-then-garbage":
            gap = rng.randrange(32, 4096) // 8 * 8
            g = bytes(rng.randrange(1, 256) for _ in range(200))
            data[end + gap:end + gap + len(g)] = g
        else:
            cut = rng.randrange(0, end)
            data = data[:cut]
        name = f"{kind}-{k}"
        t = QueueServer(tmp_path / name, global_=RETRY_FAST)
        seg = t.spool / segs[0].name
        seg.write_bytes(bytes(data))
        before = spool_digest(t.spool)
        crc, out, pred = t.journal_check()
        assert spool_digest(t.spool) == before, "journal check changed files"
        assert crc == 0, f"{name}: exit {crc}\n{out}"
        if cut is None:
            survivors = set(by_id)
            assert pred["torn"] == 1, f"{name}: torn tail not seen\n{out}"
            assert pred["messages"] == len(outcomes), f"{name}\n{out}"
            assert pred["dropped"] == 0, f"{name}\n{out}"
        else:
            survivors = {i for i, e in commits.items() if e <= cut}
            started = {i for i, f in firsts.items() if f < cut}
            assert pred["messages"] == len(survivors), (
                f"{name}: cut at {cut}: expected {len(survivors)} messages"
                f"\n{out}")
            # a record cut in half is a torn tail; a cut between records
            # is not
            assert pred["dropped"] <= len(started - survivors), out
        try:
            t.start()
            got = recovery_reports(t.log())[-1]
            assert got["messages"] == pred["messages"], (name, got, pred)
            assert got["torn_bytes"] == pred["torn_bytes"], (name, got, pred)
            want = [by_id[i] for i in survivors]
            drain(t, want, timeout=20)
            problems = verify_delivery(t.drop, want)
            delivered = delivered_by_seq(t.drop)
            extra = set(delivered) - {o.seq for o in want}
            if extra:
                problems.append(f"delivered though incomplete: {sorted(extra)}")
            assert_no_problems(problems, t, f" ({name})")
        finally:
            t.stop_checked()
        crc, out, after = t.journal_check()
        assert crc == 0 and after["torn"] == 0, f"{name}: after recovery\n{out}"
        assert after["messages"] == 0, f"{name}: left in queue\n{out}"


def test_journal_check_exit_1_on_damaged_older_segment(qfactory, tmp_path):
    """Damage in a segment that is not the last is not a torn tail: the
    check counts it as a bad record and exits 1; nothing is changed."""
    src, outcomes = make_stuck_spool(qfactory, n=6)
    seg = src.segments()[0]
    data = bytearray(seg.read_bytes())
    data[40] ^= 0xff            # inside the first record's payload
    t = QueueServer(tmp_path / "older")
    (t.spool / seg.name).write_bytes(bytes(data))
    # a later, empty-but-valid segment makes the damaged one "older"
    later = t.spool / f"{int(seg.stem, 16) + 1:016x}.seg"
    later.write_bytes(b"\0" * 4096)
    before = spool_digest(t.spool)
    rc, out, s = t.journal_check()
    assert spool_digest(t.spool) == before
    assert rc == 1, out
    assert s["bad_records"] >= 1, out


# ---- storage faults (host build) -----------------------------------------------------------

FAULTS = [("write", "fail"), ("write", "nospc"), ("write", "short"),
          ("sync", "fail"), ("sync", "nospc")]


def send_serial(t, tag, n, rng, rcpts=("alice@localhost",), size=2000):
    out = []
    c = connect_quiet(t.port)
    assert c is not None
    for k in range(n):
        seq = f"{tag}-{k}"
        o = Outcome(seq, fast_message(seq, size, rng), list(rcpts),
                    "bdat" if k % 2 else "data")
        assert send_one(c, o, rng), o.reply
        out.append(o)
    c.cmd("QUIT")
    c.close()
    return out


@pytest.mark.parametrize("op,kind", FAULTS)
def test_fault_one_batch_fails(qfactory, op, kind):
    """One failed write or sync: the message of that batch gets 451 4.3.0
    (not acknowledged), the messages before and after get 250 and are
    delivered, the refused one is not delivered, also not after a
    restart."""
    binary = fault_binary()
    t = qfactory(f"f-{op}-{kind}", global_=RETRY_FAST, binary=binary,
                 env={"TERN_FAULT": f"{op}:4:{kind}"})
    rng = random.Random(44)
    outcomes = send_serial(t, f"{op}{kind}", 10, rng)
    refused = [o for o in outcomes if o.state == Outcome.REFUSED]
    acked = [o for o in outcomes if o.state == Outcome.ACKED]
    assert len(refused) == 1 and len(acked) == 9, [
        (o.seq, o.state, o.reply) for o in outcomes]
    assert refused[0].reply.startswith("451 4.3.0"), refused[0].reply
    i = outcomes.index(refused[0])
    assert all(o.state == Outcome.ACKED for o in outcomes[i + 1:])
    assert f"fault {op}=4" in t.log()
    drain(t, outcomes)
    assert_no_problems(verify_delivery(t.drop, outcomes), t)
    # the journal after the fault: a restart must not bring back the
    # refused message, nor lose or duplicate any other
    t.restart(env={})
    t.sync()
    time.sleep(0.3)
    assert_no_problems(verify_delivery(t.drop, outcomes), t,
                       " after a restart following the fault")
    t.stop_checked()
    rc, out, s = t.journal_check()
    assert rc == 0, f"journal check after a {op} {kind} fault:\n{out}"
    assert s["messages"] == 0, out


@pytest.mark.parametrize("kind", ["fail", "short"])
def test_fault_next_message_succeeds(qfactory, kind):
    """Eight write faults in one run, one client sending one message after
    the other: each fault refuses exactly the message of its batch; the
    message the client sends after a 451 is in a new batch (a new segment)
    and must be accepted."""
    binary = fault_binary()
    faults = list(range(4, 44, 5))
    plan = ",".join(f"write:{n}:{kind}" for n in faults)
    t = qfactory(f"next-{kind}", global_=RETRY_FAST, binary=binary,
                 env={"TERN_FAULT": plan})
    rng = random.Random(45)
    outcomes = send_serial(t, f"next{kind}", 60, rng,
                           rcpts=("alice@localhost", "bob@localhost"))
    refused = [i for i, o in enumerate(outcomes)
               if o.state == Outcome.REFUSED]
    fired = t.log().count("fault write=")
    assert fired == len(faults), t.log()
    adjacent = [(outcomes[i].seq, outcomes[i].reply) for i in refused
                if i - 1 in refused]
    assert not adjacent, (f"a message sent after a 451 was refused too "
                          f"(its records were all in a new segment): "
                          f"{adjacent}; refused: "
                          f"{[(outcomes[i].seq, outcomes[i].reply) for i in refused]}")
    assert len(refused) == len(faults), [
        (outcomes[i].seq, outcomes[i].reply) for i in refused]
    drain(t, outcomes)
    assert_no_problems(verify_delivery(t.drop, outcomes), t)


@pytest.mark.parametrize("op,kind", [("sync", "fail"), ("write", "short")])
def test_refused_message_not_resurrected(qfactory, op, kind):
    """A message that got 451 because its batch failed is not
    acknowledged. If the abandoned segment is still on disk at the next
    start (a deferred message keeps it alive), recovery must not bring
    the refused message back and deliver it (the client will send it
    again: a duplicate), and must not lose the deferred one."""
    binary = fault_binary()
    t = qfactory(f"res-{op}-{kind}", global_="queue {\n    retry 1h\n}\n",
                 binary=binary, env={"TERN_FAULT": f"{op}:4:{kind}"})
    new = t.drop / "example.test" / "carol" / "new"
    shutil.rmtree(new)
    new.write_text("not a directory\n")
    rng = random.Random(46)
    pinned = send_serial(t, "pin", 1, rng, rcpts=("carol@example.test",))
    assert pinned[0].state == Outcome.ACKED
    wait_for(lambda: "status=deferred" in t.log(), 5)
    outcomes = pinned + send_serial(t, f"res{op}{kind}", 6, rng)
    refused = [o for o in outcomes if o.state == Outcome.REFUSED]
    assert len(refused) >= 1, [(o.seq, o.reply) for o in outcomes]
    assert all(o.reply.startswith("451 4.3.0") for o in refused)
    t.sync()
    t.stop_checked()
    new.unlink()
    new.mkdir()
    rc, out, pred = t.journal_check()
    t.start(env={})
    got = recovery_reports(t.log())[-1]
    assert got["messages"] == pred["messages"], (got, pred, out)
    drain(t, outcomes)
    time.sleep(0.3)
    assert_no_problems(verify_delivery(t.drop, outcomes), t,
                       f" after a restart with the segment abandoned by a "
                       f"{op} {kind} fault still on disk (journal check: "
                       f"{pred})")


@pytest.mark.parametrize("op", ["write", "sync"])
def test_fault_under_concurrent_load(qfactory, op):
    """Faults in the middle of group commits from 6 concurrent clients:
    every refusal is 451 4.3.0, every 250 is delivered, no 451 message is
    delivered, and service goes on after each fault."""
    binary = fault_binary()
    plan = ",".join(f"{op}:{n}:fail" for n in (5, 17, 40))
    t = qfactory(f"fl-{op}", global_=RETRY_FAST, binary=binary,
                 env={"TERN_FAULT": plan})
    load = LoadClients(t.port, nthreads=6, seed=77, tag=f"fl{op}",
                       sizes=(100, 20_000), max_per_conn=4)
    load.start()
    time.sleep(1.0)
    outcomes = load.stop()
    refused = [o for o in outcomes if o.state == Outcome.REFUSED]
    acked = [o for o in outcomes if o.state == Outcome.ACKED]
    assert refused, "no fault fired"
    bad = [o.reply for o in refused if not o.reply.startswith("451 4.3.0")]
    assert not bad, bad
    assert len(acked) >= 20, count_states(outcomes)
    # the server goes on serving after the faults
    after = send_serial(t, f"after{op}", 3, random.Random(78))
    assert all(o.state == Outcome.ACKED for o in after), [
        o.reply for o in after]
    outcomes += after
    drain(t, outcomes)
    assert_no_problems(verify_delivery(t.drop, outcomes), t)
    t.restart(env={})
    t.sync()
    time.sleep(0.3)
    assert_no_problems(verify_delivery(t.drop, outcomes), t,
                       " after a restart")


# ---- ENOSPC on a small tmpfs ---------------------------------------------------------------

@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=80m", "tmpfs",
                        str(mnt)], capture_output=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {p.stderr.decode()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path, leave):
    """A filler file that leaves about `leave` bytes free."""
    f = Path(path) / "filler"
    n = max(0, free_bytes(path) - leave)
    block = b"\xa5" * (1 << 20)
    with open(f, "wb") as fh:
        while n > 0:
            k = min(n, len(block))
            try:
                fh.write(block[:k])
                fh.flush()
            except OSError:
                break
            n -= k
    return f


def segment_size(t):
    segs = t.segments()
    assert segs, "no journal segment after a message"
    size = segs[0].stat().st_size
    if size > 20 * 1024 * 1024:
        pytest.skip(f"the tmpfs tests are sized for segments of 16 MiB or "
                    f"less (CONFIG_QUEUE_SEGMENT_KB), not {size}")
    return size


def test_enospc_tmpfs(small_fs, qfactory):
    """Spool and drop on an 80 MiB tmpfs (segments are 16 MiB, 32 MiB
    are kept in reserve): while the disk is full MAIL gets 452 4.3.1, a
    message that needs a new segment gets 451 4.3.0; once the filler is
    deleted the service is normal again; every 250 is delivered."""
    t = qfactory("nospc", global_=RETRY_FAST, workdir=small_fs / "tern")
    rng = random.Random(80)
    outcomes = []
    # 1. fill most of the first segment with acknowledged mail
    outcomes += send_serial(t, "first", 1, rng)
    seg = segment_size(t)
    left = seg - 2_500_000 - 10_000
    while left > 0:
        outcomes += send_serial(t, f"pre{left}", 1, rng,
                                size=min(left, 4_500_000))
        left -= 4_500_000
    assert all(o.state == Outcome.ACKED for o in outcomes), [
        o.reply for o in outcomes]
    drain(t, outcomes)
    # 2. a message in progress when the disk fills up; it needs a new
    #    segment, which cannot be allocated
    c = connect_quiet(t.port)
    c.cmd("MAIL FROM:<sender@client.test>", 250)
    c.cmd("RCPT TO:<alice@localhost>", 250)
    filler = fill(small_fs, 512 * 1024)
    x = Outcome("x-full", fast_message("x-full", 4_000_000, rng),
                ["alice@localhost"], "data")
    outcomes.append(x)
    c.cmd("DATA", 354)
    from conftest import dot_stuff
    c.send(dot_stuff(x.message))
    r = c.reply(timeout=30)
    x.reply = str(r)
    x.state = Outcome.ACKED if r.code == 250 else Outcome.REFUSED
    assert r.code == 451 and r.enh == "4.3.0", f"message needing a new " \
        f"segment on a full disk: {r}"
    # 3. while full: 452 4.3.1 at MAIL
    r = c.cmd("MAIL FROM:<sender@client.test>")
    assert r.code == 452 and r.enh == "4.3.1", f"MAIL on a full disk: {r}"
    c.cmd("QUIT")
    c.close()
    # 4. space comes back: normal service, the message goes through
    filler.unlink()
    more = send_serial(t, "post", 4, rng, size=50_000)
    assert all(o.state == Outcome.ACKED for o in more), [o.reply for o in more]
    outcomes += more
    c = connect_quiet(t.port)
    y = Outcome("x-agai", x.message.replace(b"x-full", b"x-agai"),
                ["alice@localhost"], "bdat")
    send_one(c, y, rng)
    c.close()
    assert y.state == Outcome.ACKED, y.reply
    outcomes.append(y)
    drain(t, outcomes)
    assert_no_problems(verify_delivery(t.drop, outcomes), t)
    t.restart()
    t.sync()
    assert_no_problems(verify_delivery(t.drop, outcomes), t,
                       " after a restart")
    t.stop_checked()
    rc, out, s = t.journal_check()
    assert rc == 0 and s["messages"] == 0, out


def test_enospc_reserve_at_mail(small_fs, qfactory):
    """Less free space than the reserve (two segments) plus SIZE=: 452
    4.3.1 at MAIL; a queued message is still delivered once space
    returns; then MAIL is accepted again."""
    t = qfactory("reserve", global_=RETRY_FAST, workdir=small_fs / "tern",
                 server="max-message-size 100M\nmax-session-size 0")
    rng = random.Random(81)
    first = send_serial(t, "first", 1, rng)
    drain(t, first)
    reserve = 2 * segment_size(t)
    free = free_bytes(small_fs)
    assert free > reserve + 4 * 1024 * 1024, free
    c = connect_quiet(t.port)
    # SIZE= counts: just over what is free beyond the reserve
    over = free - reserve + 1024 * 1024
    r = c.cmd(f"MAIL FROM:<a@client.test> SIZE={over}")
    assert r.code == 452 and r.enh == "4.3.1", r
    c.cmd("MAIL FROM:<a@client.test> SIZE=1000", 250)
    c.cmd("RSET", 250)
    filler = fill(small_fs, reserve - 4 * 1024 * 1024)
    r = c.cmd("MAIL FROM:<a@client.test>")
    assert r.code == 452 and r.enh == "4.3.1", r
    filler.unlink()
    c.cmd("MAIL FROM:<a@client.test>", 250)
    c.cmd("QUIT")
    c.close()
