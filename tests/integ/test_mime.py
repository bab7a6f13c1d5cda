"""The 8bit/binary -> 7bit converter's output, decoded by Python's email
package (RFC 6152 3, RFC 2045-2049): for every sample of mime_samples.py
the unit test's golden output (tests/unit/golden/mime/NAME.ref, written by
the C converter) has the expected verdict and, when converted, is 7bit
and decodes to exactly the original content: every leaf's decoded payload
bytes, the structure (content types, boundaries) and every header but
Content-Transfer-Encoding are the original's.
"""
import os
import re

import pytest

from mime_samples import SAMPLES, leaves, non_cte_headers, structure

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                      "unit", "golden", "mime")


def unescape(text):
    """The .ref rendering back to bytes (tests/unit/tu.c tu_out_esc)."""
    out = bytearray()
    for m in re.finditer(r"\\x([0-9a-f]{2})|\\\\|(.)", text, re.S):
        if m.group(1):
            out.append(int(m.group(1), 16))
        elif m.group(2) is None:
            out += b"\\"
        elif m.group(2) != "\n":
            out += m.group(2).encode()
    return bytes(out)


def golden(name):
    with open(os.path.join(GOLDEN, name + ".ref"), encoding="ascii") as f:
        lines = f.read().split("\n", 2)
    verdict = lines[0].split("=", 1)[1].lower()
    if verdict != "convert":
        return verdict, None
    assert lines[1].startswith("size=")
    text = unescape(lines[2])
    assert len(text) == int(lines[1][5:])
    return verdict, text


def is_7bit(data):
    for line in data.split(b"\r\n"):
        assert b"\r" not in line and b"\n" not in line
        assert len(line) <= 998
        assert all(0 < b < 128 for b in line)
    return True


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden_decodes_to_original(name):
    original, expected = SAMPLES[name]
    with open(os.path.join(GOLDEN, name + ".in"), "rb") as f:
        assert f.read() == original, "run mime_samples.py --write"
    verdict, converted = golden(name)
    assert verdict == expected or expected == "any"
    if converted is None:
        return
    assert is_7bit(converted)
    assert leaves(converted) == leaves(original)
    assert structure(converted) == structure(original)
    assert non_cte_headers(converted) == non_cte_headers(original)
