"""Streaming encryption at rest (dsar.crypto): round trips, tamper and truncation detection,
constant memory and progressive reading."""

from __future__ import annotations

import gc
import gzip
import io
import json
import os
import secrets
import stat
import zipfile

import pytest

from dsar.crypto import (
    DEFAULT_CHUNK_SIZE,
    HEADER_SIZE,
    TAG_SIZE,
    DecryptingReader,
    EncryptingWriter,
    IntegrityError,
    WrongKeyError,
    encrypt_file,
    iter_decrypted,
    key_id,
    open_decrypted,
    rewrap,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
C = DEFAULT_CHUNK_SIZE
RECORD = C + TAG_SIZE


def encrypt(data: bytes, *, key: bytes = KEY, aid: str = "bundle-1", chunk_size: int = C) -> bytes:
    out = io.BytesIO()
    with EncryptingWriter(out, master_key=key, associated_id=aid, chunk_size=chunk_size) as w:
        w.write(data)
    return out.getvalue()


def decrypt(blob: bytes, *, key: bytes = KEY, aid: str = "bundle-1") -> bytes:
    with DecryptingReader(io.BytesIO(blob), master_key=key, associated_id=aid) as reader:
        return reader.read()


def flip(blob: bytes, bit: int) -> bytes:
    changed = bytearray(blob)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def split_chunks(blob: bytes, chunk_size: int = C) -> tuple[bytes, list[bytes]]:
    record = chunk_size + TAG_SIZE
    body = blob[HEADER_SIZE:]
    return blob[:HEADER_SIZE], [body[i : i + record] for i in range(0, len(body), record)]


class CountingSink(io.RawIOBase):
    """Swallows ciphertext, remembering only how much and the largest single write."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self.writes: list[int] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        size = len(memoryview(data))
        self.total += size
        self.writes.append(size)
        return size


class CountingSource(io.BytesIO):
    """A BytesIO that records how far into the ciphertext the reader has gone."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.high_water = 0

    def read(self, size=-1):
        data = super().read(size)
        self.high_water = max(self.high_water, self.tell())
        return data


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"x", id="one-byte"),
        pytest.param(secrets.token_bytes(C - 1), id="one-short-of-a-chunk"),
        pytest.param(secrets.token_bytes(C), id="exactly-one-chunk"),
        pytest.param(secrets.token_bytes(C + 1), id="one-chunk-and-a-byte"),
        pytest.param(secrets.token_bytes(3 * C), id="exactly-three-chunks"),
        pytest.param(os.urandom(5 * 1024 * 1024), id="5-MiB-random"),
        pytest.param("Ëndërr, çaj e përshëndetje: ë ç Ë Ç\n".encode() * 5000, id="albanian-text"),
    ],
)
def test_it_round_trips(data):
    blob = encrypt(data)

    assert decrypt(blob) == data


def test_it_round_trips_text_with_diacritics_as_text():
    text = "Emri: Arbër Çela\nQyteti: Korçë\nShënim: përshëndetje ë ç\n"
    blob = encrypt(text.encode("utf-8"))

    with io.TextIOWrapper(
        io.BufferedReader(
            DecryptingReader(io.BytesIO(blob), master_key=KEY, associated_id="bundle-1")
        ),
        encoding="utf-8",
    ) as fh:
        assert fh.read() == text


def test_it_round_trips_many_small_writes_and_reads():
    data = secrets.token_bytes(300_000)
    out = io.BytesIO()
    with EncryptingWriter(out, master_key=KEY, chunk_size=1000) as writer:
        for i in range(0, len(data), 777):
            writer.write(data[i : i + 777])
        assert writer.tell() == len(data)

    reader = DecryptingReader(io.BytesIO(out.getvalue()), master_key=KEY)
    pieces = []
    while piece := reader.read(333):
        assert len(piece) <= 333
        pieces.append(piece)
    assert b"".join(pieces) == data


@pytest.mark.parametrize(
    ("size", "chunks"),
    [(0, 1), (1, 1), (C, 1), (C + 1, 2), (3 * C, 3), (3 * C + 5, 4)],
)
def test_it_lays_out_header_and_chunks_as_documented(size, chunks):
    blob = encrypt(b"a" * size)

    assert blob[:8] == b"DSARENC1"
    assert blob[8] == 1
    assert blob[9:17] == key_id(KEY)
    assert int.from_bytes(blob[17:19], "big") == 60
    assert int.from_bytes(blob[87:91], "big") == C
    assert len(blob) == HEADER_SIZE + size + chunks * TAG_SIZE


