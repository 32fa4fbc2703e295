"""Streaming encryption at rest for gathered records and export bundles.

Every encrypted file has a random 256-bit data key of its own. The data key is wrapped (AES-256-GCM)
by the master key `settings.DSAR_BUNDLE_KEY`, with the file's id (`associated_id`, e.g. the bundle's
or connector run's id) as associated data, and the wrapped key is stored in the file's header. The
contents are cut into chunks of at most 64 KiB, each sealed with AES-256-GCM under the data key
(the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár), so a file of any size is
encrypted and decrypted in constant memory and every byte handed out has been authenticated.

File format, version 1 (all integers big-endian)::

    offset  size  field
    0       8     magic b"DSARENC1"
    8       1     version (1)
    9       8     key id: HMAC-SHA256(master key, b"DSARENC1 key id")[:8]; names the master key
                  without revealing it, so a file under a rotated-out key fails with WrongKeyError
    17      2     length of the wrapped key (60 in version 1)
    19      60    wrapped data key: wrap nonce (12, random) || AES-GCM(master key) ciphertext of
                  the data key (32) || tag (16); associated data = b"DSARENC1 data key" || every
                  other header field in order (magic, version, key id, wrapped-key length, nonce
                  prefix, chunk size) || len(associated_id) (4) || associated_id (UTF-8)
    79      8     nonce prefix (random)
    87      4     chunk size C (plaintext bytes per chunk, 1..65536; 65536 by default)
    91      ...   chunks

    chunk i = AES-256-GCM(data key, nonce, plaintext_i, aad) = ciphertext_i || tag_i (16)
      nonce = nonce prefix (8) || i (4)
      aad   = SHA-256(header bytes 0..90) (32) || i (4) || last flag (1: 0x01 last, 0x00 not)

Every chunk but the last holds exactly C plaintext bytes; the last holds 0..C bytes and is the only
one flagged last (it is empty only when the whole file is). There is always a last chunk, so a file
holds at least one. The reader takes a chunk as the last when the file ends right after it (a short
chunk must be the last one), so:

- flipping any bit, in the header, the wrapped key, a chunk or a tag, fails a GCM check;
- dropping, reordering or duplicating chunks changes their index in the nonce and the aad;
- cutting the file at a chunk boundary makes a chunk flagged "not last" the final one, and cutting
  it inside a chunk leaves a short chunk that is taken as the last one: its tag fails either way;
- appending data makes the real last chunk a middle one, or lengthens it;
- a header (or wrapped key) moved to another file's chunks unwraps a different data key and hashes
  differently, and a file presented under another id (`associated_id`) or master key cannot be
  unwrapped.

Any of these raises `IntegrityError` (a `ValueError`), before the affected chunk's bytes are
returned. Bytes of earlier chunks may already have been handed out by then (it is a stream): a
consumer that must not act on a partial file reads it to the end before acting. A writer that is
abandoned (an exception inside its `with` block, or garbage collection without `close()`) does not
write the last chunk, so a half-written file is detected as truncated rather than looking complete.

There is no `destroy_key()`: a file's data key exists only wrapped inside that file, so deleting
the file destroys its key too (crypto-shredding is deletion). Rotating the master key means
rewrapping every file under the new key (`rewrap()`, which also gives the file a fresh data key).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import secrets
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "DecryptingReader",
    "EncryptingWriter",
    "IntegrityError",
    "WrongKeyError",
    "encrypt_file",
    "iter_decrypted",
    "key_id",
    "open_decrypted",
    "rewrap",
]

MAGIC = b"DSARENC1"
VERSION = 1
DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_CHUNK_SIZE = 64 * 1024
KEY_SIZE = 32
KEY_ID_SIZE = 8
NONCE_PREFIX_SIZE = 8
WRAP_NONCE_SIZE = 12
TAG_SIZE = 16
WRAPPED_KEY_SIZE = WRAP_NONCE_SIZE + KEY_SIZE + TAG_SIZE
MAX_CHUNKS = 2**32  # the counter in the nonce is four bytes

_PREFIX = struct.Struct(">8sB8sH")  # magic, version, key id, wrapped-key length
_SUFFIX = struct.Struct(">8sI")  # nonce prefix, chunk size
HEADER_SIZE = _PREFIX.size + WRAPPED_KEY_SIZE + _SUFFIX.size
_CHUNK_AAD = struct.Struct(">32sI?")  # header hash, chunk index, last flag
_WRAP_LABEL = b"DSARENC1 data key"
_KEY_ID_LABEL = b"DSARENC1 key id"


class IntegrityError(ValueError):
    """An encrypted file was changed, cut short, or opened with the wrong key or id."""


class WrongKeyError(IntegrityError):
    """The file names another master key than the one given (or its key id was damaged)."""


def _master_key(master_key: bytes | None) -> bytes:
    if master_key is None:
        from django.conf import settings

        master_key = settings.DSAR_BUNDLE_KEY
    if not isinstance(master_key, bytes | bytearray) or len(master_key) != KEY_SIZE:
        raise ValueError(f"the master key must be {KEY_SIZE} raw bytes")
    return bytes(master_key)


def key_id(master_key: bytes | None = None) -> bytes:
    """The 8-byte id a file records for the master key that wrapped its data key."""
    key = _master_key(master_key)
    return hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).digest()[:KEY_ID_SIZE]


def _check_chunk_size(chunk_size: int) -> int:
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size must be between 1 and {MAX_CHUNK_SIZE} bytes")
    return chunk_size


def _wrap_aad(prefix: bytes, suffix: bytes, associated_id: str) -> bytes:
    ident = associated_id.encode("utf-8")
    return b"".join((_WRAP_LABEL, prefix, suffix, struct.pack(">I", len(ident)), ident))


def _chunk_nonce(nonce_prefix: bytes, index: int) -> bytes:
    return nonce_prefix + struct.pack(">I", index)


def _chunk_aad(header_hash: bytes, index: int, last: bool) -> bytes:
    return _CHUNK_AAD.pack(header_hash, index, last)


def _read_exact(fileobj: IO[bytes], size: int) -> bytes:
    """Read `size` bytes, fewer only at end of file (raw streams may return short reads)."""
    parts = []
    remaining = size
    while remaining > 0:
        part = fileobj.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


class EncryptingWriter(io.RawIOBase):
    """A writable binary stream that encrypts into `fileobj` (see the module docstring).

    Holds at most one chunk of plaintext. `close()` writes the last chunk; it does not close
    `fileobj` unless `close_fileobj` is true. Not seekable; `tell()` is the plaintext position,
    which is what `zipfile` needs to write a ZIP through it in streaming mode.
    """

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        master_key: bytes | None = None,
        associated_id: str = "",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        close_fileobj: bool = False,
    ) -> None:
        super().__init__()
        master = _master_key(master_key)
        self._fileobj = fileobj
        self._close_fileobj = close_fileobj
        self._chunk_size = _check_chunk_size(chunk_size)
        self._buffer = bytearray()
        self._index = 0
        self._position = 0
        self.peak_buffered = 0  # high-water mark of the plaintext buffer, for tests and metrics

        data_key = AESGCM.generate_key(bit_length=256)
        self._nonce_prefix = secrets.token_bytes(NONCE_PREFIX_SIZE)
        prefix = _PREFIX.pack(MAGIC, VERSION, key_id(master), WRAPPED_KEY_SIZE)
        suffix = _SUFFIX.pack(self._nonce_prefix, self._chunk_size)
        wrap_nonce = secrets.token_bytes(WRAP_NONCE_SIZE)
        wrapped = wrap_nonce + AESGCM(master).encrypt(
            wrap_nonce, data_key, _wrap_aad(prefix, suffix, associated_id)
        )
        header = prefix + wrapped + suffix
        self._header_hash = hashlib.sha256(header).digest()
        self._aead: AESGCM | None = AESGCM(data_key)
        self._fileobj.write(header)

    @property
    def buffered(self) -> int:
        """Plaintext bytes waiting for their chunk to be sealed (never more than one chunk)."""
        return len(self._buffer)

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        self._check_open()
        return self._position

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def write(self, data: Any) -> int:
        self._check_open()
        view = memoryview(data).cast("B")
        size = len(view)
        pos = 0
        while pos < size:
            if len(self._buffer) == self._chunk_size:
                # Only now do we know this full chunk is not the last one.
                self._seal(last=False)
            take = min(self._chunk_size - len(self._buffer), size - pos)
            self._buffer += view[pos : pos + take]
            pos += take
            self.peak_buffered = max(self.peak_buffered, len(self._buffer))
        self._position += size
        return size

    def _seal(self, *, last: bool) -> None:
        if self._index >= MAX_CHUNKS:
            raise OverflowError("file too large for one encryption stream")
        assert self._aead is not None
        sealed = self._aead.encrypt(
            _chunk_nonce(self._nonce_prefix, self._index),
            bytes(self._buffer),
            _chunk_aad(self._header_hash, self._index, last),
        )
        self._fileobj.write(sealed)
        self._buffer.clear()
        self._index += 1

    def flush(self) -> None:
        # Only whole chunks are ever written, so there is nothing of ours to push out early.
        if not self.closed and hasattr(self._fileobj, "flush"):
            self._fileobj.flush()

    def close(self) -> None:
        """Seal the last chunk (possibly empty) and finish the file."""
        if self.closed:
            return
        try:
            self._seal(last=True)
            self.flush()
        finally:
            self._finish()

    def abort(self) -> None:
        """Stop without sealing the last chunk: what was written reads back as truncated."""
        if not self.closed:
            self._finish()

    def _finish(self) -> None:
        self._aead = None
        self._buffer.clear()
        super().close()
        if self._close_fileobj:
            self._fileobj.close()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        # IOBase would close() (and so seal a complete-looking file) on garbage collection.
        if not getattr(self, "closed", True) and getattr(self, "_aead", None) is not None:
            self.abort()


class DecryptingReader(io.RawIOBase):
    """A readable binary stream over an encrypted `fileobj` (see the module docstring).

    The header and wrapped key are checked when the reader is made, so a wrong master key or id
    fails at once. Each chunk is authenticated before any of its bytes are returned; tampering,
    truncation or trailing data raise `IntegrityError`. Holds one chunk at a time.
    """

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        master_key: bytes | None = None,
        associated_id: str = "",
        close_fileobj: bool = False,
    ) -> None:
        super().__init__()
        master = _master_key(master_key)
        self._fileobj = fileobj
        self._close_fileobj = close_fileobj
        self._index = 0
        self._pending = memoryview(b"")
        self._carry = b""
        self._done = False
        self.chunks_decrypted = 0

        prefix = _read_exact(fileobj, _PREFIX.size)
        if len(prefix) < _PREFIX.size:
            raise IntegrityError("not an encrypted file: header cut short")
        magic, version, file_key_id, wrapped_len = _PREFIX.unpack(prefix)
        if magic != MAGIC:
            raise IntegrityError("not an encrypted file: bad magic")
        if version != VERSION:
            raise IntegrityError(f"unsupported encrypted file version {version}")
        if wrapped_len != WRAPPED_KEY_SIZE:
            raise IntegrityError("bad wrapped-key length")
        rest = _read_exact(fileobj, WRAPPED_KEY_SIZE + _SUFFIX.size)
        if len(rest) < WRAPPED_KEY_SIZE + _SUFFIX.size:
            raise IntegrityError("not an encrypted file: header cut short")
        wrapped, suffix = rest[:WRAPPED_KEY_SIZE], rest[WRAPPED_KEY_SIZE:]
        self._nonce_prefix, chunk_size = _SUFFIX.unpack(suffix)
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise IntegrityError("bad chunk size in header")
        self._chunk_size = chunk_size
        if not hmac.compare_digest(file_key_id, key_id(master)):
            raise WrongKeyError("the file was encrypted under another master key")
        try:
            data_key = AESGCM(master).decrypt(
                wrapped[:WRAP_NONCE_SIZE],
                wrapped[WRAP_NONCE_SIZE:],
                _wrap_aad(prefix, suffix, associated_id),
            )
        except InvalidTag:
            raise IntegrityError(
                "cannot unwrap the data key: header damaged, or wrong id for this file"
            ) from None
        self._header_hash = hashlib.sha256(prefix + rest).digest()
        self._aead: AESGCM | None = AESGCM(data_key)

    @property
    def chunk_size(self) -> int:
        return self._chunk_size

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        out = memoryview(buffer).cast("B")
        if not len(out):
            return 0
        while not self._pending and not self._done:
            self._next_chunk()
        n = min(len(out), len(self._pending))
        out[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _next_chunk(self) -> None:
        record = self._chunk_size + TAG_SIZE
        data = self._carry + _read_exact(self._fileobj, record - len(self._carry))
        self._carry = b""
        if len(data) == record:
            # A full chunk is the last one only if the file ends right after it.
            self._carry = _read_exact(self._fileobj, 1)
            last = not self._carry
        elif len(data) >= TAG_SIZE:
            last = True  # a short chunk can only be the last (the file has ended)
        else:
            raise IntegrityError("file cut short: the last chunk is missing")
        if self._index >= MAX_CHUNKS:
            raise IntegrityError("too many chunks")
        assert self._aead is not None
        try:
            plaintext = self._aead.decrypt(
                _chunk_nonce(self._nonce_prefix, self._index),
                data,
                _chunk_aad(self._header_hash, self._index, last),
            )
        except InvalidTag:
            raise IntegrityError(
                f"chunk {self._index} failed authentication: the file was changed, "
                "reordered or cut short"
            ) from None
        self._index += 1
        self.chunks_decrypted += 1
        self._pending = memoryview(plaintext)
        self._done = last

    def close(self) -> None:
        if self.closed:
            return
        self._aead = None
        self._pending = memoryview(b"")
        super().close()
        if self._close_fileobj:
            self._fileobj.close()


def encrypt_file(
    src_path: str | os.PathLike[str],
    dst_path: str | os.PathLike[str],
    *,
    master_key: bytes | None = None,
    associated_id: str = "",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Path:
    """Encrypt `src_path` into `dst_path` (mode 0600), atomically: dst is whole or absent."""
    dst = Path(dst_path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(src_path, "rb") as src:
            with EncryptingWriter(
                out, master_key=master_key, associated_id=associated_id, chunk_size=chunk_size
            ) as writer:
                while block := src.read(DEFAULT_CHUNK_SIZE):
                    writer.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, dst)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return dst


def open_decrypted(
    path: str | os.PathLike[str],
    *,
    master_key: bytes | None = None,
    associated_id: str = "",
    buffer_size: int = DEFAULT_CHUNK_SIZE,
) -> io.BufferedReader:
    """Open an encrypted file for reading its plaintext; closing it closes the file."""
    raw_file = open(path, "rb")  # noqa: SIM115 - handed to the reader, which closes it
    try:
        reader = DecryptingReader(
            raw_file, master_key=master_key, associated_id=associated_id, close_fileobj=True
        )
    except BaseException:
        raw_file.close()
        raise
    return io.BufferedReader(reader, buffer_size=buffer_size)


def iter_decrypted(
    fileobj: IO[bytes],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    *,
    master_key: bytes | None = None,
    associated_id: str = "",
    close_fileobj: bool = False,
) -> Iterator[bytes]:
    """Plaintext of an encrypted stream in pieces of at most `chunk_size`, e.g. for a download.

    The header and key are checked now, before anything is sent (a wrong key or id raises here);
    a damaged chunk raises `IntegrityError` when the iteration reaches it. Closing the iterator
    (as `StreamingHttpResponse` does) closes the reader, and `fileobj` if `close_fileobj`.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    reader = DecryptingReader(
        fileobj, master_key=master_key, associated_id=associated_id, close_fileobj=close_fileobj
    )

    def pieces() -> Iterator[bytes]:
        with reader:
            while piece := reader.read(chunk_size):
                yield piece

    return pieces()


def rewrap(
    fileobj_in: IO[bytes],
    fileobj_out: IO[bytes],
    old_master: bytes,
    new_master: bytes,
    *,
    associated_id: str = "",
    new_associated_id: str | None = None,
) -> None:
    """Re-encrypt a stream for a new master key (key rotation), in constant memory.

    The chunks' associated data binds the whole header, wrapped key included, so a new wrapping
    means new chunks: the file gets a fresh data key as well. If `fileobj_in` turns out damaged,
    `IntegrityError` is raised and `fileobj_out` is left without its last chunk (unreadable).
    """
    reader = DecryptingReader(fileobj_in, master_key=old_master, associated_id=associated_id)
    with reader:
        chunk_size = reader.chunk_size
        with EncryptingWriter(
            fileobj_out,
            master_key=new_master,
            associated_id=associated_id if new_associated_id is None else new_associated_id,
            chunk_size=chunk_size,
        ) as writer:
            while block := reader.read(chunk_size):
                writer.write(block)
