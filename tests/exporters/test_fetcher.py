"""Safe rendering: the PDF fetches our own static files and nothing else."""

from __future__ import annotations

import pytest

from exporters.pdf import (
    BASE_URL,
    STATIC_ROOT,
    RefusedURL,
    StaticOnlyFetcher,
    UnsafeResource,
    css_string,
    html_to_pdf,
)
from exporters.report import render_report, report_html

from .conftest import IMG, flat, make_facts, pdf_pages, records_from


def test_it_serves_our_stylesheet():
    response = StaticOnlyFetcher().fetch(BASE_URL + "report.css")
    assert response.content_type == "text/css"
    assert b"@page" in response.read()


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        "file://otherhost" + str(STATIC_ROOT / "exporters" / "report.css"),
        BASE_URL + "../../apps.py",  # out of the static folder
        BASE_URL + "%2e%2e/%2e%2e/apps.py",
        BASE_URL + "no-such-file.css",
        (STATIC_ROOT / "exporters").as_uri(),  # a folder
        "http://127.0.0.1:8000/static/exporters/report.css",
        "https://example.com/x.png",
        "ftp://example.com/x.png",
        "data:text/css,body{color:red}",
        "data:image/png;base64,iVBORw0KGgo=",
    ],
)
def test_it_refuses_everything_else(url):
    with pytest.raises(RefusedURL):
        StaticOnlyFetcher().fetch(url)


def test_it_serves_data_urls_we_embed_ourselves_only():
    ours = "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'/>"
    fetcher = StaticOnlyFetcher(embedded={ours: (b"<svg/>", "image/svg+xml")})
    assert fetcher.fetch(ours).read() == b"<svg/>"
    with pytest.raises(RefusedURL):
        fetcher.fetch("data:image/svg+xml,<svg/>")


@pytest.mark.parametrize(
    "markup",
    [
        '<img src="file:///etc/passwd">',
        '<img src="http://127.0.0.1:1/tracker.png">',
        '<link rel="stylesheet" href="file:///etc/passwd">',
        "<style>@import url(https://example.com/x.css);</style>",
        "<div style=\"background: url('file:///etc/shadow')\">x</div>",
    ],
)
def test_rendering_stops_at_a_refused_resource(markup):
    with pytest.raises(UnsafeResource):
        html_to_pdf(f'<html><head><link rel="stylesheet" href="report.css"></head>{markup}</html>')


def test_an_injected_image_in_a_value_is_printed_as_text_and_never_loaded():
    records = {
        "online_account": [
            {"source": "crm", "key": "1", "found_by": "email", "data": {"note": IMG}}
        ]
    }
    html, _counts = report_html(make_facts("en"), records_from(records))
    assert "<img" not in html
    pdf = render_report(make_facts("en"), records_from(records))  # renders: nothing to fetch
    assert "".join(IMG.split()) in "".join(flat("\n".join(pdf_pages(pdf))).split())


@pytest.mark.parametrize(
    "text",
    [
        '"; } body { display: none } @page { content: "',
        "</style><script>x</script>",
        "a\\b\nc",
        "Të dhënat 😀 ",
    ],
)
def test_texts_in_the_page_css_cannot_break_out(text):
    literal = css_string(text)
    assert literal.startswith('"') and literal.endswith('"')
    inner = literal[1:-1]
    assert '"' not in inner and "<" not in inner and "\n" not in inner and ";" not in inner
    facts = make_facts("en")
    html_to_pdf(  # still a valid document
        f"<html><head><style>@page {{ @top-center {{ content: {literal} }} }}</style></head>"
        f"<body>{facts.reference}</body></html>"
    )
