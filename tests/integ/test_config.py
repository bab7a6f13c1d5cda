"""
Configuration checking: `tern -t -c FILE` on good and bad files (every
error as FILE:LINE: message with the right line, all errors of a file in
one run), `tern -t` on the embedded default, and a server that cannot
bind its listen address.
"""
import re
import socket
import subprocess
import textwrap

import pytest

from conftest import TERN_BIN, build_config, free_ports, require_binary


def run_tern(*args, timeout=10, cwd=None):
    require_binary()
    return subprocess.run([str(TERN_BIN), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def errors_of(stderr, path):
    """{line: [messages]} for the lines "PATH:LINE: message" of stderr."""
    names = {str(path), str(path.resolve())}
    found = {}
    for ln in stderr.splitlines():
        m = re.match(r"^(.*?):(\d+): (\S.*)$", ln)
        if m and m.group(1) in names:
            found.setdefault(int(m.group(2)), []).append(m.group(3))
    return found


def write(tmp_path, name, text):
    """Write a config; "{port}", "{port2}", "{spool}" etc. are filled in."""
    port, port2 = free_ports(2)
    for d in ("spool", "drop", "badmail"):
        (tmp_path / d).mkdir(exist_ok=True)
    text = textwrap.dedent(text)
    for k, v in (("{port}", port), ("{port2}", port2),
                 ("{spool}", tmp_path / "spool"),
                 ("{drop}", tmp_path / "drop"),
                 ("{badmail}", tmp_path / "badmail")):
        text = text.replace(k, str(v))
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = """\
hostname mx.test.example
spool  {spool}
drop   {drop}
badmail {badmail}
max-sessions 100            # global cap of the session pool
domain localhost {
    mailbox postmaster alice bob
    alias root postmaster
}
domain example.test {
    mailbox carol
}
server default {
    listen 127.0.0.1:{port}
    max-message-size 10M       # 0 = unlimited; SIZE advertised
    max-session-size 100M
    max-messages 100           # per connection
    max-recipients 100
    max-connections 200
    max-errors 20              # then 421 4.7.0 and close
    max-hops 30                # Received headers before 554 5.4.6
    max-line-length 1000       # DATA text line incl CRLF
    timeout command 5m
    timeout data 10m
    greeting-delay 0s          # wait before the banner
    vrfy no
    expn no
}
"""

HEAD = """\
hostname mx.test.example
spool {spool}
drop {drop}
badmail {badmail}
domain localhost {
    mailbox postmaster
}
"""   # 7 lines: the cases below start at line 8


def test_good_config(tmp_path):
    p = write(tmp_path, "good.conf", GOOD)
    r = run_tern("-t", "-c", str(p))
    assert r.returncode == 0, r.stderr
    assert errors_of(r.stderr, p) == {}


def test_good_config_other_units(tmp_path):
    p = write(tmp_path, "units.conf", HEAD + """\
server default {
    listen 127.0.0.1:{port}
    max-message-size 512K
    max-session-size 1G
    timeout command 30s
    timeout data 2h
    greeting-delay 1s
    vrfy yes
}
server second {
    listen 127.0.0.1:{port2}
    max-message-size 0
    timeout command 1d
}
""")
    r = run_tern("-t", "-c", str(p))
    assert r.returncode == 0, r.stderr


def test_fixture_config_is_valid(tmp_path):
    """What conftest.py writes passes the checker."""
    port, port2 = free_ports(2)
    text = build_config(tmp_path, tmp_path, tmp_path, port, port2)
    p = tmp_path / "fixture.conf"
    p.write_text(text)
    r = run_tern("-t", "-c", str(p))
    assert r.returncode == 0, r.stderr


BAD = {
    "unknown-keyword": (HEAD + "frobnicate yes\n", {8}, set()),
    "unknown-server-keyword": (HEAD + """\
server default {
    listen 127.0.0.1:{port}
    frobnicate yes
}
""", {10}, set()),
    "bad-size": (HEAD + """\
server default {
    listen 127.0.0.1:{port}
    max-message-size 10Q
}
""", {10}, set()),
    "listen-without-port": (HEAD + """\
server default {
    listen 127.0.0.1
}
""", {9}, {8}),   # a follow-up "server has no listen address" is fine
    "duplicate-server-name": (HEAD + """\
server default {
    listen 127.0.0.1:{port}
}
server default {
    listen 127.0.0.1:{port2}
}
""", {11}, set()),
    "bad-duration": (HEAD + """\
server default {
    listen 127.0.0.1:{port}
    timeout command 5x
}
""", {10}, set()),
    "bad-greeting-delay": (HEAD + """\
server default {
    listen 127.0.0.1:{port}
    greeting-delay soon
}
""", {10}, set()),
    "bad-yes-no": (HEAD + """\
server default {
    listen 127.0.0.1:{port}
    vrfy maybe
}
""", {10}, set()),
    "bad-count": (HEAD + """\
server default {
    listen 127.0.0.1:{port}
    max-recipients many
}
""", {10}, set()),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_config_reported_with_line(tmp_path, name):
    text, lines, extra = BAD[name]
    p = write(tmp_path, f"{name}.conf", text)
    r = run_tern("-t", "-c", str(p))
    assert r.returncode != 0, f"accepted:\n{p.read_text()}"
    found = errors_of(r.stderr, p)
    assert lines <= set(found), (
        f"want errors at lines {sorted(lines)} as '{p}:LINE: message', "
        f"stderr:\n{r.stderr}")
    assert set(found) <= lines | extra, (
        f"errors reported at lines that are fine: stderr:\n{r.stderr}")


def test_missing_closing_brace(tmp_path):
    p = write(tmp_path, "brace.conf", HEAD + """\
server default {
    listen 127.0.0.1:{port}
    max-errors 20
""")
    r = run_tern("-t", "-c", str(p))
    assert r.returncode != 0
    found = errors_of(r.stderr, p)
    # Either the line of the unclosed "{" (8) or the end of the file
    # (line 10, or 11 counting the position after the last newline).
    assert found and set(found) <= {8, 10, 11}, r.stderr


def test_missing_opening_brace(tmp_path):
    p = write(tmp_path, "brace2.conf", HEAD + """\
server default
    listen 127.0.0.1:{port}
}
""")
    r = run_tern("-t", "-c", str(p))
    assert r.returncode != 0
    found = errors_of(r.stderr, p)
    assert found and min(found) in (8, 9), r.stderr


def test_all_errors_in_one_run(tmp_path):
    p = write(tmp_path, "many.conf", """\
    # several errors; each must be reported with its line
    hostname mx.test.example
    spool {spool}
    drop {drop}
    badmail {badmail}
    frobnicate yes
    domain localhost {
        mailbox postmaster
    }
    server default {
        listen 127.0.0.1
        max-message-size 10Q
        timeout command 5x
        max-errors 20
    }
    server default {
        listen 127.0.0.1:{port2}
    }
    """)
    r = run_tern("-t", "-c", str(p))
    assert r.returncode != 0
    found = errors_of(r.stderr, p)
    want = {6, 11, 12, 13, 16}
    assert want <= set(found), (
        f"want errors at {sorted(want)}, got {sorted(found)}:\n{r.stderr}")
    # line 10 may add "server default has no listen address"
    assert set(found) <= want | {10}, r.stderr


def test_missing_file(tmp_path):
    p = tmp_path / "nonexistent.conf"
    r = run_tern("-t", "-c", str(p))
    assert r.returncode != 0
    assert str(p) in r.stderr


def test_embedded_default(tmp_path):
    r = run_tern("-t", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_bad_config_refused_at_start(tmp_path):
    """Without -t the same errors stop the server before it listens."""
    p = write(tmp_path, "bad.conf", BAD["bad-size"][0])
    r = run_tern("-c", str(p), timeout=10)
    assert r.returncode != 0
    assert 10 in errors_of(r.stderr, p), r.stderr


def test_listen_port_in_use(tmp_path):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        p = write(tmp_path, "busy.conf", HEAD + f"""\
server default {{
    listen 127.0.0.1:{port}
}}
""")
        try:
            r = run_tern("-c", str(p), timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"tern kept running although port {port} is in use")
        assert r.returncode != 0
        assert str(port) in r.stderr, r.stderr
        assert re.search(r"in use|bind|EADDRINUSE", r.stderr, re.I), r.stderr
    finally:
        blocker.close()
