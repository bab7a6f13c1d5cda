"""Sample messages for the 8bit/binary -> 7bit converter (src/dsn/mime_*).

One source for three uses: the golden inputs of the C unit test
(tests/unit/golden/mime/NAME.in, written by `python3 mime_samples.py
--write`), tests/integ/test_mime.py (which decodes the golden outputs and
relays the samples through tern to a peer without 8BITMIME), and the fuzz
corpus seeds. SAMPLES maps a name to (message bytes, expected verdict):
"convert", "clean" (already 7bit, sent as it is), "impossible" (5.6.3),
or "any" for the random ones (whatever the converter says, but a
conversion must decode to the original).
"""
import email
import email.policy
import os
import sys

CRLF = b"\r\n"


def msg(headers, body, mime=True):
    h = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: test\r\n"
    if mime:
        h += b"MIME-Version: 1.0\r\n"
    return h + headers + CRLF + body


def multipart(boundary, parts, preamble=b"", epilogue=b"", close=True):
    out = preamble
    for p in parts:
        out += b"--" + boundary + CRLF + p + CRLF
    if close:
        out += b"--" + boundary + b"--" + CRLF + epilogue
    return out


UTF8 = "Grüße aus Köln — ½ € ✓\r\nzweite Zeile\r\n".encode()
BINARY = bytes(range(256)) + b"\rbare CR\nbare LF\r\n\x00\x00end"


def _deep(n, leaf):
    body = leaf
    for i in range(n, 0, -1):
        b = b"d%02d" % i
        body = (b"Content-Type: multipart/mixed; boundary=" + b + CRLF + CRLF
                + multipart(b, [body]))
    return body


