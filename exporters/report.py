"""The PDF report of an access bundle (GDPR Art. 15), in the subject's language.

Order: a cover letter; contents with page numbers; a summary (and, when a source system could
not be searched, a notice that the answer is incomplete); the Art. 15(1)(a)-(h) and 15(2)
information, first what is the same for every category (controller, laws, transfers, automated
decisions) once, then per category held only what differs (purposes, legal bases and Art. 9(2)
conditions, source, recipients and their conditions, retention); the categories not held, with
the reason; the subject's rights and the supervisory authority; then the data itself, one table
per category.

The tables show the first DSAR_REPORT_MAX_ROWS (200) records of a category (read from its
stream, which is then only counted to its end, or handed over by the bundle as it reads them
for the data files: see CategoryReader) and point to
the files of the bundle that hold all of them. WeasyPrint lays out about 1,000-2,000 table cells
a second here and keeps some 40 KB per cell until the PDF is written, so a report-wide budget,
DSAR_REPORT_MAX_CELLS (3,000), shares the cells fairly between the categories: a report keeps to
a few seconds and a bounded memory however much data there is. Values longer than
DSAR_REPORT_MAX_CHARS (300) are cut with an ellipsis, in the PDF only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from exporters.base import BaseExporter
from exporters.context import (
    REDACTED,
    BundleFacts,
    CategoryInfo,
    RecordsByCategory,
    SourceIndex,
    SourceTables,
    SystemInfo,
    controller_zone,
    is_binary_summary,
    normalise_record,
    source_text,
)
from exporters.pdf import html_to_pdf, page_css
from exporters.values import as_datetime, format_date, format_datetime, format_value

DEFAULT_MAX_ROWS = 200
DEFAULT_MAX_CHARS = 300
DEFAULT_MAX_CELLS = 3000
# Tables wider than this are laid out on landscape pages.
WIDE_COLUMNS = 6
# About how many characters of the tables' type fit on one line of a page.
PORTRAIT_LINE_CHARS = 120
LANDSCAPE_LINE_CHARS = 180
# A column's width follows the length of its values (in characters): at least its longest word
# up to COLUMN_WORD_CHARS, at least COLUMN_MIN_CHARS, and more for long values up to the cap.
COLUMN_MIN_CHARS = 6
COLUMN_WORD_CHARS = 24
COLUMN_CAP_CHARS = 60


def max_rows() -> int:
    return int(getattr(settings, "DSAR_REPORT_MAX_ROWS", DEFAULT_MAX_ROWS))


@dataclass
class Cell:
    text: str
    longest_word: int = 0
    wrap: bool = False  # a word too long for its column: break it anywhere
    timed: bool = False  # a time, whose zone the column's header names


@dataclass
class DataTable:
    """The first records of one source (a system's table, endpoint or file) in one category,
    ready to print, and how many there are."""

    category: CategoryInfo
    system: str = ""  # as the register names it
    place: str = ""  # the table, endpoint or file within the system, readable
    rows: list[dict[str, Cell]] = field(default_factory=list)
    total: int = 0
    files: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # column -> header
    columns: list[tuple[str, str]] = field(default_factory=list)  # (column, header)
    # Columns holding times: their header names the time zone, once, not every cell.
    timed: set[str] = field(default_factory=set)
    zone: str = ""
    # Printed on landscape pages: the data chapter is, when any of its tables is wide.
    landscape: bool = False

    @property
    def shown(self) -> int:
        return len(self.rows)

    @property
    def partial(self) -> bool:
        return self.total > self.shown

    @property
    def width(self) -> int:
        return len(self.columns)

    @property
    def wide(self) -> bool:
        return self.width > WIDE_COLUMNS

    def finish(self) -> None:
        """The columns of the rows kept: every field seen, in the order first seen."""
        keys: dict[str, None] = {}
        for row in self.rows:
            keys.update(dict.fromkeys(row))
        self.columns = [(key, self.header(key)) for key in keys]

    def header(self, key: str) -> str:
        label = self.labels.get(key) or readable(key)
        return f"{label} ({self.zone})" if key in self.timed and self.zone else label

    def column_shares(self) -> list[float]:
        """Each column's share of the table's width, from what it holds. First every column
        gets room for its longest word (a value's or the header's, up to COLUMN_WORD_CHARS), so
        that short values and headers are not broken; what is left of the line goes to the
        columns whose values are longer on average (up to COLUMN_CAP_CHARS each). A long text
        gets room and an empty column little, so values wrap onto fewer lines: fewer pages, and
        less for WeasyPrint to lay out."""
        # Characters of a line, a little fewer than PORTRAIT/LANDSCAPE_LINE_CHARS: digits and
        # capitals are wider than the average, headers are bold, and each cell has padding.
        line = (LANDSCAPE_LINE_CHARS if self.landscape else PORTRAIT_LINE_CHARS) * 0.85
        needs, wants = [], []
        for key, label in self.columns:
            cells = [row[key] for row in self.rows if key in row]
            mean = sum(len(cell.text) for cell in cells) / len(cells) if cells else 0
            word = max([c.longest_word for c in cells] + [len(w) for w in label.split()])
            need = max(min(word, COLUMN_WORD_CHARS) + 2, COLUMN_MIN_CHARS)
            needs.append(need)
            wants.append(max(need, min(mean + 2, COLUMN_CAP_CHARS)))
        if sum(wants) <= line or sum(needs) >= line:
            weights = wants if sum(wants) <= line else needs
        else:
            room = (line - sum(needs)) / sum(w - n for w, n in zip(wants, needs, strict=True))
            weights = [n + (w - n) * room for w, n in zip(wants, needs, strict=True)]
        total = sum(weights) or 1
        return [weight / total for weight in weights]

    def column_widths(self) -> list[str]:
        """The columns' widths for the table's <col> elements, as CSS percentages."""
        return [f"{share * 100:.2f}%" for share in self.column_shares()]

    def table_rows(self) -> list[list[Cell]]:
        """The rows to print; cells with a word longer than their column may break it anywhere
        (overflow-wrap costs layout time, so only where needed)."""
        empty = Cell("")
        line = LANDSCAPE_LINE_CHARS if self.landscape else PORTRAIT_LINE_CHARS
        fits = [max(int(line * share * 0.85) - 1, 4) for share in self.column_shares()]
        rows = []
        for row in self.rows:
            cells = [row.get(key, empty) for key, _label in self.columns]
            for cell, room in zip(cells, fits, strict=True):
                cell.wrap = cell.longest_word > room
            rows.append(cells)
        return rows


@dataclass
class CategoryData:
    """The tables of one held category: one per source its records came from."""

    category: CategoryInfo
    tables: list[DataTable] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # Some value was withheld because it is about another person (Art. 15(4)).
    other_people_left_out: bool = False

    @property
    def total(self) -> int:
        return sum(t.total for t in self.tables)

    @property
    def shown(self) -> int:
        return sum(t.shown for t in self.tables)

    @property
    def partial(self) -> bool:
        return any(t.partial for t in self.tables)

    @property
    def wide(self) -> bool:
        return any(t.wide for t in self.tables)


def readable(name: str) -> str:
    """A source's own name for a column or table, as a last resort made readable
    ("emergency_contact_phone" -> "Emergency contact phone")."""
    text = " ".join(name.replace("_", " ").split())
    return text[:1].upper() + text[1:]


def readable_place(place: str) -> str:
    """Where in its system a record was, for people: an endpoint's last fixed path segment
    ("/api/customers/{subject_key}/tickets" -> "tickets"), a table's name in words, a file's
    name as it is."""
    if "/" in place or "{" in place:
        segments = [s for s in place.split("?")[0].split("/") if s and "{" not in s]
        place = segments[-1] if segments else ""
    if "." in place:  # a file
        return place
    return " ".join(place.replace("_", " ").split())


# The grounds a reviewer gives for withholding a value (casework's RecordDecision.Reason).
def withheld_text(reason: str) -> str:
    grounds = {
        "other_person": _("another person's data (Art. 15(4) GDPR)"),
        "legal_privilege": _("legal professional privilege (Art. 23 GDPR)"),
        "trade_secret": _("trade secrets or intellectual property (Art. 15(4) GDPR)"),
        "other_exemption": _("an exemption under the law (Art. 23 GDPR)"),
        "not_subject": _("not about you"),
    }
    ground = grounds.get(reason)
    if ground is None:
        return _("[withheld]")
    return _("[withheld: %(ground)s]") % {"ground": ground}


def display_text(value: Any, max_chars: int) -> str:
    """How a (normalised) value reads in the report, when `values` has no format for it."""
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


def text_cell(text: str, *, timed: bool = False) -> Cell:
    return Cell(text, longest_word=max(map(len, text.split()), default=0), timed=timed)


class Presenter:
    """Turns records into table rows for one report: which system and table a record's source
    names, the headers of its columns, and its values as people read them. Label maps are
    looked up once per source, never per record."""

    def __init__(self, facts: BundleFacts | None, *, max_chars: int):
        self.zone = controller_zone(facts.time_zone if facts else "")
        self.max_chars = max_chars
        self.index = SourceIndex(facts)

    def place(self, source: str) -> tuple[str, str, SystemInfo | None]:
        """(system name, place within it as the mapping names it, the system's info)."""
        return self.index.place(source)

    def columns(
        self, category: CategoryInfo, system: SystemInfo | None, place: str, keys
    ) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, currencies) of a source's columns."""
        labels, currencies = {}, {}
        for key in keys:
            info = system.column(place, key) if system is not None else None
            if info is not None and info.currency:
                currencies[key] = info.currency
            if info is not None and info.label:
                labels[key] = info.label
            elif key in category.field_labels:
                labels[key] = category.field_labels[key]
        return labels, currencies

    def cell(self, value: Any, currency: str = "") -> Cell:
        if not currency and type(value) is str:
            when = as_datetime(value)
            if isinstance(when, dt.datetime):
                # Every time in the controller's zone, named once in the column's header: a
                # row of times then fits on a line.
                return text_cell(format_datetime(when, self.zone, zone_named=False), timed=True)
            if when is not None:
                return text_cell(format_date(when))
        text = format_value(value, self.zone, currency=currency)
        if text is None:
            return display_cell(value, self.max_chars)
        return text_cell(text)


class CategoryReader:
    """Reads one category's records, one at a time (`add`), into its report tables: one per
    source, each keeping its first `limit` records (as display text) and counting the rest
    without keeping them, and naming the bundle's files of its source table (those of
    `exporters` that hold records). The bundle feeds it from the pass in which it counts a
    category's source tables, so that the report does not read the records once more."""

    def __init__(
        self,
        category: CategoryInfo,
        *,
        limit: int,
        max_chars: int,
        exporters: Sequence[BaseExporter] = (),
        facts: BundleFacts | None = None,
    ):
        self.category = category
        self.limit = limit
        self.exporters = [e for e in exporters if e.holds_records]
        self.presenter = Presenter(facts, max_chars=max_chars)
        self.source_tables = SourceTables(self.presenter.index, category.slug)
        self.data = CategoryData(category=category)
        self.tables: dict[str, DataTable] = {}
        self.currencies: dict[str, dict[str, str]] = {}

    def add(self, raw: Mapping[str, Any]) -> None:
        category, presenter, data = self.category, self.presenter, self.data
        source = source_text(raw.get("source"))
        table = self.tables.get(source)
        if table is None:
            system, place, info = presenter.place(source)
            in_bundle = self.source_tables.table(source)
            files = [e.filename(category, in_bundle) for e in self.exporters]
            shown = (info.place_label(place) if info else "") or readable_place(place)
            table = self.tables[source] = DataTable(
                category=category, system=system, place=shown, files=files, zone=presenter.zone.key
            )
            data.files.extend(name for name in files if name not in data.files)
        table.total += 1
        if table.shown >= self.limit:
            return
        record = normalise_record(raw)
        _system, place, info = presenter.place(source)
        new = [key for key in record["data"] if key not in table.labels]
        if new:
            labels, money = presenter.columns(category, info, place, new)
            table.labels.update({key: labels.get(key, "") for key in new})
            self.currencies.setdefault(source, {}).update(money)
        money = self.currencies.get(source, {})
        withheld = raw.get("withheld") or {}
        row = {}
        for key, value in record["data"].items():
            if key in withheld and value == REDACTED:
                row[key] = text_cell(withheld_text(str(withheld[key])))
                if withheld[key] == "other_person":
                    data.other_people_left_out = True
            else:
                cell = row[key] = presenter.cell(value, money.get(key, ""))
                if cell.timed:
                    table.timed.add(key)
        table.rows.append(row)

    def finish(self) -> CategoryData:
        self.data.tables = list(self.tables.values())
        for table in self.data.tables:
            table.finish()
        return self.data


def category_reader(
    category: CategoryInfo,
    facts: BundleFacts | None,
    *,
    exporters: Sequence[BaseExporter] = (),
    limit: int | None = None,
) -> CategoryReader:
    """A reader with the report's limits from settings (DSAR_REPORT_MAX_ROWS, _MAX_CHARS)."""
    return CategoryReader(
        category,
        limit=max_rows() if limit is None else limit,
        max_chars=int(getattr(settings, "DSAR_REPORT_MAX_CHARS", DEFAULT_MAX_CHARS)),
        exporters=exporters,
        facts=facts,
    )


def read_table(
    category: CategoryInfo,
    records_by_category: RecordsByCategory,
    *,
    limit: int,
    max_chars: int,
    exporters: Sequence[BaseExporter] = (),
    facts: BundleFacts | None = None,
) -> CategoryData:
    """The report tables of one category (see CategoryReader), from a stream of its records
    read to its end: a source whose records come last still gets its table."""
    reader = CategoryReader(
        category, limit=limit, max_chars=max_chars, exporters=exporters, facts=facts
    )
    stream = iter(records_by_category(category.slug))
    try:
        for raw in stream:
            reader.add(raw)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # a generator over a database cursor lets it go now
    return reader.finish()


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
        del table.rows[rows:]
        table.finish()


def origin_text(category: CategoryInfo) -> str:
    return {
        "provided": _("You gave it to us."),
        "observed": _("We collected it from your use of our websites, apps and services."),
        "inferred": _("We derived it from other data that we hold about you."),
        "third_party": _("We obtained it from other sources, not from you."),
    }[category.origin]


def shared_items(lists: Sequence[Sequence[str]]) -> list[str]:
    """What every category that has any recipients (or transfers) shares, in the first one's
    order: stated once at the head of chapter 2 (it was repeated on every category's page),
    while a category's own section names only what differs. Nothing is shared unless two
    categories at least have some."""
    filled = [items for items in lists if items]
    if len(filled) < 2:
        return []
    return [item for item in filled[0] if all(item in other for other in filled[1:])]


@dataclass(frozen=True)
class Stated:
    """How a category's section states its recipients or transfers beside the shared ones:
    `mode` "" says nothing (they are the shared ones), "none" says there are none, "also"
    lists what it has besides the shared ones, "own" lists all of its own (nothing shared)."""

    mode: str
    items: tuple[str, ...] = ()


def stated(items: Sequence[str], shared: Sequence[str], *, any_held: bool) -> Stated:
    """`any_held`: some category has such items (else a category need not say it has none)."""
    if shared:
        if set(items) == set(shared):
            return Stated("")
        if not items:
            return Stated("none")
        return Stated("also", tuple(item for item in items if item not in shared))
    if items:
        return Stated("own", tuple(items))
    return Stated("none") if any_held else Stated("")


def report_tables(
    facts: BundleFacts,
    records_by_category: RecordsByCategory,
    *,
    exporters: Sequence[BaseExporter] = (),
    limit: int | None = None,
    counts: Mapping[str, int] | None = None,
    read: Mapping[str, CategoryData] | None = None,
) -> list[CategoryData]:
    """The tables of every held category. With `counts` (records per slug, known by a caller
    that has written the data files already) a category known to be empty is not read; with
    `read` (tables per slug, read by the caller's CategoryReader) neither is a category there."""
    max_chars = int(getattr(settings, "DSAR_REPORT_MAX_CHARS", DEFAULT_MAX_CHARS))
    budget = int(getattr(settings, "DSAR_REPORT_MAX_CELLS", DEFAULT_MAX_CELLS))
    limit = max_rows() if limit is None else limit
    held = []
    for category in facts.categories:
        if not category.held:
            continue
        if facts.register_only:
            held.append(CategoryData(category=category))  # described, never read
            continue
        if read is not None and category.slug in read:
            held.append(read[category.slug])
            continue
        if counts is not None and counts.get(category.slug) == 0:
            held.append(CategoryData(category=category))
            continue
        held.append(
            read_table(
                category,
                records_by_category,
                limit=limit,
                max_chars=max_chars,
                exporters=exporters,
                facts=facts,
            )
        )
    share_cells([table for data in held for table in data.tables], budget)
    return held


def report_html(
    facts: BundleFacts,
    records_by_category: RecordsByCategory,
    *,
    exporters: Sequence[BaseExporter] | None = None,
    limit: int | None = None,
    counts: Mapping[str, int] | None = None,
    read: Mapping[str, CategoryData] | None = None,
) -> tuple[str, dict[str, int]]:
    """The report's HTML (autoescaped) and the record count of every held category."""
    if exporters is None:
        from exporters.registry import exporters_for

        exporters = exporters_for(facts.request_type)
    with translation.override(facts.language), timezone.override(controller_zone(facts.time_zone)):
        # Tables before the page: chapter 2 says where another person's data was left out.
        tables = report_tables(
            facts, records_by_category, exporters=exporters, limit=limit, counts=counts, read=read
        )
        if facts.register_only:
            title = _("Your personal data: the categories we process and how we use them")
        elif facts.request_type == "access":
            title = _("Your personal data: access report")
        else:
            title = _("Your personal data: portability report")
        categories = [t.category for t in tables]
        transfers = shared_items([c.transfers for c in categories])
        recipients = shared_items([c.recipients for c in categories])
        any_transfers = any(c.transfers for c in categories)
        held = [
            {
                "info": t.category,
                "data": t,
                "origin": origin_text(t.category),
                "transfers": stated(t.category.transfers, transfers, any_held=any_transfers),
                # Without shared recipients every section says who receives its data, or that
                # nobody outside the company does (as it always did).
                "recipients": stated(t.category.recipients, recipients, any_held=True),
            }
            for t in tables
        ]
        with_data = [] if facts.register_only else [t for t in tables if t.total]
        landscape = any(c.wide for c in with_data)
        for table in (t for c in with_data for t in c.tables):
            table.landscape = landscape
        context = {
            "facts": facts,
            "title": title,
            "page_css": page_css(facts.controller_name, facts.reference, title),
            "generated_at": timezone.localtime(facts.generated_at),
            "held": held,
            "with_data": with_data,
            "landscape": landscape,
            "not_held": [c for c in facts.categories if not c.held],
            "total_records": sum(t.total for t in tables),
            "common_transfers": transfers,
            "transfers_differ": any(c["transfers"].mode for c in held),
            "common_recipients": recipients,
            "recipients_differ": any(c["recipients"].mode for c in held),
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
    read: Mapping[str, CategoryData] | None = None,
) -> bytes:
    """The report as PDF bytes. `exporters` name the bundle's data files (default: those of
    DSAR_EXPORTERS for the request type); `limit` overrides DSAR_REPORT_MAX_ROWS; `counts`
    (records per category slug, when the data files have counted them already) spares
    reading each category past the rows the report shows; `read` (a category's tables read by
    the caller, see CategoryReader) spares reading it at all."""
    html, _counted = report_html(
        facts, records_by_category, exporters=exporters, limit=limit, counts=counts, read=read
    )
    return html_to_pdf(html)
