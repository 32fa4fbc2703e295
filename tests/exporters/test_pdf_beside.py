"""The report rendered by a forked child while the bundle's data files are written
(exporters.pdf.render_pdf_beside): the same PDF, the same refusals, no child left behind."""

from __future__ import annotations

import os
import time

import pytest

from exporters import pdf as pdf_module
from exporters.pdf import PendingPdf, UnsafeResource, render_pdf_beside

from .conftest import flat, pdf_pages

PAGE = (
    '<html lang="en"><head><link rel="stylesheet" href="report.css"></head>'
    "<body><h1>Your data</h1><p>Rendered beside the data files.</p></body></html>"
)


def test_a_child_process_renders_the_pdf(settings):
    settings.DSAR_PDF_IN_CHILD = True
    pending = render_pdf_beside(PAGE)
    pid = pending._pid
    assert pid > 0  # a child renders it; this process goes on meanwhile
    pdf = pending.result()
    assert "Rendered beside the data files." in flat("\n".join(pdf_pages(pdf)))
    assert pending.result() == pdf  # asked again: the same bytes, no new render
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no zombie left


def test_without_children_it_renders_in_this_process(settings):
    settings.DSAR_PDF_IN_CHILD = False
    pending = render_pdf_beside(PAGE)
    assert pending._pid == 0
    assert "Rendered beside the data files." in flat("\n".join(pdf_pages(pending.result())))


def test_a_refused_resource_stops_the_childs_render_as_it_stops_ours(settings):
    settings.DSAR_PDF_IN_CHILD = True
    page = PAGE.replace("<h1>", '<img src="file:///etc/passwd"><h1>')
    with pytest.raises(UnsafeResource, match="/etc/passwd"):
        render_pdf_beside(page).result()


def test_a_failing_render_names_only_the_error_type(settings, monkeypatch):
    settings.DSAR_PDF_IN_CHILD = True
    monkeypatch.setattr(pdf_module, "_warm", True)

    def broken(html, *, embedded=None):
        raise ValueError("a message that might quote the document")

    monkeypatch.setattr(pdf_module, "html_to_pdf", broken)
    with pytest.raises(RuntimeError) as failure:
        render_pdf_beside(PAGE).result()
    assert "ValueError" in str(failure.value)
    assert "quote the document" not in str(failure.value)


def test_a_render_not_waited_for_is_stopped_and_reaped(settings, monkeypatch):
    settings.DSAR_PDF_IN_CHILD = True
    monkeypatch.setattr(pdf_module, "_warm", True)
    monkeypatch.setattr(pdf_module, "html_to_pdf", lambda html, *, embedded=None: time.sleep(60))
    pending = render_pdf_beside(PAGE)
    pid = pending._pid
    pending.cancel()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_a_render_that_takes_too_long_is_given_up(settings, monkeypatch):
    settings.DSAR_PDF_IN_CHILD = True
    monkeypatch.setattr(pdf_module, "_warm", True)
    monkeypatch.setattr(pdf_module, "html_to_pdf", lambda html, *, embedded=None: time.sleep(60))
    pending = render_pdf_beside(PAGE)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        pending.result(timeout=0.5)
    assert time.monotonic() - started < 10
    assert pending._pid == 0 and pending._fd == -1  # killed, reaped, closed


def test_a_finished_pending_pdf_needs_no_child():
    assert PendingPdf(pdf=b"%PDF-1.7").result() == b"%PDF-1.7"


def test_the_collectors_thresholds_are_raised_while_rendering_and_restored_after(monkeypatch):
    import gc

    seen = []
    real_write_pdf = pdf_module.HTML.write_pdf

    def watching(self, *args, **kwargs):
        seen.append(gc.get_threshold())
        return real_write_pdf(self, *args, **kwargs)

    monkeypatch.setattr(pdf_module.HTML, "write_pdf", watching)
    before = gc.get_threshold()
    assert pdf_module.html_to_pdf(PAGE).startswith(b"%PDF")
    with pytest.raises(UnsafeResource):
        pdf_module.html_to_pdf(PAGE.replace("<h1>", '<img src="file:///etc/passwd"><h1>'))
    assert seen[0][0] > before[0] and seen[0][2] > before[2]  # the older generations wait
    assert gc.get_threshold() == before  # restored, after a refusal too
