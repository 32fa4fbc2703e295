"""Gathered records' JSON Lines (casework.results): what goes in comes out, as JSON."""

from __future__ import annotations

import io
import json

from casework.results import LineBatcher, decode_line, encode_line, json_lines

RECORD = {
    "category": "events",
    "key": "attendees:7",
    "data": {"Emri": "Arta Krasniqi", "Dietary needs": "pa gluten ë ç", "seats": 2, "paid": 1.5},
    "found_by": {"kind": "email", "value": "arta.krasniqi@demo.example"},
    "flags": [True, None],
}


def test_records_come_back_as_they_were_written_in_batches():
    buffer = io.BytesIO()
    lines = LineBatcher(buffer)
    records = [{**RECORD, "key": f"attendees:{n}"} for n in range(3000)]  # a few batches
    for record in records:
        lines.write(record)
    lines.flush()
    buffer.seek(0)
    assert list(json_lines(buffer)) == records
    assert buffer.getvalue().count(b"\n") == len(records)  # one line each


def test_an_integer_beyond_64_bits_is_kept_as_its_text_never_rounded():
    line = encode_line({"account": 2**70, "small": -(2**63), "nested": [{"n": 10**30}]})
    assert decode_line(line) == {
        "account": str(2**70),
        "small": -(2**63),
        "nested": [{"n": str(10**30)}],
    }


def test_a_line_the_standard_library_wrote_still_reads():
    written = json.dumps({"emri": "Ëndrra", "n": 3, "x": [1.25, None]}, ensure_ascii=True)
    assert decode_line(written.encode()) == {"emri": "Ëndrra", "n": 3, "x": [1.25, None]}
    assert decode_line(b'{"nan": NaN}')["nan"] != decode_line(b'{"nan": NaN}')["nan"]  # NaN