def test_it_uses_the_bundle_key_from_settings_by_default(settings):
    settings.DSAR_BUNDLE_KEY = OTHER_KEY
    out = io.BytesIO()
    with EncryptingWriter(out, associated_id="case-7") as writer:
        writer.write(b"default key")
    blob = out.getvalue()

    assert decrypt(blob, key=OTHER_KEY, aid="case-7") == b"default key"
    with DecryptingReader(io.BytesIO(blob), associated_id="case-7") as reader:
        assert reader.read() == b"default key"
    with pytest.raises(IntegrityError):
        decrypt(blob, key=KEY, aid="case-7")


def test_it_refuses_a_master_key_of_the_wrong_length():
    with pytest.raises(ValueError, match="32 raw bytes"):
        EncryptingWriter(io.BytesIO(), master_key=b"short")
    with pytest.raises(ValueError, match="32 raw bytes"):
        DecryptingReader(io.BytesIO(encrypt(b"x")), master_key=b"k" * 16)


def test_it_refuses_writes_after_close():
    writer = EncryptingWriter(io.BytesIO(), master_key=KEY)
    writer.close()

    with pytest.raises(ValueError, match="closed"):
        writer.write(b"late")


# --- composition with gzip, zipfile and buffered I/O -------------------------------------------


def test_it_round_trips_json_lines_through_gzip():
    records = [
        {"id": i, "email": f"arber.cela{i}@example.al", "note": "Korçë, përshëndetje ë ç"}
        for i in range(20_000)
    ]
    out = io.BytesIO()
    with (
        EncryptingWriter(out, master_key=KEY, associated_id="run-3") as writer,
        gzip.GzipFile(fileobj=writer, mode="wb") as gz,
    ):
        for record in records:
            gz.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
    blob = out.getvalue()

    reader = DecryptingReader(io.BytesIO(blob), master_key=KEY, associated_id="run-3")
    with gzip.GzipFile(fileobj=reader, mode="rb") as gz:
        read_back = [json.loads(line) for line in gz]
    assert read_back == records
    assert b"arber.cela" not in blob


def test_it_writes_a_zip_in_streaming_mode_through_the_writer():
    out = io.BytesIO()
    with (
        EncryptingWriter(out, master_key=KEY, associated_id="bundle-9") as writer,
        zipfile.ZipFile(writer, mode="w", compression=zipfile.ZIP_DEFLATED) as zf,
    ):
        with zf.open("data/online_account.json", "w") as member:
            member.write(json.dumps({"email": "arber@example.al"}).encode())
        zf.writestr("manifest.json", b'{"files": []}')

    plaintext = decrypt(out.getvalue(), aid="bundle-9")
    with zipfile.ZipFile(io.BytesIO(plaintext)) as zf:
        assert zf.testzip() is None
        assert json.loads(zf.read("data/online_account.json")) == {"email": "arber@example.al"}
        assert zf.read("manifest.json") == b'{"files": []}'


def test_it_reads_through_a_buffered_reader():
    data = secrets.token_bytes(3 * C + 123)
    buffered = io.BufferedReader(
        DecryptingReader(io.BytesIO(encrypt(data)), master_key=KEY, associated_id="bundle-1")
    )

    assert buffered.read(10) == data[:10]
    assert buffered.peek(1)[:1] == data[10:11]
    assert buffered.read() == data[10:]
    buffered.close()
    assert buffered.raw.closed


