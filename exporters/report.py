"""The PDF report of an access bundle (GDPR Art. 15), in the subject's language.

Order: a cover letter; contents with page numbers; a summary (and, when a source system could
not be searched, a notice that the answer is incomplete); for every category held, the Art.
15(1)(a)-(h) and 15(2) information; the categories not held, with the reason; the subject's
rights; then the data itself, one table per category.

The tables show the first DSAR_REPORT_MAX_ROWS (200) records of a category (read from its
stream, which is then only counted to its end, unless the caller knows the count) and point to
the files of the bundle that hold all of them. WeasyPrint lays out about 1,000-2,000 table cells
a second here and keeps some 40 KB per cell until the PDF is written, so a report-wide budget,
DSAR_REPORT_MAX_CELLS (3,000), shares the cells fairly between the categories: a report keeps to
a few seconds and a bounded memory however much data there is. Values longer than
DSAR_REPORT_MAX_CHARS (300) are cut with an ellipsis, in the PDF only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from exporters.base import BaseExporter
from exporters.context import (
    BundleFacts,
    CategoryInfo,
    RecordsByCategory,
    controller_zone,
    is_binary_summary,
    normalise_record,
)
from exporters.pdf import html_to_pdf, page_css

DEFAULT_MAX_ROWS = 200
DEFAULT_MAX_CHARS = 300
DEFAULT_MAX_CELLS = 3000
# Tables wider than this are laid out on landscape pages.
WIDE_COLUMNS = 6
# About how many characters of the tables' type fit on one line of a page.
PORTRAIT_LINE_CHARS = 120
LANDSCAPE_LINE_CHARS = 180


def max_rows() -> int:
    return int(getattr(settings, "DSAR_REPORT_MAX_ROWS", DEFAULT_MAX_ROWS))


@dataclass
class Cell:
    text: str
    longest_word: int = 0
    wrap: bool = False  # a word too long for its column: break it anywhere


@dataclass
class DataTable:
    """The first records of one category, ready to print, and how many there are."""

    category: CategoryInfo
    rows: list[dict[str, Cell]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # per row
    total: int = 0
    files: list[str] = field(default_factory=list)
    columns: list[tuple[str, str]] = field(default_factory=list)  # (key, label)

    @property
    def shown(self) -> int:
        return len(self.rows)

    @property
    def partial(self) -> bool:
        return self.total > self.shown

    @property
    def single_source(self) -> str:
        """The source of every row shown, when it is one (then it is said once, above)."""
        if not self.columns or len(set(self.sources)) != 1:
            return ""
        return self.sources[0]

    @property
    def width(self) -> int:
        return len(self.columns) + (0 if self.single_source else 1)

    @property
    def wide(self) -> bool:
        return self.width > WIDE_COLUMNS

    def finish(self) -> None:
        """The columns of the rows kept: every field seen, in the order first seen."""
        keys: dict[str, None] = {}
        for row in self.rows:
            keys.update(dict.fromkeys(row))
        labels = self.category.field_labels
        self.columns = [(key, labels.get(key, key)) for key in keys]

    def table_rows(self) -> list[list[Cell]]:
        """The rows to print; cells with a word longer than their column may break it anywhere
        (overflow-wrap costs layout time, so only where needed)."""
        empty = Cell("")
        with_source = not self.single_source
        line = LANDSCAPE_LINE_CHARS if self.wide else PORTRAIT_LINE_CHARS
        fits = max(int(line / max(self.width, 1) * 0.85) - 1, 4)
        rows = []
        for row, source in zip(self.rows, self.sources, strict=True):
            cells = [display_cell(source, len(source))] if with_source else []
            cells += [row.get(key, empty) for key, _label in self.columns]
            for cell in cells:
                cell.wrap = cell.longest_word > fits
            rows.append(cells)
        return rows


def display_text(value: Any, max_chars: int) -> str:
    """How a (normalised) value reads in the report."""
    if value is None:
        return ""
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if isinstance(value, int | float):
        return str(value)
    if is_binary_summary(value):
        return _("[binary content: %(size)s bytes, SHA-256 %(hash)s…]") % {
            "size": value["binary"],
            "hash": value["sha256"][:12],
        }
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) > max_chars:
        text = text[:max_chars].rstrip() + "…"
    return text


def display_cell(value: Any, max_chars: int) -> Cell:
    text = display_text(value, max_chars)
    return Cell(text, longest_word=max(map(len, text.split()), default=0))


def read_table(
    category: CategoryInfo,
    records_by_category: RecordsByCategory,
    *,
    limit: int,
    max_chars: int,
    files: Sequence[str] = (),
    total: int | None = None,
) -> DataTable:
    """Keep the first `limit` records (as display text); count the rest without keeping them,
    or, when the caller knows the `total` already, stop reading after the first `limit`."""
    table = DataTable(category=category, files=list(files))
    stream = iter(records_by_category(category.slug))
    try:
        for raw in islice(stream, limit):
            record = normalise_record(raw)
            table.rows.append({k: display_cell(v, max_chars) for k, v in record["data"].items()})
            table.sources.append(record["source"])
        table.total = len(table.rows) + (sum(1 for _ in stream) if total is None else 0)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # a generator over a database cursor lets it go now
    if total is not None:
        table.total = max(total, table.total)
    table.finish()
    return table


def share_cells(tables: list[DataTable], budget: int) -> None:
    """Trim the tables to at most `budget` cells in all, fairly: every table keeps up to the same
    number of rows r, the largest r that fits (small tables keep all theirs)."""

    def cost(r: int) -> int:
        return sum(min(t.shown, r) * max(t.width, 1) for t in tables)

    longest = max((t.shown for t in tables), default=0)
    if cost(longest) <= budget:
        return
    low, high = 0, longest
    while low < high:
        middle = (low + high + 1) // 2
        if cost(middle) <= budget:
            low = middle
        else:
            high = middle - 1
    rows = max(low, 1)  # every table shows at least its first record
    for table in tables:
        del table.rows[rows:], table.sources[rows:]
        table.finish()


def origin_text(category: CategoryInfo) -> str:
    return {
        "provided": _("You gave it to us."),
        "observed": _("We collected it from your use of our websites, apps and services."),
        "inferred": _("We derived it from other data that we hold about you."),
        "third_party": _("We obtained it from other sources, not from you."),
    }[category.origin]


def report_tables(
    facts: BundleFacts,
    records_by_category: RecordsByCategory,
    *,
    exporters: Sequence[BaseExporter] = (),
    limit: int | None = None,
    counts: Mapping[str, int] | None = None,
) -> list[DataTable]:
    """A table for every held category. With `counts` (records per slug, known by a caller
    that has written the data files already) a category is read only up to `limit` records."""
    max_chars = int(getattr(settings, "DSAR_REPORT_MAX_CHARS", DEFAULT_MAX_CHARS))
    budget = int(getattr(settings, "DSAR_REPORT_MAX_CELLS", DEFAULT_MAX_CELLS))
    limit = max_rows() if limit is None else limit
    tables = []
    for category in facts.categories:
        if not category.held:
            continue
        total = None if counts is None else counts.get(category.slug)
        files = [e.filename(category) for e in exporters if e.holds_records] if total != 0 else []
        if total == 0:
            tables.append(DataTable(category=category))
            continue
        tables.append(
            read_table(
                category,
                records_by_category,
                limit=limit,
                max_chars=max_chars,
                files=files,
                total=total,
            )
        )
    share_cells(tables, budget)
    return tables


def report_html(
    facts: BundleFacts,
    records_by_category: RecordsByCategory,
    *,
    exporters: Sequence[BaseExporter] | None = None,
    limit: int | None = None,
    counts: Mapping[str, int] | None = None,
) -> tuple[str, dict[str, int]]:
    """The report's HTML (autoescaped) and the record count of every held category."""
    if exporters is None:
        from exporters.registry import exporters_for

        exporters = exporters_for(facts.request_type)
    with translation.override(facts.language), timezone.override(controller_zone(facts.time_zone)):
        tables = report_tables(
            facts, records_by_category, exporters=exporters, limit=limit, counts=counts
        )
        title = (
            _("Your personal data: access report")
            if facts.request_type == "access"
            else _("Your personal data: portability report")
        )
        held = [{"info": t.category, "table": t, "origin": origin_text(t.category)} for t in tables]
        context = {
            "facts": facts,
            "title": title,
            "page_css": page_css(facts.controller_name, facts.reference, title),
            "generated_at": timezone.localtime(facts.generated_at),
            "held": held,
            "with_data": [t for t in tables if t.total],
            "not_held": [c for c in facts.categories if not c.held],
            "total_records": sum(t.total for t in tables),
        }
        html = render_to_string("exporters/report.html", context)
    return html, {t.category.slug: t.total for t in tables}


def render_report(
    facts: BundleFacts,
    records_by_category: RecordsByCategory,
    *,
    exporters: Sequence[BaseExporter] | None = None,
    limit: int | None = None,
    counts: Mapping[str, int] | None = None,
) -> bytes:
    """The report as PDF bytes. `exporters` name the bundle's data files (default: those of
    DSAR_EXPORTERS for the request type); `limit` overrides DSAR_REPORT_MAX_ROWS; `counts`
    (records per category slug, when the data files have counted them already) spares
    reading each category past the rows the report shows."""
    html, _counted = report_html(
        facts, records_by_category, exporters=exporters, limit=limit, counts=counts
    )
    return html_to_pdf(html)
