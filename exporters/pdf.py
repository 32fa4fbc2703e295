"""HTML to PDF with WeasyPrint, fetching nothing but our own static files.

Every template of this app is rendered with Django's autoescaping, so a value cannot become
markup; the fetcher is the second wall: even markup that slipped through could not load a local
file (`file:///etc/passwd`), reach the network or smuggle in a `data:` URL. It serves files from
`exporters/static/` only, and a refused URL stops the rendering (`UnsafeResource`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import mimetypes
import os
import re
import select
import signal
import time
import types
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pydyf
from django.conf import settings
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

STATIC_ROOT = Path(__file__).resolve().parent / "static"
# Templates link their stylesheet relative to this, e.g. href="report.css".
BASE_URL = (STATIC_ROOT / "exporters").as_uri() + "/"


# pydyf (WeasyPrint's PDF writer) deflates every stream at zlib's level 9: a tenth of a 22-page
# report's rendering time, for streams 4% smaller than at level 6, the level zlib, gzip and ZIP
# use by default (measured: 77 ms against 9 ms for the report's 0.8 MB of streams). Its module
# reference to zlib is replaced by one whose compressobj uses level 6; every other name is
# zlib's own. tests/exporters/test_pdf_streams.py checks that they come out at level 6.
PDF_STREAM_ZLIB_LEVEL = 6


def _compressobj(level: int = PDF_STREAM_ZLIB_LEVEL, *args, **kwargs):
    return zlib.compressobj(PDF_STREAM_ZLIB_LEVEL, *args, **kwargs)


_pdf_stream_zlib = types.ModuleType("zlib", "zlib, with streams deflated at level 6")
_pdf_stream_zlib.__dict__.update(
    {name: value for name, value in vars(zlib).items() if not name.startswith("__")}
)
_pdf_stream_zlib.compressobj = _compressobj
pydyf.zlib = _pdf_stream_zlib


class RefusedURL(ValueError):
    """The report asked for a resource that is not one of our own static files."""


class UnsafeResource(Exception):
    """Rendering stopped: the document referred to a resource the fetcher refuses."""


class StaticOnlyFetcher(URLFetcher):
    """Serves `file:` URLs inside `root` and the exact `embedded` URLs we put in ourselves;
    refuses everything else (other files, http(s), ftp, data:, ...)."""

    def __init__(
        self,
        root: Path = STATIC_ROOT,
        embedded: Mapping[str, tuple[bytes, str]] | None = None,
    ):
        super().__init__(fail_on_errors=True, allow_redirects=False)
        self.root = Path(root).resolve()
        self.embedded = dict(embedded or {})

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        if url in self.embedded:
            body, media_type = self.embedded[url]
            return URLFetcherResponse(url, body, {"Content-Type": media_type})
        parts = urlsplit(url)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            raise RefusedURL(f"refused to fetch {url[:200]!r}: only our own static files")
        path = Path(url2pathname(parts.path)).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            raise RefusedURL(f"refused to fetch {url[:200]!r}: not one of our static files")
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": media_type})


@contextlib.contextmanager
def few_collections() -> Iterator[None]:
    """Rare cyclic garbage collections while a document is laid out: WeasyPrint makes millions
    of short-lived objects, and each full collection walks every object of the process (a
    worker's too). A 22-page report spent 0.2-0.3 s of its 2.3 s in the collector. Collections
    of the youngest generation still run (every 10,000 allocations), so memory stays bounded
    on a long document; the older ones wait until the render is over."""
    before = gc.get_threshold()
    gc.set_threshold(10_000, 1_000, 1_000)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def html_to_pdf(html: str, *, embedded: Mapping[str, tuple[bytes, str]] | None = None) -> bytes:
    fetcher = StaticOnlyFetcher(embedded=embedded)
    try:
        with few_collections():
            document = HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher)
            # PDF/UA-1: tagged (headings, tables with their header cells, paragraphs), the
            # document's language from <html lang> and its title shown, so that a screen
            # reader reads the report as the subject's language in its reading order.
            return document.write_pdf(pdf_variant="pdf/ua-1")
    except FatalURLFetchingError as exc:
        raise UnsafeResource(str(exc.__cause__ or exc)) from exc


# --- rendering beside other work -----------------------------------------------------------------

# A tiny document with the report's stylesheet and both weights of its font: rendered once in a
# process before it forks, so that every child starts with fonts and WeasyPrint's modules loaded
# (the first render of a process costs about a second more than the next ones).
_WARM_UP = (
    '<html lang="en"><head><link rel="stylesheet" href="report.css"></head><body><h1>A</h1>'
    '<p>b <b>c</b></p><table class="records"><tr><th>d</th><td>e</td></tr></table></body></html>'
)
_warm = False


class PendingPdf:
    """A PDF being rendered: `result()` returns its bytes (or raises what rendering raised),
    `cancel()` stops a render not waited for. Rendered by a forked child process where the
    platform can fork (and DSAR_PDF_IN_CHILD allows it), so that the bundle's data files are
    written on the other core meanwhile; else rendered at once, in this process."""

    def __init__(self, *, pdf: bytes | None = None, pid: int = 0, fd: int = -1):
        self._pdf = pdf
        self._pid = pid
        self._fd = fd

    def result(self, timeout: float | None = None) -> bytes:
        if self._pdf is not None:
            return self._pdf
        timeout = timeout or float(getattr(settings, "DSAR_PDF_RENDER_TIMEOUT", 900))
        deadline = time.monotonic() + timeout
        chunks = []
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([self._fd], [], [], remaining)[0]:
                    raise TimeoutError(f"the PDF was not rendered within {timeout:.0f} s")
                chunk = os.read(self._fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            self.cancel()
        payload = b"".join(chunks)
        kind, body = payload[:1], payload[1:]
        if kind == b"P":
            self._pdf = body
            return body
        if kind == b"U":
            raise UnsafeResource(body.decode("utf-8", "replace"))
        raise RuntimeError(
            f"the PDF could not be rendered ({body.decode('ascii', 'replace') or 'child died'})"
        )

    def cancel(self) -> None:
        """Close the pipe and reap the child (killed first if it still runs)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._pid:
            pid, self._pid = self._pid, 0
            try:
                if os.waitpid(pid, os.WNOHANG) == (0, 0):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def render_pdf_beside(
    html: str, *, embedded: Mapping[str, tuple[bytes, str]] | None = None
) -> PendingPdf:
    """Start rendering `html` (see `html_to_pdf`) and return at once where a child process can
    render it; the caller goes on with other work and then asks for `result()`."""
    if not getattr(settings, "DSAR_PDF_IN_CHILD", True) or not hasattr(os, "fork"):
        return PendingPdf(pdf=html_to_pdf(html, embedded=embedded))
    global _warm
    if not _warm:
        html_to_pdf(_WARM_UP)
        _warm = True
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: render, hand the bytes over, and leave without any clean-up
        status = 0
        try:
            os.close(read_end)
            gc.freeze()  # the parent's objects: never walked (nor copied) by this child's GC
            for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
                signal.signal(number, signal.SIG_DFL)
            try:
                payload = b"P" + html_to_pdf(html, embedded=embedded)
            except UnsafeResource as exc:
                payload = b"U" + str(exc).encode("utf-8", "replace")
            except Exception as exc:  # only its type: a message might quote the document
                payload = b"E" + type(exc).__name__.encode("ascii", "replace")
            view = memoryview(payload)
            while view:
                view = view[os.write(write_end, view) :]
        except BaseException:
            status = 1
        finally:
            # Never return into the parent's code; no atexit, no finalizer: the database
            # connections and files this child inherited are the parent's.
            os._exit(status)
    os.close(write_end)
    return PendingPdf(pid=pid, fd=read_end)


_CSS_SAFE = re.compile(r"[A-Za-z0-9 _.,:/()-]")


def page_css(controller: str, reference: str, title: str) -> str:
    """The running header and footer (page margin boxes): the controller, the case reference,
    the document's title and "Page n of m"; every text escaped for CSS."""
    page, of = _("Page"), _("of")  # "Page 3 of 12"
    return mark_safe(  # noqa: S308 - every text is escaped by css_string
        "@page { "
        f"@top-left {{ content: {css_string(controller)}; }} "
        f"@top-right {{ content: {css_string(reference)}; }} "
        f"@bottom-left {{ content: {css_string(title)}; }} "
        f"@bottom-right {{ content: {css_string(page)} ' ' counter(page) ' ' "
        f"{css_string(of)} ' ' counter(pages); }} }}"
    )


def css_string(text: str) -> str:
    """A CSS string literal for `content:`; every character that could end the string, the rule
    or the <style> element is written as a hex escape."""
    # The space after each escape ends it (and is consumed), so a real space can follow.
    escaped = "".join(ch if _CSS_SAFE.fullmatch(ch) else f"\\{ord(ch):x} " for ch in text)
    return f'"{escaped}"'


# WeasyPrint reports every layout step and fontTools every glyph list at INFO: noise in a worker's
# log for each report, and the glyph lists hint at the characters of the subject's data.
for _name in ("weasyprint.progress", "fontTools"):
    logging.getLogger(_name).setLevel(logging.WARNING)
