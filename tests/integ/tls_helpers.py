"""
TLS helpers for the integration tests: certificates made with openssl in
the test's tmp_path (never committed), the server lines that use them,
and clients that do STARTTLS (a raw SMTPClient switched to TLS, openssl
s_client).
"""
import ssl
import subprocess
from pathlib import Path

from conftest import SMTPClient

OPENSSL = "openssl"


def _run(*args, cwd=None):
    r = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr}")
    return r.stdout


def _newkey(kind):
    if kind == "rsa":
        return ["-newkey", "rsa:2048"]
    if kind == "ecdsa":
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    raise ValueError(kind)


def make_cert(d, kind="rsa", cn="localhost",
              san="DNS:localhost,IP:127.0.0.1", name=None):
    """A self-signed certificate and its key: (cert path, key path)."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    name = name or f"{kind}-{cn}"
    cert, key = d / f"{name}.crt", d / f"{name}.key"
    _run("req", "-x509", *_newkey(kind), "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", f"/CN={cn}",
         "-addext", f"subjectAltName={san}")
    return cert, key


class CA:
    """A test certificate authority signing leaf certificates."""

    def __init__(self, d, name="ca"):
        self.dir = Path(d)
        self.cert, self.key = make_cert(self.dir, "ecdsa", f"tern test {name}",
                                        san=f"DNS:{name}.invalid", name=name)

    def issue(self, kind="rsa", cn="localhost",
              san="DNS:localhost,IP:127.0.0.1", name=None):
        """(chain path: leaf then CA, key path)."""
        name = name or f"leaf-{kind}-{cn}"
        key, csr = self.dir / f"{name}.key", self.dir / f"{name}.csr"
        leaf, chain = self.dir / f"{name}.crt", self.dir / f"{name}.chain"
        ext = self.dir / f"{name}.ext"
        ext.write_text(f"subjectAltName={san}\n"
                       "basicConstraints=CA:FALSE\n")
        _run("req", *_newkey(kind), "-nodes", "-keyout", str(key),
             "-out", str(csr), "-subj", f"/CN={cn}")
        _run("x509", "-req", "-in", str(csr), "-CA", str(self.cert),
             "-CAkey", str(self.key), "-CAcreateserial", "-days", "2",
             "-out", str(leaf), "-extfile", str(ext))
        chain.write_bytes(leaf.read_bytes() + self.cert.read_bytes())
        return chain, key


def server_tls(cert, key, require=False):
    """Lines for a server { } block."""
    return (f"tls cert {cert} key {key}\n" +
            (f"tls require yes\n" if require else ""))


def client_context(version=None, cafile=None):
    """An ssl context: no verification unless cafile; version pins the
    protocol ("1.2" or "1.3")."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if version == "1.2":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif version == "1.3":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def starttls(c, ctx=None, server_hostname="localhost"):
    """Send STARTTLS on an SMTPClient (after EHLO), expect 220 and switch
    its socket to TLS. Returns the SSLSocket."""
    c.cmd("STARTTLS", 220, "2.0.0")
    assert not c.buf, f"data after the 220: {bytes(c.buf)!r}"
    ctx = ctx or client_context()
    c.sock = ctx.wrap_socket(c.sock, server_hostname=server_hostname)
    return c.sock


def tls_client(t, ehlo="client.test", ctx=None):
    """A client of tern t past EHLO, STARTTLS and the second EHLO."""
    c = SMTPClient(t.host, t.port)
    c.expect(220)
    c.cmd(f"EHLO {ehlo}", 250)
    starttls(c, ctx)
    c.cmd(f"EHLO {ehlo}", 250)
    return c


def s_client(port, version, script, timeout=20):
    """openssl s_client -starttls smtp: script (bytes, CRLF lines) is
    written after the handshake; returns (returncode, output)."""
    r = subprocess.run(
        [OPENSSL, "s_client", "-starttls", "smtp", "-connect",
         f"127.0.0.1:{port}", f"-tls{version.replace('.', '_')}", "-quiet",
         "-name", "client.test"],
        input=script, capture_output=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")
