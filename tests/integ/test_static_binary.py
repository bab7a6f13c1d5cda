"""The product binary: statically linked, runs in an empty chroot (no
/dev, no /etc, no libc on disk), carries the mbedTLS it was built with,
and the shipped configurations are valid."""
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import REPO, TERN_BIN


def test_file_says_statically_linked():
    out = subprocess.run(["file", "-L", str(TERN_BIN)], capture_output=True,
                         text=True, check=True).stdout
    assert "statically linked" in out, out
    assert "dynamically" not in out


def test_version_and_mbedtls_selftest():
    out = subprocess.run([str(TERN_BIN), "-V"], capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("tern ")
    assert "mbedTLS 3.6" in out
    assert "self-test ok" in out


@pytest.mark.parametrize("conf", ["config/default.conf", "config/example.conf",
                                  "rootfs/etc/tern/tern.conf"])
def test_shipped_configurations_are_valid(conf):
    r = subprocess.run([str(TERN_BIN), "-t", "-c", str(REPO / conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_serves_mail_in_an_empty_chroot(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(TERN_BIN, root / "tern")
    port = free_port()
    (root / "tern.conf").write_text(
        "hostname chroot.test\nspool /var/spool\ndrop /var/drop\n"
        "badmail /var/badmail\n"
        "domain localhost {\n mailbox postmaster\n}\n"
        "server default {\n listen 127.0.0.1:%d\n}\n" % port)
    assert sorted(p.name for p in root.iterdir()) == ["tern", "tern.conf"]
    p = subprocess.Popen(["chroot", str(root), "/tern", "-c", "/tern.conf"],
                         stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 5
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert p.poll() is None, p.stderr.read()
                assert time.time() < deadline, "tern did not listen"
                time.sleep(0.05)
        f = s.makefile("rb")
        assert f.readline().startswith(b"220 chroot.test")
        for cmd, code in ((b"EHLO c.test", b"250"),
                          (b"MAIL FROM:<a@b.example>", b"250"),
                          (b"RCPT TO:<postmaster@localhost>", b"250"),
                          (b"DATA", b"354"),
                          (b"Subject: chroot\r\n\r\nhi\r\n.", b"250"),
                          (b"QUIT", b"221")):
            s.sendall(cmd + b"\r\n")
            line = f.readline()
            while line[3:4] == b"-":
                line = f.readline()
            assert line.startswith(code), (cmd, line)
        s.close()
    finally:
        p.terminate()
        p.wait(5)
    new = root / "var/drop/localhost/postmaster/new"
    files = list(new.iterdir())
    assert len(files) == 1
    assert files[0].read_bytes().endswith(b"Subject: chroot\r\n\r\nhi\r\n")
