"""
Helpers for the SMTP AUTH tests: a user database written with tern's own
`ternctl user add`, and independent client-side implementations of
SCRAM-SHA-256 (RFC 5802/7677) and NTLMv2 (MS-NLMP, with a pure-Python MD4
of RFC 1320) computed with hashlib/hmac only, to check tern's server
against code that shares nothing with it.
"""
import base64
import hashlib
import hmac
import os
import struct
import subprocess

from conftest import TERN_BIN

PASSWORD = "s3cret pass"  # a space on purpose
USERS = {"alice": PASSWORD, "bob": "hunter2"}


def make_userdb(tmp_path, users=USERS):
    """Write a user database with ternctl; returns its path."""
    path = tmp_path / "users"
    conf = tmp_path / "ctl.conf"
    conf.write_text(f"users {path}\nserver x {{\n listen 127.0.0.1:1\n}}\n")
    for name, pw in users.items():
        subprocess.run([str(TERN_BIN), "ctl", "-c", str(conf), "user", "add",
                        name], input=pw + "\n", text=True, check=True,
                       timeout=30)
    return path


def auth_tern(tern_factory, tmp_path, server="", plaintext=True, users=USERS,
              mechs="plain login cram-md5 scram-sha-256 ntlm"):
    """A tern offering AUTH. plaintext=True: without TLS (auth plaintext
    yes) -- the TLS variant adds STARTTLS to the client side."""
    db = make_userdb(tmp_path, users)
    srv = (f"auth {mechs}\nauth plaintext {'yes' if plaintext else 'no'}\n"
           "relay allow authenticated\n" + server)
    return tern_factory(server=srv, global_=f"users {db}")


REMOTE = "domain remote.test {\n    mailbox x\n}\n"


def smarthost_pair(tern_factory, tmp_path,
                   mechs="plain login cram-md5 scram-sha-256",
                   password=PASSWORD, plaintext_ok=True, hub_server="",
                   hub_plaintext=True, tls_line=None):
    """(hub, edge): a hub tern that delivers remote.test and relays only
    for authenticated clients, and an edge tern whose connector sends
    everything to the hub with `auth user alice` (password: password);
    plaintext_ok: `auth plaintext yes` on the connector; tls_line: its
    `tls` policy; hub_server: more lines for the hub's server block."""
    from relay_helpers import FAST_QUEUE
    hub = auth_tern(tern_factory, tmp_path, mechs=mechs, server=hub_server,
                    plaintext=hub_plaintext)
    hub.stop()
    hub.config = hub.config.replace("server default {", REMOTE +
                                    "server default {", 1)
    hub.config_path.write_text(hub.config)
    hub.start()
    pw = tmp_path / "smarthost.pass"
    pw.write_text(password + "\n")
    conn = ("connector hub {\n    address-space *\n"
            f"    smarthost [127.0.0.1]:{hub.port}\n"
            f"    auth user alice password-file {pw}\n" +
            ("    auth plaintext yes\n" if plaintext_ok else "") +
            (f"    tls {tls_line}\n" if tls_line else "") + "}\n")
    edge = tern_factory(server="relay allow 127.0.0.1/32",
                        global_=FAST_QUEUE + conn, name="edge")
    return hub, edge


def b64(b):
    return base64.b64encode(b).decode()


# ---- SCRAM-SHA-256, client side ---------------------------------------

class Scram:
    def __init__(self, user, password, nonce=None):
        self.user, self.password = user, password
        self.cnonce = nonce or base64.b64encode(os.urandom(18)).decode()
        self.bare = f"n={user},r={self.cnonce}"

    def first(self):
        return "n,," + self.bare

    def final(self, server_first):
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        assert attrs["r"].startswith(self.cnonce)
        salt = base64.b64decode(attrs["s"])
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt,
                                     int(attrs["i"]))
        ck = hmac.new(salted, b"Client Key", "sha256").digest()
        stored = hashlib.sha256(ck).digest()
        wo = f"c={b64(b'n,,')},r={attrs['r']}"
        am = f"{self.bare},{server_first},{wo}".encode()
        sig = hmac.new(stored, am, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(ck, sig))
        sk = hmac.new(salted, b"Server Key", "sha256").digest()
        self.server_sig = hmac.new(sk, am, "sha256").digest()
        return f"{wo},p={b64(proof)}"


# ---- MD4 (RFC 1320) and NTLMv2, client side ---------------------------

def md4(data):
    def f(x, y, z): return (x & y) | (~x & z)
    def g(x, y, z): return (x & y) | (x & z) | (y & z)
    def h(x, y, z): return x ^ y ^ z
    def rotl(v, s): return ((v << s) | (v >> (32 - s))) & 0xffffffff
    msg = data + b"\x80" + b"\0" * ((55 - len(data)) % 64) + \
        struct.pack("<Q", len(data) * 8)
    st = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]
    for off in range(0, len(msg), 64):
        x = struct.unpack("<16I", msg[off:off + 64])
        a, b, c, d = st
        for fn, order, sh, k in (
                (f, range(16), (3, 7, 11, 19), 0),
                (g, [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15],
                 (3, 5, 9, 13), 0x5a827999),
                (h, [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15],
                 (3, 9, 11, 15), 0x6ed9eba1)):
            for i, j in enumerate(order):
                t = (a + fn(b, c, d) + x[j] + k) & 0xffffffff
                a, b, c, d = d, rotl(t, sh[i % 4]), b, c
        st = [(s + v) & 0xffffffff for s, v in zip(st, (a, b, c, d))]
    return struct.pack("<4I", *st)


def ntlm_type1():
    return b"NTLMSSP\0" + struct.pack("<II", 1, 0x00088207) + b"\0" * 16


def ntlm_type3(type2, user, password, domain="WORKGROUP", v1=False):
    """The AUTHENTICATE message for a server CHALLENGE (Unicode)."""
    assert type2[:8] == b"NTLMSSP\0" and struct.unpack("<I", type2[8:12])[0] == 2
    chal = type2[24:32]
    ilen, _, ioff = struct.unpack("<HHI", type2[40:48])
    info = type2[ioff:ioff + ilen]
    nt = md4(password.encode("utf-16-le"))
    if v1:
        nt_resp = os.urandom(24)  # shape of an NTLMv1 answer
    else:
        key = hmac.new(nt, (user.upper() + domain).encode("utf-16-le"),
                       "md5").digest()
        blob = (b"\x01\x01\0\0\0\0\0\0" + struct.pack("<Q", 0) +
                os.urandom(8) + b"\0" * 4 + info + b"\0" * 4)
        proof = hmac.new(key, chal + blob, "md5").digest()
        nt_resp = proof + blob
    fields = [b"\0" * 24, nt_resp, domain.encode("utf-16-le"),
              user.encode("utf-16-le"), b"W\0S\0", b""]
    off = 64
    hdr = b"NTLMSSP\0" + struct.pack("<I", 3)
    payload = b""
    for fld in fields:
        hdr += struct.pack("<HHI", len(fld), len(fld), off + len(payload))
        payload += fld
    hdr += struct.pack("<I", 0x00088205)
    return hdr + payload
