"""
Debian's Postfix (3.7, unpacked from its .deb, not installed) as the far
side: it offers CHUNKING, so tern's BDAT meets a real implementation.
Postfix's smtpd logs the commands of each session at disconnect
("bdat=N"), and a pipe transport writes every message it accepts into a
file, so the text is compared too (Postfix stores lines without CR, and
adds its own Received header). Skipped when Postfix cannot be set up
(no package, missing libraries, not root).
"""
import re

import pytest

from relay_helpers import (PostfixPeer, connector, message, relay_tern,  # noqa
                           strip_trace, check_tern_trace, submit, wait_for,
                           wait_gone, wait_out)

DOMAIN = "pf.example"


@pytest.fixture(scope="module")
def postfix(tmp_path_factory):
    """One Postfix for the module (its start takes about 2 s)."""
    pf = PostfixPeer(tmp_path_factory.mktemp("postfix"), DOMAIN)
    yield pf
    pf.stop()


def body(size):
    lines, n, k = [], 0, 0
    while n < size:
        k += 1
        line = (b"." if k % 13 == 0 else b"") + \
            f"line {k} of the text, some words to fill it up".encode()
        lines.append(line)
        n += len(line) + 2
    return b"\r\n".join(lines) + b"\r\n"


def session_stats(pf, pqid):
    """The command counts Postfix logged at the end of the session that
    queued pqid, or None yet."""
    log = pf.log()
    m = re.search(rf"smtpd\[(\d+)\]: {pqid}: client=", log)
    if not m:
        return None
    d = re.search(rf"smtpd\[{m.group(1)}\]: disconnect from \S+ "
                  r"(.*commands=\d+)", log[m.end():])
    return d.group(1) if d else None


@pytest.mark.parametrize("size", [300, 70_000], ids=["small", "chunks"])
def test_bdat_to_postfix(relay_tern, postfix, size):
    t = relay_tern(connector("pf", DOMAIN, [postfix.port]))
    msg = message(f"pf{size}", body(size))
    qid = submit(t, f"someone@{DOMAIN}", msg)
    e = wait_out(t, qid, f"someone@{DOMAIN}", "sent", timeout=15)
    assert e[3].startswith("250 2.0.0 Ok:") and "queued as" in e[3], e
    wait_gone(t, qid)
    pqid = e[3].split()[-1]
    # the text as Postfix delivered it
    out = postfix.out / pqid
    assert wait_for(out.exists, 10), postfix.log()[-2000:]
    got = out.read_bytes()
    heads, rest = strip_trace(got, 2)           # Postfix's, then tern's
    assert b"(Postfix)" in heads[0], heads
    check_tern_trace(heads[1], qid)
    assert rest == msg.replace(b"\r\n", b"\n")
    # Postfix's view of the session: BDAT chunks of 16 KiB, no DATA
    stored = len(heads[1].replace(b"\n", b"\r\n")) + len(msg)
    stats = wait_for(lambda: session_stats(postfix, pqid), 10)
    assert stats, postfix.log()[-2000:]
    m = re.search(r"\bbdat=(\d+)", stats)
    assert m and not re.search(r"\bdata=", stats), stats
    assert int(m.group(1)) == -(-stored // 16384), (stats, stored)
    assert wait_for(lambda: re.search(
        rf"{pqid}: to=<someone@{DOMAIN}>.*status=sent", postfix.log()), 10), \
        postfix.log()[-2000:]


def test_postfix_refusal_is_failed(relay_tern, postfix):
    """Postfix refuses a domain it does not relay for (tern's address is
    not in its mynetworks): 554 5.7.1 at RCPT, a permanent failure."""
    t = relay_tern(connector("pf", "*", [postfix.port]))
    qid = submit(t, "someone@elsewhere.example", message("pf-refused"))
    e = wait_out(t, qid, "someone@elsewhere.example", "failed", timeout=15)
    assert e[3].startswith("554 5.7.1"), e
    wait_gone(t, qid)