def _samples():
    s = {}
    text8 = b"Content-Type: text/plain; charset=utf-8\r\n" \
        b"Content-Transfer-Encoding: 8bit\r\n"
    s["text_8bit"] = (msg(text8, UTF8), "convert")
    s["not_mime_8bit"] = (msg(b"", UTF8, mime=False), "impossible")
    s["clean_declared_8bit"] = (msg(text8, b"only ascii\r\n"), "clean")
    s["empty_body"] = (msg(text8, b""), "clean")
    s["headers_only"] = (
        b"From: a@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n", "clean")
    part_text = (b"Content-Type: text/plain; charset=utf-8\r\n"
                 b"Content-Transfer-Encoding: 8bit\r\n\r\n" + UTF8)
    part_bin = (b"Content-Type: application/octet-stream\r\n"
                b"Content-Disposition: attachment; filename=x.bin\r\n"
                b"Content-Transfer-Encoding: binary\r\n\r\n" + BINARY)
    part_b64 = (b"Content-Type: image/png\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n")
    mixed = b"Content-Type: multipart/mixed; boundary=\"=_b1\"\r\n"
    s["multipart_text_binary"] = (msg(mixed, multipart(
        b"=_b1", [part_text, part_bin, part_b64],
        preamble=b"This is a multi-part message in MIME format.\r\n",
        epilogue=b"the end\r\n")), "convert")
    inner = msg(text8, UTF8)
    s["rfc822_8bit"] = (msg(mixed, multipart(b"=_b1", [
        b"Content-Type: text/plain\r\n\r\nsee attached\r\n",
        b"Content-Type: message/rfc822\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + inner])), "convert")
    s["rfc822_not_mime"] = (msg(mixed, multipart(b"=_b1", [
        b"Content-Type: message/rfc822\r\n\r\n" + msg(b"", UTF8, False)])),
        "impossible")
    s["rfc822_top"] = (msg(b"Content-Type: message/rfc822\r\n",
                           msg(mixed, multipart(b"=_b1", [part_text]))),
                       "convert")
    top = (b"From: a@example.org\r\nTo: b@example.net\r\nSubject: deep\r\n"
           b"MIME-Version: 1.0\r\n")
    s["deep_ok"] = (top + _deep(12, part_text), "convert")
    s["deep_too_deep"] = (top + _deep(20, part_text), "impossible")
    s["deep_too_deep_clean"] = (top + _deep(20, b"Content-Type: text/plain"
                                            b"\r\n\r\nascii\r\n"), "clean")
    s["no_boundary_param"] = (msg(b"Content-Type: multipart/mixed\r\n",
                                  multipart(b"x", [part_text])), "impossible")
    s["boundary_never_seen"] = (msg(mixed, multipart(b"other", [part_text])),
                                "impossible")
    s["boundary_reused"] = (msg(mixed, multipart(b"=_b1", [
        mixed + CRLF + multipart(b"=_b1", [part_text])])), "impossible")
    s["boundary_prefix"] = (msg(mixed, multipart(b"=_b1", [
        b"Content-Type: multipart/alternative; boundary=\"=_b1x\"\r\n\r\n"
        + multipart(b"=_b1x", [part_text])])), "impossible")
    s["boundary_unclosed"] = (msg(mixed, multipart(
        b"=_b1", [part_text, part_text], close=False)), "convert")
    s["boundary_no_eol_at_end"] = (
        msg(mixed, multipart(b"=_b1", [part_text])[:-2]), "convert")
    s["long_header"] = (msg(b"X-Long: " + b"y" * 1200 + CRLF + text8, UTF8),
                        "impossible")
    s["long_header_clean"] = (
        msg(b"X-Long: " + b"y" * 1200 + CRLF + text8, b"ascii\r\n"), "clean")
    s["header_8bit"] = (msg("Subject2: Grüße\r\n".encode() + text8, UTF8),
                        "impossible")
    s["binary_bare_crlf"] = (msg(
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: binary\r\n", BINARY), "convert")
    s["text_nul"] = (msg(b"Content-Type: text/plain\r\n",
                         b"a\x00b\r\nc\r\n"), "convert")
    s["text_bare_lf"] = (msg(text8, UTF8.replace(CRLF, b"\n")), "convert")
    s["part_no_content_type"] = (msg(mixed, multipart(b"=_b1", [
        b"\r\n" + UTF8, b"Content-Disposition: inline\r\n\r\n" + UTF8])),
        "convert")
    s["multipart_cte_8bit"] = (msg(
        mixed + b"Content-Transfer-Encoding: 8bit\r\n",
        multipart(b"=_b1", [part_text, part_bin])), "convert")
    s["digest"] = (msg(b"Content-Type: multipart/digest; boundary=dg\r\n",
                       multipart(b"dg", [b"\r\n" + inner, b"\r\n" + inner])),
                   "convert")
    s["qp_declared_8bit"] = (msg(
        b"Content-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n", UTF8),
        "impossible")
    s["epilogue_8bit"] = (msg(mixed, multipart(
        b"=_b1", [part_text], epilogue=UTF8)), "impossible")
    s["partial_8bit"] = (msg(b"Content-Type: message/partial; id=1\r\n", UTF8),
                         "impossible")
    s["long_line_ascii"] = (msg(b"Content-Type: text/plain\r\n",
                                b"z" * 1500 + b"\r\nshort\r\n"), "convert")
    s["dots_and_spaces"] = (msg(text8, b".\r\n..\r\n. x \r\ntrailing \t\r\n"
                                b"=equals= \xc3\xa9\r\n.\r\n"), "convert")
    s["no_final_newline"] = (msg(text8, b"caf\xc3\xa9"), "convert")
    s["header_no_blank_line"] = (
        b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
        b"this line is not a header \xc3\xa9\r\nmore\r\n", "convert")
    s["lf_only_message"] = (msg(mixed, multipart(b"=_b1", [part_text, part_bin]))
                            .replace(CRLF, b"\n"), "convert")
    return s


SAMPLES = _samples()


# ---- random messages (a fixed seed: the golden files stay the same) ----------

def _random_samples(seed=20261128, n=24):
    """Random MIME trees with hostile corners: 8-bit, NUL, bare CR/LF,
    long lines, dots, unclosed and missing boundaries, nested
    message/rfc822, digests, every CTE label. Their verdict is whatever
    the converter says; when it converts, the result must decode to the
    original (tests/integ/test_mime.py)."""
    import random
    R = random.Random(seed)
    eols = [CRLF] * 8 + [b"\n", b"\r"]

    def eol():
        return R.choice(eols)

    def text_body():
        out = b""
        for _ in range(R.randint(0, 5)):
            k = R.random()
            if k < 0.3:
                line = "Grüße ça ½ €".encode()
            elif k < 0.4:
                line = b"." * R.randint(1, 3)
            elif k < 0.45:
                line = b"x" * R.randint(990, 1010)
            elif k < 0.6:
                line = bytes(R.getrandbits(8) for _ in range(R.randint(0, 30)))
            elif k < 0.7:
                line = b"trailing  \t"
            elif k < 0.75:
                line = b"--notb"
            else:
                line = b"plain ascii = line"
            out += line + eol()
        return out[:-1] if out and R.random() < 0.2 else out

    def entity(depth):
        h = []
        r = R.random()
        cte = R.choice([None, b"7bit", b"8bit", b"binary", b"8BIT"])
        if depth < 4 and r < 0.3:
            bd = b"b%d_%d" % (depth, R.randint(0, 999))
            h.append(b"Content-Type: multipart/" + R.choice(
                [b"mixed", b"alternative", b"digest"]) +
                b"; boundary=\"" + bd + b"\"")
            body = R.choice([b"", b"preamble\r\n"])
            for _ in range(R.randint(0, 3)):
                body += b"--" + bd + eol() + entity(depth + 1) + eol()
            if R.random() < 0.85:
                body += (b"--" + bd + b"--" + R.choice([b"", b"  "]) + eol() +
                         R.choice([b"", b"epilogue\r\n"]))
        elif depth < 4 and r < 0.4:
            h.append(b"Content-Type: message/rfc822")
            body = b"MIME-Version: 1.0\r\nSubject: inner\r\n" + entity(
                depth + 1)
        else:
            if R.random() < 0.8:
                h.append(b"Content-Type: " + R.choice(
                    [b"text/plain; charset=utf-8", b"application/pdf",
                     b"image/png", b"TEXT/html"]))
            body = text_body()
        if cte:
            h.append(b"Content-Transfer-Encoding: " + cte)
        if R.random() < 0.2:
            h.append(b"X-Folded: a\r\n b")
        return b"".join(x + CRLF for x in h) + CRLF + body

    return {"random_%02d" % i: (b"From: a@example.org\r\nMIME-Version: 1.0"
                                b"\r\n" + entity(0), "any")
            for i in range(n)}


SAMPLES.update(_random_samples())


def leaves(data):
    """Every leaf's decoded payload and content type, in order."""
    m = email.message_from_bytes(data, policy=email.policy.compat32)
    out = []
    for part in m.walk():
        if part.is_multipart():
            continue
        out.append((part.get_content_type(), part.get_payload(decode=True)))
    return out


def structure(data):
    """The tree: content types and boundaries (not the CTE headers)."""
    m = email.message_from_bytes(data, policy=email.policy.compat32)
    return [(p.get_content_type(), p.get_boundary()) for p in m.walk()]


def non_cte_headers(data):
    m = email.message_from_bytes(data, policy=email.policy.compat32)
    return [[(k.lower(), v) for k, v in p.items()
             if k.lower() != "content-transfer-encoding"] for p in m.walk()]


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: mime_samples.py --write")
    top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    d = os.path.join(top, "tests", "unit", "golden", "mime")
    os.makedirs(d, exist_ok=True)
    for name, (data, _) in SAMPLES.items():
        with open(os.path.join(d, name + ".in"), "wb") as f:
            f.write(data)
