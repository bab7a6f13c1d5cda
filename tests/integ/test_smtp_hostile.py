"""
Hostile input from the scenario table (tests/integ/scenarios/*.txt, format
in scenario.py): each case checks its exact replies, whether the
connection is closed, and what was delivered (nothing, unless the case
says otherwise). Each case gets its own server.
"""
import socket
import struct
import threading
from pathlib import Path

import pytest

import scenario

SCENARIO_DIR = Path(__file__).parent / "scenarios"
CASES = scenario.load_all(SCENARIO_DIR)


def test_scenario_table():
    names = [c.name for c in CASES]
    hostile = [c for c in CASES if not c.name.startswith("ctl-")]
    smuggling = [c for c in CASES if c.name.startswith("smuggle-")]
    assert len(set(names)) == len(names)
    assert len(hostile) >= 40, len(hostile)
    assert len(smuggling) >= 8, len(smuggling)
    for c in hostile:
        if c.name.startswith("smuggle-"):
            kinds = [s.kind for s in c.steps]
            assert kinds[-1] == "closed", f"{c.name} must expect a close"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_scenario(case, tern_factory):
    t = tern_factory(server="\n".join(case.server),
                     global_="\n".join(case.global_))
    scenario.run(case, t)


# ---- abrupt clients and floods (not expressible as a scenario) -----------

def test_abort_mid_data_fin(tern):
    """A client that closes in the middle of DATA: nothing delivered."""
    c = tern.connect()
    c.cmd("MAIL FROM:<a@b.example>", 250, "2.1.0")
    c.cmd("RCPT TO:<alice@localhost>", 250, "2.1.5")
    c.cmd("DATA", 354)
    c.send(b"Subject: cut\r\n\r\nhalf of it\r\n")
    c.close()
    tern.sync()
    assert tern.delivered() == []


def test_abort_mid_data_rst(tern):
    """The same with a TCP reset (SO_LINGER 0)."""
    c = tern.connect()
    c.cmd("MAIL FROM:<a@b.example>", 250, "2.1.0")
    c.cmd("RCPT TO:<alice@localhost>", 250, "2.1.5")
    c.cmd("DATA", 354)
    c.send(b"Subject: cut\r\n\r\nhalf of it\r\n.")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    c.close()
    tern.sync()
    assert tern.delivered() == []


def test_abort_mid_command_and_many_resets(tern):
    for i in range(50):
        c = tern.client()
        if i % 2:
            c.send(b"EHLO half-a-line")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        c.close()
    tern.sync()
    assert tern.alive()


def test_pipelined_flood_backpressure(tern):
    """20,000 pipelined NOOPs (140 KB) sent without reading: the server
    must apply back-pressure, not drop or reorder replies, nor close."""
    n = 20000
    c = tern.connect(timeout=30)
    data = b"NOOP\r\n" * n + b"QUIT\r\n"
    err = []

    def writer():
        try:
            c.sock.sendall(data)
        except OSError as e:
            err.append(e)
    th = threading.Thread(target=writer)
    th.start()
    try:
        for i in range(n):
            r = c.reply(timeout=30)
            assert r.matches(250, "2.0.0"), f"reply {i}: {r}"
        c.expect(221, "2.0.0", timeout=30)
        c.expect_closed(timeout=10)
    finally:
        th.join(30)
        c.close()
    assert not err, err


def test_flood_of_errors_pipelined(tern):
    """Pipelined junk: exactly max-errors (20) error replies, then 421."""
    c = tern.connect(timeout=10)
    c.send(b"JUNK\r\n" * 1000)
    for i in range(20):
        c.expect(500, "5.5.2")
    c.expect(421, "4.7.0")
    data = c.read_until_close(timeout=10)
    assert data == b"", data[:200]
    c.close()