def test_encrypt_file_and_open_decrypted_round_trip(tmp_path):
    src = tmp_path / "records.jsonl"
    data = secrets.token_bytes(2 * C + 17)
    src.write_bytes(data)
    dst = tmp_path / "records.jsonl.enc"

    assert encrypt_file(src, dst, master_key=KEY, associated_id="run-1") == dst

    assert stat.S_IMODE(dst.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.jsonl", "records.jsonl.enc"]
    with open_decrypted(dst, master_key=KEY, associated_id="run-1") as fh:
        assert isinstance(fh, io.BufferedReader)
        assert fh.read() == data


def test_encrypt_file_leaves_nothing_behind_when_the_source_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        encrypt_file(tmp_path / "missing", tmp_path / "out.enc", master_key=KEY)

    assert list(tmp_path.iterdir()) == []


def test_open_decrypted_fails_at_once_with_the_wrong_key(tmp_path):
    path = tmp_path / "bundle.enc"
    path.write_bytes(encrypt(b"secret"))

    with pytest.raises(IntegrityError):
        open_decrypted(path, master_key=OTHER_KEY, associated_id="bundle-1")


def test_iter_decrypted_streams_pieces_for_a_download():
    data = secrets.token_bytes(5 * C + 99)
    source = io.BytesIO(encrypt(data))

    pieces = list(iter_decrypted(source, 10_000, master_key=KEY, associated_id="bundle-1"))

    assert b"".join(pieces) == data
    assert all(0 < len(piece) <= 10_000 for piece in pieces)


def test_iter_decrypted_checks_the_key_before_the_first_byte_is_sent():
    source = io.BytesIO(encrypt(b"secret"))

    with pytest.raises(IntegrityError):
        iter_decrypted(source, master_key=KEY, associated_id="bundle-2")


def test_iter_decrypted_closes_the_file_when_the_iterator_is_closed(tmp_path):
    path = tmp_path / "bundle.enc"
    path.write_bytes(encrypt(secrets.token_bytes(4 * C)))
    fh = open(path, "rb")  # noqa: SIM115

    pieces = iter_decrypted(fh, master_key=KEY, associated_id="bundle-1", close_fileobj=True)
    next(pieces)
    pieces.close()

    assert fh.closed


def test_rewrap_moves_a_file_to_a_new_master_key():
    data = secrets.token_bytes(2 * C + 5)
    old = encrypt(data, key=KEY, aid="bundle-1")
    new = io.BytesIO()

    rewrap(io.BytesIO(old), new, KEY, OTHER_KEY, associated_id="bundle-1")

    assert decrypt(new.getvalue(), key=OTHER_KEY) == data
    with pytest.raises(IntegrityError):
        decrypt(new.getvalue(), key=KEY)


# --- confidentiality ---------------------------------------------------------------------------


def test_the_ciphertext_does_not_contain_the_plaintext():
    marker = b"arber.cela@example.al"
    data = (b'{"email": "arber.cela@example.al", "name": "Arb\xc3\xabr"}\n') * 20_000
    blob = encrypt(data)

    assert marker in data
    assert marker not in blob
    assert b"Arb\xc3\xabr" not in blob


def test_two_encryptions_of_the_same_data_differ():
    data = b"same data " * 10_000
    first, second = encrypt(data), encrypt(data)

    assert first != second
    assert first[19:79] != second[19:79]  # wrapped key: a data key of its own
    assert first[79:87] != second[79:87]  # nonce prefix
    assert first[HEADER_SIZE:] != second[HEADER_SIZE:]
    assert decrypt(first) == decrypt(second) == data


# --- integrity: tampering ----------------------------------------------------------------------


def test_flipping_any_bit_of_a_small_file_is_detected():
    data = secrets.token_bytes(200)  # chunks of 64, 64, 64 and 8 bytes
    blob = encrypt(data, chunk_size=64)

    for bit in range(len(blob) * 8):
        with pytest.raises(IntegrityError):
            decrypt(flip(blob, bit))


@pytest.mark.parametrize(
    "offset",
    [
        pytest.param(0, id="magic"),
        pytest.param(8, id="version"),
        pytest.param(12, id="key-id"),
        pytest.param(18, id="wrapped-key-length"),
        pytest.param(19, id="wrap-nonce"),
        pytest.param(40, id="wrapped-key"),
        pytest.param(78, id="wrapped-key-tag"),
        pytest.param(83, id="nonce-prefix"),
        pytest.param(90, id="chunk-size"),
        pytest.param(HEADER_SIZE, id="first-chunk-start"),
        pytest.param(HEADER_SIZE + C // 2, id="first-chunk-middle"),
        pytest.param(HEADER_SIZE + C + 3, id="first-chunk-tag"),
        pytest.param(HEADER_SIZE + RECORD + 1000, id="middle-chunk"),
        pytest.param(HEADER_SIZE + 2 * RECORD + C + 15, id="middle-chunk-tag"),
        pytest.param(HEADER_SIZE + 3 * RECORD + 2, id="last-chunk"),
        pytest.param(-1, id="last-tag-last-byte"),
    ],
)
def test_flipping_a_bit_in_a_large_file_is_detected(offset):
    blob = encrypt(secrets.token_bytes(3 * C + 500))
    position = offset % len(blob)

    for bit in (0, 7):
        with pytest.raises(IntegrityError):
            decrypt(flip(blob, position * 8 + bit))


def test_no_byte_of_a_tampered_chunk_is_returned():
    data = secrets.token_bytes(3 * C)
    blob = flip(encrypt(data), (HEADER_SIZE + RECORD + 10) * 8)  # inside chunk 1
    reader = DecryptingReader(io.BytesIO(blob), master_key=KEY, associated_id="bundle-1")

    received = bytearray()
    with pytest.raises(IntegrityError, match="chunk 1"):
        while piece := reader.read(4096):
            received += piece
    assert bytes(received) == data[:C]  # chunk 0, and nothing of chunk 1


def test_swapping_two_chunks_is_detected():
    blob = encrypt(secrets.token_bytes(4 * C + 10))
    header, chunks = split_chunks(blob)
    chunks[1], chunks[2] = chunks[2], chunks[1]

    with pytest.raises(IntegrityError):
        decrypt(header + b"".join(chunks))


def test_dropping_a_middle_chunk_is_detected():
    blob = encrypt(secrets.token_bytes(4 * C + 10))
    header, chunks = split_chunks(blob)
    del chunks[2]

    with pytest.raises(IntegrityError):
        decrypt(header + b"".join(chunks))


def test_duplicating_a_chunk_is_detected():
    blob = encrypt(secrets.token_bytes(3 * C + 10))
    header, chunks = split_chunks(blob)
    chunks.insert(1, chunks[0])

    with pytest.raises(IntegrityError):
        decrypt(header + b"".join(chunks))


def test_appending_data_is_detected():
    for data in (secrets.token_bytes(2 * C), secrets.token_bytes(2 * C + 7), b""):
        blob = encrypt(data)
        with pytest.raises(IntegrityError):
            decrypt(blob + b"\x00")
        with pytest.raises(IntegrityError):
            decrypt(blob + blob[HEADER_SIZE:])


def test_swapping_headers_between_files_is_detected():
    first = encrypt(secrets.token_bytes(2 * C + 1))
    second = encrypt(secrets.token_bytes(2 * C + 1))

    with pytest.raises(IntegrityError):
        decrypt(first[:HEADER_SIZE] + second[HEADER_SIZE:])


def test_mixing_chunks_of_two_files_is_detected():
    first = encrypt(secrets.token_bytes(3 * C + 1))
    second = encrypt(secrets.token_bytes(3 * C + 1))
    header, chunks = split_chunks(first)
    chunks[1] = split_chunks(second)[1][1]

    with pytest.raises(IntegrityError):
        decrypt(header + b"".join(chunks))


# --- integrity: truncation ---------------------------------------------------------------------


def test_truncating_a_small_file_anywhere_is_detected():
    blob = encrypt(secrets.token_bytes(200), chunk_size=64)

    for length in range(len(blob)):
        with pytest.raises(IntegrityError):
            decrypt(blob[:length])


@pytest.mark.parametrize(
    "length",
    [
        pytest.param(0, id="nothing"),
        pytest.param(5, id="inside-magic"),
        pytest.param(HEADER_SIZE - 1, id="inside-header"),
        pytest.param(HEADER_SIZE, id="header-only"),
        pytest.param(HEADER_SIZE + 1000, id="inside-first-chunk"),
        pytest.param(HEADER_SIZE + RECORD - 1, id="inside-first-tag"),
        pytest.param(HEADER_SIZE + RECORD, id="at-first-boundary"),
        pytest.param(HEADER_SIZE + 2 * RECORD, id="at-second-boundary"),
        pytest.param(HEADER_SIZE + 3 * RECORD - 5, id="inside-third-tag"),
    ],
)
def test_truncating_a_large_file_is_detected(length):
    blob = encrypt(secrets.token_bytes(3 * C))
    assert len(blob) == HEADER_SIZE + 3 * RECORD

    with pytest.raises(IntegrityError):
        decrypt(blob[:length])


def test_truncation_at_a_chunk_boundary_is_caught_by_the_last_chunk_flag():
    # Three full chunks: cut after two, the file still looks well formed (a full last chunk is
    # allowed), so only the "last" flag in chunk 1's associated data gives the cut away.
    data = secrets.token_bytes(3 * C)
    blob = encrypt(data)[: HEADER_SIZE + 2 * RECORD]
    reader = DecryptingReader(io.BytesIO(blob), master_key=KEY, associated_id="bundle-1")

    received = bytearray()
    with pytest.raises(IntegrityError, match="chunk 1 failed authentication"):
        while piece := reader.read(C):
            received += piece
    assert bytes(received) == data[:C]


def test_an_abandoned_writer_leaves_a_file_that_reads_as_truncated():
    out = io.BytesIO()
    with (
        pytest.raises(RuntimeError),
        EncryptingWriter(out, master_key=KEY, associated_id="bundle-1") as writer,
    ):
        writer.write(secrets.token_bytes(2 * C + 10))
        raise RuntimeError("source system went away")

    with pytest.raises(IntegrityError):
        decrypt(out.getvalue())


def test_a_writer_garbage_collected_without_close_does_not_seal_the_file():
    out = io.BytesIO()
    writer = EncryptingWriter(out, master_key=KEY, associated_id="bundle-1")
    writer.write(b"half of the records")
    del writer
    gc.collect()

    with pytest.raises(IntegrityError):
        decrypt(out.getvalue())


# --- integrity: keys and ids -------------------------------------------------------------------


def test_the_wrong_master_key_is_refused():
    blob = encrypt(b"secret")

    with pytest.raises(WrongKeyError):
        decrypt(blob, key=OTHER_KEY)
    assert issubclass(WrongKeyError, IntegrityError)
    assert issubclass(IntegrityError, ValueError)


def test_the_wrong_master_key_is_refused_even_with_a_forged_key_id():
    blob = bytearray(encrypt(b"secret"))
    blob[9:17] = key_id(OTHER_KEY)

    with pytest.raises(IntegrityError):
        decrypt(bytes(blob), key=OTHER_KEY)


def test_the_wrong_associated_id_is_refused():
    blob = encrypt(b"secret", aid="bundle-1")

    with pytest.raises(IntegrityError):
        decrypt(blob, aid="bundle-2")
    with pytest.raises(IntegrityError):
        decrypt(blob, aid="")


# --- memory and streaming ----------------------------------------------------------------------


def test_writing_50_mib_never_buffers_more_than_one_chunk():
    sink = CountingSink()
    block = secrets.token_bytes(1024 * 1024)
    writer = EncryptingWriter(sink, master_key=KEY)

    for _ in range(50):
        writer.write(block)
        assert writer.buffered <= C
    writer.close()

    assert writer.peak_buffered == C
    assert max(sink.writes) <= RECORD  # ciphertext leaves one chunk at a time
    assert sink.total == HEADER_SIZE + 50 * 1024 * 1024 + (50 * 1024 * 1024 // C) * TAG_SIZE


def test_reading_returns_data_before_the_whole_file_is_processed():
    data = secrets.token_bytes(40 * C)
    source = CountingSource(encrypt(data))
    reader = DecryptingReader(source, master_key=KEY, associated_id="bundle-1")

    first = reader.read(100)

    assert first == data[:100]
    assert reader.chunks_decrypted == 1
    assert source.high_water <= HEADER_SIZE + RECORD + 1  # one chunk and a byte of look-ahead

    assert first + reader.read() == data
    assert reader.chunks_decrypted == 40


def test_reading_through_gzip_is_progressive():
    out = io.BytesIO()
    with (
        EncryptingWriter(out, master_key=KEY) as writer,
        gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=1) as gz,
    ):
        gz.write(os.urandom(20 * C))  # incompressible: as many chunks of ciphertext
    reader = DecryptingReader(io.BytesIO(out.getvalue()), master_key=KEY)

    with gzip.GzipFile(fileobj=reader, mode="rb") as gz:
        assert len(gz.read(10)) == 10
        assert reader.chunks_decrypted <= 2
