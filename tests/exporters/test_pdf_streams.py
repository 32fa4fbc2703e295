"""How the report's PDF streams are compressed (exporters.pdf, PDF_STREAM_ZLIB_LEVEL)."""

from __future__ import annotations

import io
import zlib

import pydyf
import pypdf

from exporters.pdf import PDF_STREAM_ZLIB_LEVEL, html_to_pdf

# Enough text for zlib's levels 6 and 9 to give different bytes.
CONTENT = [
    f"BT /F1 9 Tf 36 {700 - n} Td (row {n} of the records table, {n * 7919 % 1000}) Tj ET"
    for n in range(2000)
]


def _payload(stream_bytes: bytes) -> bytes:
    return stream_bytes.split(b"\nstream\n", 1)[1].rsplit(b"\nendstream", 1)[0]


def test_pdf_streams_are_deflated_at_level_6_not_pydyfs_level_9():
    raw = b"\n".join(line.encode() for line in CONTENT)
    assert zlib.compress(raw, 6) != zlib.compress(raw, 9)  # else this test could not fail

    payload = _payload(pydyf.Stream([line.encode() for line in CONTENT], compress=True).data)

    assert PDF_STREAM_ZLIB_LEVEL == 6
    assert payload == zlib.compress(raw, 6)
    assert zlib.decompress(payload) == raw


def test_other_zlib_functions_are_zlibs_own():
    assert pydyf.zlib.compress is zlib.compress
    assert pydyf.zlib.decompress is zlib.decompress


def test_a_rendered_pdf_reads_back_with_its_text():
    pdf = html_to_pdf('<html lang="en"><body><p>Compressed, and still readable.</p></body></html>')

    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Compressed, and still readable." in text
