"""The demo source systems of the privacy statement, as real stores with realistic data
(`python manage.py load_demo`).

Five systems, each a real store that its connector reads, and each knowing people by different
identifiers, so that finding one person everywhere needs the identity graph:

| system      | store                                       | knows people by               |
| ----------- | ------------------------------------------- | ----------------------------- |
| crm         | SQL database (dsar/data/demo/crm.yaml)      | e-mail, phone, customer       |
|             |                                             | number, name + company        |
| repairs     | another SQL database (repairs.yaml)         | customer number only          |
| supportdesk | the HTTP desk (dsar/demo/supportdesk.py)    | phone; e-mail for some        |
| events      | CSV attendee lists (events.yaml)            | name + company; rarely e-mail |
| prospects   | CSV purchased lists (prospects.yaml)        | e-mail, name + company        |

Arta Krasniqi (`ARTA`) is in every system but prospects, under different identifiers: her
e-mail finds the CRM, which teaches her customer number (repairs), phone (support desk) and
name + company (attendee lists). The company switchboard `SWITCHBOARD_PHONE` belongs to two
support-desk customers, so a search by it is ambiguous there.

Where the data lives: when the default database is PostgreSQL, two databases on the same server,
`<default name>_demo_crm` and `<default name>_demo_repairs`, filled with COPY from generators
(one COPY stream per table, so nothing is held whole in memory; keys and indexes are made after
loading, then ANALYZE). Otherwise SQLite files `<VAR_DIR>/demo/crm.sqlite3` and
`repairs.sqlite3` (built beside, then moved into place). The support desk is always the SQLite
file `<VAR_DIR>/demo/supportdesk.sqlite3`; the lists are CSV files in `<VAR_DIR>/demo/events/`
and `<VAR_DIR>/demo/prospects/`.

The SQL systems' configuration names the mapping file and the database URL inline (without a
password). When the default database has a password, the URL goes in an environment variable
instead (`DSAR_DEMO_CRM_URL`, `DSAR_DEMO_REPAIRS_URL`) that the configuration names in
`url_env`: set it, with the password, wherever the connectors run. The support desk and the
lists carry their file's configuration inline, with this installation's port or folder (their
keys could stay in `mapping_file`, which every connector reads, but the inline copy shows the
actual address or folder in the admin).

Scale: about 15 rows a subject over all systems, unevenly (a few people have hundreds of web
events); `heavy` adds benchmark subjects with a given number of web events. On PostgreSQL,
100,000 subjects load in about 15 s and 1,000,000 in about two minutes on two cores.

Loading is idempotent: a complete demo (its marker, written last) is left as it is unless
`reset` is asked for; an incomplete one is rebuilt. The data is generated from the seed alone
(the same seed, the same demo).
"""

from __future__ import annotations

import calendar
import csv
import os
import random
import re
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.db import connections

from dsar.connectors.mapping import read_mapping_file
from dsar.connectors.sql import parse_mapping
from dsar.demo import supportdesk
from dsar.models import DataCategory, Recipient, SourceSystem

# Raised when the schema changes: a demo loaded by an earlier version is built again.
DEMO_VERSION = "2"  # 2: restriction flags, repair status, the suppression list's address
MAPPINGS = "dsar/data/demo"  # relative to settings.BASE_DIR, as mapping files are read
DEFAULT_SUPPORTDESK_PORT = 8765
URL_ENV = {"crm": "DSAR_DEMO_CRM_URL", "repairs": "DSAR_DEMO_REPAIRS_URL"}
BATCH = 5000  # rows per executemany on SQLite

# The demo's clock: data is dated up to here, whatever day it is loaded (same seed, same demo).
START = 1514764800  # 2018-01-01
END = 1759190400  # 2025-09-30
DAY = 86400


# --- the fixed persona ------------------------------------------------------------------------


@dataclass(frozen=True)
class Persona:
    full_name: str
    email: str
    customer_no: str
    phone: str  # normalised, as the CRM stores it
    desk_phone: str  # as the support desk has it written
    company: str
    position: str
    city: str
    address: str


ARTA = Persona(
    full_name="Arta Krasniqi",
    email="arta.krasniqi@demo.example",
    customer_no="C-100042",
    phone="+355692004242",
    desk_phone="+355 69 200 4242",
    company="Drini Print Sh.p.k.",
    position="Office manager",
    city="Shkodër",
    address="Rruga Kolë Idromeno 14",
)
SWITCHBOARD_PHONE = "+35542220000"
SWITCHBOARD_COMPANY = "Teuta Office Sh.p.k."


# --- names, places and things -----------------------------------------------------------------

# Faker has no Albanian locale: common Albanian given names and surnames.
ALBANIAN_FIRST_NAMES = (
    "Arben", "Arta", "Besa", "Besnik", "Blerina", "Blendi", "Bledar", "Dorina", "Dritan",
    "Drilon", "Edmond", "Elira", "Elona", "Enkeleda", "Erion", "Eriona", "Ermal", "Ervin",
    "Fatjon", "Fjoralba", "Florian", "Genta", "Gentian", "Gerta", "Gëzim", "Ilir", "Jeta",
    "Jonida", "Julian", "Klea", "Klodian", "Kristi", "Ledio", "Lindita", "Majlinda", "Marsela",
    "Mimoza", "Mirela", "Nertila", "Olsi", "Orjola", "Petrit", "Redon", "Rezarta", "Rudina",
    "Saimir", "Sara", "Shpëtim", "Sokol", "Taulant", "Teuta", "Valbona", "Vjosa", "Xhensila",
    "Albana", "Anila", "Dea", "Erisa", "Flutura", "Gjergj", "Hysen", "Ina", "Kujtim", "Lorena",
)  # fmt: skip
ALBANIAN_LAST_NAMES = (
    "Hoxha", "Shehu", "Krasniqi", "Gashi", "Berisha", "Kola", "Leka", "Dervishi", "Çela",
    "Basha", "Hysa", "Prifti", "Xhafa", "Marku", "Gjoka", "Kelmendi", "Rama", "Dushku", "Mema",
    "Bregu", "Lika", "Duka", "Meta", "Zeneli", "Ismaili", "Rexha", "Kuqi", "Shala", "Hasani",
    "Tafa", "Toska", "Deda", "Gjini", "Luli", "Bajrami", "Brahimi", "Kapllani", "Muça", "Qosja",
    "Sula", "Vata", "Xhaferi", "Zhupa", "Pllumbi", "Ndreu", "Hida", "Koçi", "Cani", "Dibra", "Lala",
)  # fmt: skip
CITIES = (
    ("Tiranë", 40), ("Durrës", 14), ("Vlorë", 8), ("Shkodër", 8), ("Elbasan", 7), ("Korçë", 6),
    ("Fier", 5), ("Berat", 3), ("Lushnjë", 2), ("Kavajë", 2), ("Pogradec", 2), ("Gjirokastër", 1),
    ("Sarandë", 1), ("Lezhë", 1),
)  # fmt: skip
STREETS = (
    "Rruga e Kavajës", "Bulevardi Dëshmorët e Kombit", "Rruga Myslym Shyri", "Rruga e Durrësit",
    "Rruga Ibrahim Rugova", "Bulevardi Zogu I", "Rruga Sami Frashëri", "Rruga Abdyl Frashëri",
    "Rruga Skënderbej", "Rruga Taulantia", "Rruga Tregtare", "Rruga Pjetër Bogdani",
    "Rruga Ismail Qemali", "Rruga Naim Frashëri", "Bulevardi Gjergj Fishta", "Rruga Dibrës",
    "Rruga Kolë Idromeno", "Rruga Elbasanit", "Rruga Aleksandër Moisiu", "Lagjja Pavarësia",
)  # fmt: skip
COMPANY_STEMS = (
    "Drini", "Teuta", "Alba", "Iliria", "Adriatik", "Arbëria", "Korabi", "Tomorri", "Dajti",
    "Butrinti", "Shkumbini", "Osumi", "Vjosa", "Egnatia", "Kruja", "Rozafa", "Valbona",
    "Shqiponja", "Jonian", "Lugina", "Bora", "Eurodent", "Agro", "Digital", "Nova", "Alpin",
)  # fmt: skip
COMPANY_KINDS = (
    "Print", "Office", "Studio", "Foto", "Consulting", "Logistics", "Dental", "Arkitekturë",
    "Media", "Trade", "Construction", "Tech", "Legal", "Design", "Pharma", "Travel", "Group",
    "Energy", "Invest", "Reklama", "Kontabilitet", "Hotel", "Shop",
)  # fmt: skip
POSITIONS = (
    "Office manager", "IT administrator", "Procurement officer", "Finance manager",
    "Photographer", "Graphic designer", "Operations director", "Managing director",
    "Print room supervisor", "Executive assistant", "Facilities coordinator", "Marketing lead",
    "Accountant", "Architect", "Studio owner", "Sales manager", "Logistics coordinator",
)  # fmt: skip
IP_PREFIXES = ("79.106", "80.78", "46.99", "31.22", "91.187", "185.18", "217.24", "5.181")
USER_AGENTS = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/128.0 Safari/537.36", "Windows 11", False),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:129.0) Gecko/20100101 Firefox/129.0",
     "Windows 10", False),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Safari/605.1.15", "macOS 14", False),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "iOS 17", False),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/128.0 Mobile Safari/537.36", "Android 14", False),
    ("CanonServicePortal/4.2 (Android 13; Pixel 7)", "Android 13", True),
    ("CanonServicePortal/4.2 (iOS 17.4; iPhone14,2)", "iOS 17", True),
)  # fmt: skip
PAGES = (
    "/", "/login", "/account", "/account/devices", "/account/orders", "/support",
    "/support/tickets/new", "/support/drivers", "/support/warranty-check", "/products/printers",
    "/products/printers/imagerunner-advance-dx-c3826i", "/products/cameras/eos-r6-mark-ii",
    "/products/large-format/imageprograf-pro-1000", "/products/scanners/imageformula-dr-c230",
    "/supplies/toner", "/supplies/paper", "/services/managed-print", "/events",
    "/events/tirana-print-summit", "/search", "/contact", "/cart", "/checkout",
)  # fmt: skip
SEARCH_TERMS = (
    "toner c-exv49", "driver windows 11", "paper jam tray 2", "warranty check", "eos r6 battery",
    "scan to email", "uniflow login", "a3 colour printer price", "error e000007", "firmware",
    "imageprograf ink", "service contract", "pixma wifi setup", "rf 24-70 repair",
)  # fmt: skip
COOKIES = (
    ("session", "strictly necessary: signed-in session"),
    ("lang", "preferences: language"),
    ("_ga", "analytics: visit statistics"),
    ("cmp_campaign", "marketing: campaign attribution"),
)
DEVICES = (  # model, serial prefix, price, licence product (or "")
    ("imageRUNNER ADVANCE DX C3826i", "XNB", 4890.0, "uniFLOW Online"),
    ("imageRUNNER ADVANCE DX C5850i", "XNC", 9350.0, "uniFLOW Online"),
    ("i-SENSYS MF465dw", "XMF", 520.0, ""),
    ("i-SENSYS LBP233dw", "XLB", 210.0, ""),
    ("imagePROGRAF PRO-1000", "AGP", 1290.0, ""),
    ("imagePROGRAF TM-300", "AGT", 3150.0, "Direct Print Plus"),
    ("imagePRESS V700", "VPR", 48200.0, "PRISMAsync"),
    ("EOS R6 Mark II", "CER", 2799.0, ""),
    ("EOS R5", "CEF", 3999.0, ""),
    ("RF 24-70mm F2.8L IS USM", "LRF", 2449.0, ""),
    ("PIXMA G650", "KPG", 289.0, ""),
    ("imageFORMULA DR-C230", "GDR", 449.0, "CaptureOnTouch Pro"),
)
SUPPLIES = (
    ("C-EXV49 toner, black", "8524B002", 59.0),
    ("C-EXV49 toner, cyan", "8525B002", 112.0),
    ("Copy paper A4 80 g, box of 5 reams", "PAP-A4-80", 24.5),
    ("Maintenance kit (pickup rollers)", "FM1-P096", 86.0),
    ("PFI-1000 ink, photo black", "0546C001", 69.0),
    ("LP-E6NH battery", "4132C002", 79.0),
    ("Staple cartridge J1", "6707A001", 31.0),
    ("Service contract, 12 months on-site", "SVC-12-ONSITE", 390.0),
    ("Photo paper Pro Luster A3+, 50 sheets", "6211B008", 64.0),
    ("Managed print: page bundle 10,000", "MPS-10K", 150.0),
)
ENQUIRIES = (
    ("Quote for an A3 colour printer", "We need a quote for {n} A3 colour devices for our office in {city}."),
    ("Toner delivery delayed", "Our toner order has not arrived yet; can you tell us when it ships?"),
    ("Call-back request: service contract", "Please call me back about extending the service contract for our {model}."),
    ("Question about warranty", "Is our {model} still under warranty? It was bought in {year}."),
    ("Invoice correction", "The invoice shows the wrong VAT number for our company; please correct it."),
    ("Demo request", "We would like a demonstration of the {model} at our premises."),
    ("Portal access", "I cannot log in to the service portal since the password reset."),
    ("Managed print services", "We print about {pages} pages a month; what would managed print cost?"),
)  # fmt: skip
ENQUIRY_CHANNELS = ("web form", "call-back form", "chat", "e-mail", "portal")
TICKETS = (
    ("Paper jam in tray 2", "The {model} jams on every second print from tray 2."),
    ("Scan to e-mail stopped working", "Since yesterday scans to e-mail fail with an SMTP error."),
    ("Streaks on colour prints", "Colour prints show light streaks on the left edge."),
    ("Driver for Windows 11", "We need the current driver for the {model} on Windows 11."),
    ("Error code on display", "The {model} shows error E000007-0001 after switching on."),
    ("Technician visit", "Please send a technician; the {model} does not feed paper at all."),
    ("Camera firmware update failed", "The firmware update stopped at 60% and the camera is stuck."),
    ("Billing question", "The meter reading on our last invoice looks too high."),
)  # fmt: skip
TICKET_CHANNELS = ("phone", "phone", "e-mail", "portal")
TICKET_STATUSES = (
    "closed",
    "closed",
    "closed",
    "closed",
    "resolved",
    "open",
    "waiting on customer",
)
AGENTS = ("Elona (L1)", "Gentian (L1)", "Marsela (L2)", "Klodian (L2)", "Rudina (field service)")
CALL_NOTES = (
    "Booked a technician visit for {date}.",
    "Customer asked about the repair status of the {model}.",
    "Walked the customer through clearing the paper path.",
    "Confirmed the meter reading for invoicing.",
    "Left a voicemail about the spare part arriving.",
    "Customer confirmed the device works again after the visit.",
)  # fmt: skip
FAULTS = (
    "Paper jam in tray 2 (E000007-0001)", "Streaks on colour prints", "Scanner unit not detected",
    "Fuser error E000", "Does not power on", "Sensor shows dead pixels", "Autofocus motor noise",
    "Wi-Fi module drops the connection", "Print head nozzle failure", "Shutter error Err 20",
)  # fmt: skip
RESOLUTIONS = (
    "Replaced the pickup roller; test prints OK", "Replaced the drum unit; test prints OK",
    "Firmware updated; fault cleared", "Replaced the fuser assembly", "Cleaned and calibrated",
    "Replaced the shutter unit", "No fault found; returned", "Replaced the main board",
    "Quote sent; customer declined the repair",
)  # fmt: skip
WARRANTY_COVERS = ("Standard, 1 year", "Standard, 2 years", "Extended, 3 years on-site")
SURVEYS = (
    ("Service satisfaction 2024", (
        ("How satisfied were you with the repair?", ("Very satisfied", "Satisfied", "Neutral", "Dissatisfied")),
        ("How likely are you to recommend us (0-10)?", ("10", "9", "8", "7", "6", "3")),
        ("How quickly was your problem solved?", ("Same day", "Within 2 days", "Within a week", "Longer")),
        ("What could we do better?", ("Faster delivery of spare parts", "Nothing, thank you",
                                      "Better updates by SMS", "Clearer invoices", "Longer opening hours")),
    )),
    ("Event feedback", (
        ("How useful was the event?", ("Very useful", "Useful", "Somewhat useful", "Not useful")),
        ("Which session did you like most?", ("Secure printing", "Managed print", "Photo workshop")),
        ("Would you attend again?", ("Yes", "Maybe", "No")),
    )),
    ("Product interest 2025", (
        ("Which products do you plan to buy next year?", ("Office printers", "Cameras", "Scanners", "None")),
        ("How many employees print in your office?", ("1-5", "6-20", "21-50", "More than 50")),
        ("May we send you offers that match your answers?", ("Yes", "No")),
    )),
)  # fmt: skip
TOPICS = ("Product news and offers", "Event invitations", "Service newsletter", "Photo tips")
CONSENT_SOURCES = ("portal sign-up", "event registration", "survey opt-in", "web form")
SUPPRESSION_REASONS = (
    "unsubscribed via link",
    "objected to marketing (Art. 21)",
    "asked by phone not to be contacted",
)
DIETARY = ("vegetarian", "vegan", "halal", "gluten-free", "lactose-free", "no pork", "nut allergy")


@dataclass(frozen=True)
class Event:
    id: int
    title: str
    city: str
    venue: str
    starts: int  # epoch
    fee: float
    attendee_list: str = ""  # CSV file name of the organiser's list, if any


def _epoch(text: str) -> int:
    """'2024-04-18 09:00' (UTC) as seconds since the epoch."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M"))


EVENTS = (
    Event(1, "Tirana Print & Document Summit 2024", "Tiranë", "Tirana International Hotel",
          _epoch("2024-04-18 09:00"), 35.0, "tirana-print-summit-2024.csv"),
    Event(2, "Webinar: Secure printing with uniFLOW", "online", "Microsoft Teams",
          _epoch("2024-05-22 10:00"), 0.0),
    Event(3, "Durrës Photo Walk with EOS R", "Durrës", "Durrës Amphitheatre",
          _epoch("2024-06-08 17:00"), 15.0, "durres-photo-walk-2024.csv"),
    Event(4, "Service Partner Day", "Elbasan", "Skampa Hotel", _epoch("2024-09-12 09:30"), 0.0),
    Event(5, "Shkodër Office Solutions Roadshow", "Shkodër", "Hotel Colosseo",
          _epoch("2024-10-03 10:00"), 0.0, "shkoder-roadshow-2024.csv"),
    Event(6, "Webinar: Managed print for small businesses", "online", "Microsoft Teams",
          _epoch("2025-01-29 11:00"), 0.0),
    Event(7, "Vlora Photography Festival workshop", "Vlorë", "Kuzum Baba",
          _epoch("2025-05-17 16:00"), 25.0, "vlora-photo-festival-2025.csv"),
    Event(8, "Tirana Print & Document Summit 2025", "Tiranë", "Tirana International Hotel",
          _epoch("2025-04-10 09:00"), 40.0),
)  # fmt: skip
EVENT_LIST_COLUMNS = (
    "Name", "Company", "Email", "Phone", "Event", "Dietary needs", "Emergency contact",
)  # fmt: skip
PROSPECT_LISTS = (
    ("amcham-members-2024.csv", "AmCham Albania member directory (2024)", "2024-11-04"),
    ("print-media-association-2025.csv", "Albanian Print & Media Association list (2025)",
     "2025-02-10"),
    ("b2b-leads-2025-q1.csv", "LeadBase B2B Albania, purchased 2025-02-03", "2025-02-05"),
)  # fmt: skip
PROSPECT_COLUMNS = (
    "Name",
    "Company",
    "Email",
    "Source",
    "Consent checked against opt-out register",
)


# --- the schemas ------------------------------------------------------------------------------

# logical type -> (PostgreSQL, SQLite). Keys ("id", "serial", "code") become primary keys:
# inline on SQLite (an INTEGER PRIMARY KEY is the rowid, free), after loading on PostgreSQL,
# where a "serial" key then numbers the rows added later (the suppression list grows when a
# subject objects). A "flag" is false unless set: never written by the loader.
TYPES = {
    "id": ("bigint NOT NULL", "INTEGER PRIMARY KEY"),
    "serial": ("bigint NOT NULL", "INTEGER PRIMARY KEY"),
    "code": ("text NOT NULL", "TEXT PRIMARY KEY"),
    "ref": ("bigint", "INTEGER"),
    "int": ("integer", "INTEGER"),
    "text": ("text", "TEXT"),
    "ts": ("timestamptz", "TIMESTAMP"),
    "date": ("date", "DATE"),
    "bool": ("boolean", "BOOLEAN"),
    "flag": ("boolean NOT NULL DEFAULT false", "BOOLEAN NOT NULL DEFAULT 0"),
    "money": ("numeric(10,2)", "REAL"),
    "ip": ("inet", "TEXT"),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    references: str = ""  # "table(column)"
    on_delete: str = ""  # what the reference does when its row goes: "SET NULL"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    indexes: tuple[str, ...] = ()  # each the text between the parentheses of CREATE INDEX

    @property
    def key(self) -> str | None:
        return next((c.name for c in self.columns if c.type in ("id", "serial", "code")), None)

    @property
    def written(self) -> tuple[Column, ...]:
        """The columns the loader writes, in the order of its rows (flags keep their default)."""
        return tuple(column for column in self.columns if column.type != "flag")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.written)


def _table(name: str, spec: str, *indexes: str) -> Table:
    """`_table("t", "id:id account_id:ref>accounts(id) name:text", "account_id, id")`; a
    reference ending in "/setnull" empties the column when the referenced row is deleted."""
    columns = []
    for item in spec.split():
        column, _, rest = item.partition(":")
        kind, _, references = rest.partition(">")
        references, _, on_delete = references.partition("/")
        if kind not in TYPES:
            raise ValueError(f"{name}.{column}: unknown type {kind!r}")
        columns.append(Column(column, kind, references, {"setnull": "SET NULL"}.get(on_delete, "")))
    return Table(name, tuple(columns), indexes)


def _reference(column: Column) -> str:
    """The REFERENCES clause's text after the keyword (this module's constants only)."""
    if column.on_delete:
        return f"{column.references} ON DELETE {column.on_delete}"
    return column.references


_ACCOUNT = "account_id:ref>accounts(id)"
# Every table holding a subject's data can mark their rows restricted (Art. 18).
_RESTRICTED = "restricted:flag"
CRM_TABLES = (
    _table(
        "accounts",
        "id:id customer_no:text full_name:text position:text email:text phone:text company:text "
        f"created_at:ts last_login_at:ts last_login_ip:ip {_RESTRICTED}",
        "lower(email)",
        "phone",
        "customer_no",
        "lower(full_name), lower(company)",
    ),
    _table(
        "enquiries",
        f"id:id {_ACCOUNT} channel:text subject:text message:text created_at:ts {_RESTRICTED}",
        "account_id, id",
    ),
    _table("events", "id:id title:text city:text venue:text starts_at:ts fee:money"),
    _table(
        "registrations",
        f"id:id event_id:ref>events(id) {_ACCOUNT} registered_at:ts attended:bool "
        "dietary_needs:text emergency_contact_name:text emergency_contact_phone:text "
        f"paid_amount:money {_RESTRICTED}",
        "account_id, id",
        "event_id",
    ),
    _table(
        "orders",
        f"id:id {_ACCOUNT} order_no:text ordered_at:ts status:text total:money "
        f"delivery_address:text delivery_city:text {_RESTRICTED}",
        "account_id, id",
    ),
    _table(
        "order_lines",
        "id:id order_id:ref>orders(id) product:text sku:text quantity:int unit_price:money "
        f"{_RESTRICTED}",
        "order_id, id",
    ),
    _table(
        "product_registrations",
        f"id:id {_ACCOUNT} model:text serial_number:text purchase_date:date licence_key:text "
        f"warranty_until:date {_RESTRICTED}",
        "account_id, id",
        "serial_number",
    ),
    _table(
        "survey_answers",
        f"id:id {_ACCOUNT} survey:text question:text answer:text answered_at:ts {_RESTRICTED}",
        "account_id, id",
    ),
    _table(
        "marketing_subscriptions",
        f"id:id {_ACCOUNT} topic:text channel:text subscribed_at:ts consent_source:text "
        f"unsubscribed_at:ts {_RESTRICTED}",
        "account_id, id",
    ),
    # The suppression list outlives the account (an erased subject must not be marketed to
    # again): the address is kept, the link empties when the account is deleted, and rows are
    # added by the connector when a subject objects (a serial key).
    _table(
        "marketing_suppressions",
        "id:serial account_id:ref>accounts(id)/setnull suppressed_at:ts reason:text email:text "
        f"{_RESTRICTED}",
        "account_id, id",
        "lower(email)",
    ),
    _table(
        "cookies",
        f"id:id {_ACCOUNT} cookie_id:text purpose:text first_seen_at:ts last_seen_at:ts "
        f"consent:bool {_RESTRICTED}",
        "account_id, id",
    ),
    _table(
        "web_events",
        f"id:id {_ACCOUNT} occurred_at:ts url:text search_term:text ip:ip user_agent:text "
        f"os:text app_instance_id:text {_RESTRICTED}",
        "account_id, id",
    ),
)
_CUSTOMER = "customer_no:text>customers(customer_no)"
REPAIRS_TABLES = (
    _table(
        "customers",
        f"customer_no:code company:text contact_name:text created_at:ts {_RESTRICTED}",
    ),
    # status: "in_repair" until the device is back with its owner, then "returned".
    _table(
        "repairs",
        f"id:id {_CUSTOMER} serial_number:text model:text received_at:ts fault:text "
        f"resolution:text under_warranty:bool returned_at:ts status:text {_RESTRICTED}",
        "customer_no, id",
        "serial_number",
    ),
    _table(
        "warranties",
        f"id:id {_CUSTOMER} serial_number:text model:text starts_on:date ends_on:date cover:text "
        f"{_RESTRICTED}",
        "customer_no, id",
        "serial_number",
    ),
)
META_TABLE = _table("demo_meta", "key:code value:text")


# --- writers ----------------------------------------------------------------------------------


class RowWriter:
    """Counts rows and hands them on: to a COPY stream, or to a batch flushed when full."""

    __slots__ = ("_batch", "_flush", "_size", "_write", "rows")

    def __init__(
        self,
        *,
        write: Callable[[Any], Any] | None = None,
        flush: Callable[[list], Any] | None = None,
        size: int = BATCH,
    ) -> None:
        self.rows = 0
        self._write = write
        self._flush = flush
        self._size = size
        self._batch: list = []

    def write(self, row: Any) -> None:
        self.rows += 1
        if self._write is not None:
            self._write(row)
            return
        self._batch.append(row)
        if len(self._batch) >= self._size:
            self._flush(self._batch)
            self._batch = []

    def close(self) -> None:
        if self._batch:
            self._flush(self._batch)
            self._batch = []


def _index_statements(table: Table) -> list[str]:
    statements = []
    for columns in table.indexes:
        # Names and expressions are this module's constants, never input.
        name = f"{table.name}_{re.sub(r'[^a-z0-9]+', '_', columns).strip('_')}_idx"
        statements.append(f"CREATE INDEX {name} ON {table.name} ({columns})")
    return statements


class SqliteStore:
    """A SQLite file, built beside its final path and moved into place when complete."""

    kind = "sqlite"

    def __init__(self, path: Path, tables: tuple[Table, ...]) -> None:
        self.path = path
        self.tables = tables
        self.building = path.with_name(path.name + ".building")
        self._conn: sqlite3.Connection | None = None

    @property
    def where(self) -> str:
        return str(self.path)

    def url(self) -> str:
        return f"sqlite:///{self.path.resolve()}"

    def meta(self) -> dict[str, str] | None:
        if not self.path.exists():
            return None
        try:
            with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as conn:
                return dict(conn.execute("SELECT key, value FROM demo_meta").fetchall())
        except sqlite3.Error:
            return None

    def drop(self) -> None:
        for path in (self.path, self.building):
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    @contextmanager
    def writers(self) -> Iterator[dict[str, RowWriter]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.building}{suffix}").unlink(missing_ok=True)
        conn = sqlite3.connect(self.building)
        self._conn = conn
        conn.execute("PRAGMA journal_mode = OFF")  # a half-built file is thrown away anyway
        conn.execute("PRAGMA synchronous = OFF")
        for table in (*self.tables, META_TABLE):
            columns = []
            for column in table.columns:
                sql_type = TYPES[column.type][1]
                if column.references:
                    sql_type += f" REFERENCES {_reference(column)}"
                columns.append(f'"{column.name}" {sql_type}')
            conn.execute(f"CREATE TABLE {table.name} ({', '.join(columns)})")
        writers = {}
        for table in self.tables:
            names = ", ".join(f'"{name}"' for name in table.column_names)
            marks = ", ".join("?" for _ in table.written)
            statement = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"  # noqa: S608

            def flush(rows: list, statement: str = statement) -> None:
                conn.executemany(statement, rows)

            writers[table.name] = RowWriter(flush=flush)
        try:
            yield writers
            for writer in writers.values():
                writer.close()
            conn.commit()
        except BaseException:
            conn.close()
            self._conn = None
            Path(self.building).unlink(missing_ok=True)
            raise

    def finish(self, meta: dict[str, str]) -> None:
        """Indexes, statistics and the marker; then the file takes its place."""
        conn = self._conn
        assert conn is not None, "finish() follows writers()"
        for table in self.tables:
            for statement in _index_statements(table):
                conn.execute(statement)
        conn.executemany("INSERT INTO demo_meta (key, value) VALUES (?, ?)", meta.items())
        conn.commit()
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.close()
        self._conn = None
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        os.replace(self.building, self.path)


class PostgresServer:
    """The server of the default database: demo databases are made beside it."""

    LIBPQ_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout")

    def __init__(self, settings_dict: dict[str, Any]) -> None:
        self.default_db = settings_dict["NAME"]
        self.user = settings_dict.get("USER") or None
        self.password = settings_dict.get("PASSWORD") or None
        self.host = settings_dict.get("HOST") or None
        self.port = int(settings_dict["PORT"]) if settings_dict.get("PORT") else None
        options = settings_dict.get("OPTIONS") or {}
        self.options = {key: options[key] for key in self.LIBPQ_OPTIONS if key in options}

    def connect(self, dbname: str, *, autocommit: bool = False):
        import psycopg

        params = {"host": self.host, "port": self.port, "user": self.user}
        params = {key: value for key, value in params.items() if value is not None}
        if self.password:
            params["password"] = self.password
        return psycopg.connect(dbname=dbname, autocommit=autocommit, **params, **self.options)

    def url(self, dbname: str) -> str:
        from sqlalchemy.engine import URL

        query = {key: str(value) for key, value in self.options.items()}
        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            host=self.host,
            port=self.port,
            database=dbname,
            query=query,
        ).render_as_string(hide_password=False)

    def drop_database(self, dbname: str) -> None:
        from psycopg import sql

        with self.connect(self.default_db, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )

    def create_database(self, dbname: str) -> None:
        from psycopg import sql

        with self.connect(self.default_db, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


class PostgresStore:
    """A database of its own on the default server, filled by one COPY stream per table."""

    kind = "postgresql"

    def __init__(self, server: PostgresServer, dbname: str, tables: tuple[Table, ...]) -> None:
        if len(dbname.encode()) > 63:
            raise ValueError(f"the database name {dbname!r} is longer than PostgreSQL allows")
        self.server = server
        self.dbname = dbname
        self.tables = tables

    @property
    def where(self) -> str:
        return f"PostgreSQL database {self.dbname}"

    def url(self) -> str:
        return self.server.url(self.dbname)

    def meta(self) -> dict[str, str] | None:
        import psycopg

        try:
            with self.server.connect(self.dbname) as conn:
                return dict(conn.execute("SELECT key, value FROM demo_meta").fetchall())
        except psycopg.Error:  # no such database, no marker table: not a complete demo
            return None

    def drop(self) -> None:
        self.server.drop_database(self.dbname)

    def _execute(self, conn, statement: str) -> None:
        from psycopg import sql

        conn.execute(sql.SQL(statement))  # this module's constants only

    @contextmanager
    def writers(self) -> Iterator[dict[str, RowWriter]]:
        from psycopg import sql

        self.server.drop_database(self.dbname)
        self.server.create_database(self.dbname)
        with self.server.connect(self.dbname) as conn:
            for table in (*self.tables, META_TABLE):
                columns = sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(TYPES[c.type][0]))
                    for c in table.columns
                )
                conn.execute(
                    sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table.name), columns)
                )
        with ExitStack() as stack:
            writers = {}
            for table in self.tables:
                # One connection per table: COPY streams run side by side, one pass over the
                # people writes every table, and the server parses on the other core.
                conn = stack.enter_context(self.server.connect(self.dbname))
                conn.execute("SET TimeZone = 'UTC'")
                conn.execute("SET synchronous_commit = off")
                cursor = stack.enter_context(conn.cursor())
                statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table.name),
                    sql.SQL(", ").join(map(sql.Identifier, table.column_names)),
                )
                copy = stack.enter_context(cursor.copy(statement))
                writers[table.name] = RowWriter(write=copy.write_row)
            yield writers
        # Leaving the stack ended every COPY and committed its connection.

    def finish(self, meta: dict[str, str]) -> None:
        """Keys, indexes and foreign keys after loading (much faster than during), statistics,
        and the marker last."""
        from psycopg import sql

        with self.server.connect(self.dbname, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '256MB'")
            for table in (*self.tables, META_TABLE):
                if table.key:
                    conn.execute(
                        sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                            sql.Identifier(table.name), sql.Identifier(table.key)
                        )
                    )
                for statement in _index_statements(table):
                    self._execute(conn, statement)
            for table in self.tables:
                for column in table.columns:
                    if column.references:
                        self._execute(
                            conn,
                            f"ALTER TABLE {table.name} ADD FOREIGN KEY ({column.name}) "
                            f"REFERENCES {_reference(column)}",
                        )
                    if column.type == "serial":
                        # Numbered on from the loaded rows.
                        name, key = sql.Identifier(table.name), sql.Identifier(column.name)
                        conn.execute(
                            sql.SQL(
                                "ALTER TABLE {} ALTER COLUMN {} ADD GENERATED BY DEFAULT AS IDENTITY"
                            ).format(name, key)
                        )
                        conn.execute(
                            sql.SQL(
                                "SELECT setval(pg_get_serial_sequence({}, {}), "
                                "coalesce(max({}), 0) + 1, false) FROM {}"
                            ).format(sql.Literal(table.name), sql.Literal(column.name), key, name)
                        )
            conn.execute("ANALYZE")
            with (
                conn.cursor() as cursor,
                cursor.copy("COPY demo_meta (key, value) FROM STDIN") as copy,
            ):
                for item in meta.items():
                    copy.write_row(item)


# --- the people -------------------------------------------------------------------------------


@dataclass(slots=True)
class Company:
    name: str
    domain: str
    city: str
    address: str


@dataclass(slots=True)
class Person:
    account_id: int
    customer_no: str
    first: str
    last: str
    position: str
    email: str
    phone: str  # normalised
    company: Company
    since: int
    ip: str
    full_name: str = field(init=False)

    def __post_init__(self) -> None:
        self.full_name = f"{self.first} {self.last}"


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in folded if ch.isascii() and (ch.isalnum() or ch in ".-"))


def _slug(text: str) -> str:
    words = [_ascii(word).lower() for word in text.replace("&", " ").split()]
    words = [w.strip(".-") for w in words if w and w not in ("sh.p.k.", "sh.a.", "ltd", "plc")]
    return "-".join(w for w in words if w)[:40] or "company"


def _spaced(phone: str) -> str:
    """+355692004242 -> +355 69 200 4242, as people write it."""
    digits = phone[4:]
    return f"+355 {digits[:2]} {digits[2:5]} {digits[5:]}"


def _local(phone: str) -> str:
    """+355692004242 -> 069 200 4242: no country code, so it is not found by the normalised
    number (the support desk and the lists hold such numbers too)."""
    digits = phone[4:]
    return f"0{digits[:2]} {digits[2:5]} {digits[5:]}"


def ts(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def _table_of(weights: dict[int, int]) -> tuple[int, ...]:
    """A lookup table for a small discrete distribution: pick with table[randrange(len)]."""
    return tuple(value for value, weight in weights.items() for _ in range(weight))


ENQUIRY_COUNTS = _table_of({0: 45, 1: 30, 2: 15, 3: 6, 4: 2, 6: 2})
REGISTRATION_COUNTS = _table_of({0: 65, 1: 25, 2: 8, 3: 2})
ORDER_COUNTS = _table_of({0: 55, 1: 25, 2: 12, 3: 5, 5: 3})
PRODUCT_COUNTS = _table_of({0: 60, 1: 28, 2: 9, 4: 3})
COOKIE_COUNTS = _table_of({0: 40, 1: 40, 2: 15, 3: 5})
TICKET_COUNTS = _table_of({1: 50, 2: 30, 3: 12, 5: 6, 9: 2})
CALL_COUNTS = _table_of({0: 35, 1: 35, 2: 20, 4: 10})


@dataclass
class Sinks:
    crm: dict[str, RowWriter]
    repairs: dict[str, RowWriter]
    desk: dict[str, RowWriter]
    events: dict[int, RowWriter]  # event id -> its attendee list
    prospects: list[RowWriter]


class DemoData:
    """Generates the demo from a seed and writes it, person by person, into every system."""

    def __init__(self, *, subjects: int, seed: int, heavy: list[tuple[str, int]]) -> None:
        from faker import Faker

        self.subjects = subjects
        self.heavy = heavy
        self.rng = random.Random(seed)
        fake = Faker("en_GB")
        fake.seed_instance(seed)
        # Faker is slow per call: pools made once, then picked from by the seeded generator.
        self.english_first = tuple(sorted({fake.first_name() for _ in range(400)}))
        self.english_last = tuple(sorted({fake.last_name() for _ in range(400)}))
        self.sentences = tuple(fake.sentence(nb_words=10) for _ in range(300))
        self.cities = _table_of(dict(CITIES))
        self.companies = self._companies(fake, max(20, min(20000, subjects // 6)))
        self._ids: dict[str, int] = {}
        self._emails: set[str] = {ARTA.email}
        self._names: set[int] = {hash(f"{ARTA.full_name}|{ARTA.company}")}
        self._serial = 0

    # -- pools and helpers --------------------------------------------------------------------

    def _companies(self, fake, size: int) -> tuple[Company, ...]:
        rng = self.rng
        names: dict[str, None] = {}
        reserved = {ARTA.company, SWITCHBOARD_COMPANY}
        attempts = 0
        while len(names) < size and attempts < size * 20:
            attempts += 1
            if rng.random() < 0.7:
                name = f"{rng.choice(COMPANY_STEMS)} {rng.choice(COMPANY_KINDS)}"
                if rng.random() < 0.3:
                    name = f"{name} {rng.choice(self.cities)}"
                name += " Sh.p.k." if rng.random() < 0.85 else " Sh.a."
            else:
                name = fake.company()
            if name not in reserved:
                names[name] = None
        return tuple(self._company(name) for name in names)

    def _company(self, name: str, city: str = "") -> Company:
        rng = self.rng
        return Company(
            name=name,
            domain=f"{_slug(name)}.demo.example",
            city=city or rng.choice(self.cities),
            address=f"{rng.choice(STREETS)} {rng.randint(1, 250)}",
        )

    def next_id(self, table: str) -> int:
        value = self._ids.get(table, 0) + 1
        self._ids[table] = value
        return value

    def between(self, start: float, end: float) -> int:
        return int(start + self.rng.random() * max(0, end - start))

    def ip(self) -> str:
        rng = self.rng
        return f"{rng.choice(IP_PREFIXES)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"

    def name(self) -> tuple[str, str]:
        rng = self.rng
        if rng.random() < 0.7:
            return rng.choice(ALBANIAN_FIRST_NAMES), rng.choice(ALBANIAN_LAST_NAMES)
        return rng.choice(self.english_first), rng.choice(self.english_last)

    def mobile(self, index: int, prefix: str = "") -> str:
        """Unique by construction: a permutation of the index over seven digits."""
        number = (index * 7919 + 1_234_567) % 10_000_000
        prefix = prefix or ("67", "68", "69")[index % 3]
        phone = f"+355{prefix}{number:07d}"
        return "+35564" + phone[6:] if phone in (ARTA.phone, SWITCHBOARD_PHONE) else phone

    def email(self, first: str, last: str, domain: str) -> str:
        rng = self.rng
        first, last = _ascii(first).lower(), _ascii(last).lower()
        roll = rng.random()
        local = f"{first}.{last}" if roll < 0.7 else (f"{first[0]}{last}" if roll < 0.85 else first)
        email, number = f"{local}@{domain}", 1
        while email in self._emails:
            number += 1
            email = f"{local}{number}@{domain}"
        self._emails.add(email)
        return email

    def person(self, index: int, company: Company | None = None) -> Person:
        rng = self.rng
        company = company or rng.choice(self.companies)
        for _ in range(20):
            first, last = self.name()
            key = hash(f"{first} {last}|{company.name}")
            if key not in self._names:
                break
        else:  # a crowded company: a middle initial tells them apart
            first = f"{first} {chr(65 + index % 26)}."
            key = hash(f"{first} {last}|{company.name}")
        self._names.add(key)
        return Person(
            account_id=self.next_id("accounts"),
            customer_no=f"C-{200001 + index}",
            first=first,
            last=last,
            position=rng.choice(POSITIONS),
            email=self.email(first.split()[0], last, company.domain),
            phone=self.mobile(index),
            company=company,
            since=self.between(START, END - 120 * DAY),
            ip=self.ip(),
        )

    def text(self, template: str, **values: Any) -> str:
        rng = self.rng
        values.setdefault("model", rng.choice(DEVICES)[0])
        values.setdefault("city", rng.choice(self.cities))
        values.setdefault("n", rng.randint(2, 6))
        values.setdefault("year", rng.randint(2019, 2024))
        values.setdefault("pages", rng.choice(("3,000", "8,000", "20,000")))
        text = template.format(**values)
        return f"{text} {rng.choice(self.sentences)}" if rng.random() < 0.4 else text

    def serial(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._serial:08d}"

    # -- the whole demo -----------------------------------------------------------------------

    def write(self, sinks: Sinks, progress: Callable[[int], None] | None = None) -> None:
        crm = sinks.crm
        for event in EVENTS:
            crm["events"].write(
                (event.id, event.title, event.city, event.venue, ts(event.starts), event.fee)
            )
        self._ids["events"] = len(EVENTS)
        self.write_arta(sinks)
        colleagues = self._company(SWITCHBOARD_COMPANY, "Tiranë")
        step = max(1, self.subjects // 10)
        for index in range(self.subjects):
            # The first two share the office switchboard in the support desk.
            person = self.person(index, colleagues if index < 2 else None)
            if index == 0:
                person.phone = SWITCHBOARD_PHONE  # gave the office number to the CRM too
            self.write_person(person, sinks, switchboard=index < 2)
            if progress and (index + 1) % step == 0:
                progress(index + 1)
        for number, (email, records) in enumerate(self.heavy, start=1):
            self.write_heavy(number, email, records, sinks)
        self.write_strangers(sinks)

    def write_arta(self, sinks: Sinks) -> None:
        """The fixed persona, with the same rows whatever the seed."""
        crm, repairs, desk = sinks.crm, sinks.repairs, sinks.desk
        account = self.next_id("accounts")
        since = _epoch("2021-03-15 09:12")
        crm["accounts"].write(
            (account, ARTA.customer_no, ARTA.full_name, ARTA.position, ARTA.email, ARTA.phone,
             ARTA.company, ts(since), ts(_epoch("2025-09-28 08:41")), "79.106.45.12")
        )  # fmt: skip
        for when, channel, subject, message in (
            ("2023-02-06 10:20", "web form", "Quote for an A3 colour printer",
             "We need a quote for two A3 colour devices for our office in Shkodër."),
            ("2024-11-12 15:02", "call-back form", "Toner delivery delayed",
             "Our toner order has not arrived yet; can you tell us when it ships?"),
        ):  # fmt: skip
            crm["enquiries"].write(
                (self.next_id("enquiries"), account, channel, subject, message, ts(_epoch(when)))
            )
        summit = EVENTS[0]
        crm["registrations"].write(
            (self.next_id("registrations"), summit.id, account, ts(summit.starts - 30 * DAY), True,
             "halal", "Besnik Krasniqi", "+355692004243", summit.fee)
        )  # fmt: skip
        order = self.next_id("orders")
        lines = (("C-EXV49 toner, black", "8524B002", 2, 59.0),
                 ("C-EXV49 toner, cyan", "8525B002", 1, 112.0))  # fmt: skip
        crm["orders"].write(
            (order, account, "SO-2024-000042", ts(_epoch("2024-11-05 11:30")), "delivered",
             sum(q * p for _, _, q, p in lines), ARTA.address, ARTA.city)
        )  # fmt: skip
        for product, sku, quantity, price in lines:
            crm["order_lines"].write(
                (self.next_id("order_lines"), order, product, sku, quantity, price)
            )
        model, serial = DEVICES[0][0], "XNB04217"
        crm["product_registrations"].write(
            (self.next_id("product_registrations"), account, model, serial, "2022-05-10",
             "UFO-7Q2K-M4PX-9D3A", "2025-05-10")
        )  # fmt: skip
        survey, questions = SURVEYS[0]
        for (question, _answers), answer in zip(
            questions[:3], ("Satisfied", "9", "Within 2 days"), strict=True
        ):
            crm["survey_answers"].write(
                (self.next_id("survey_answers"), account, survey, question, answer,
                 ts(_epoch("2024-03-02 18:40")))
            )  # fmt: skip
        crm["marketing_subscriptions"].write(
            (self.next_id("marketing_subscriptions"), account, TOPICS[0], "e-mail",
             ts(since + 60), "portal sign-up", None)
        )  # fmt: skip
        for name, purpose in COOKIES[:2]:
            crm["cookies"].write(
                (self.next_id("cookies"), account, f"{name}.4f9c2a7be1d04e3a", purpose,
                 ts(since), ts(_epoch("2025-09-28 08:41")), True)
            )  # fmt: skip
        agent, agent_os, _app = USER_AGENTS[0]
        first_visit = _epoch("2025-06-02 08:00")
        for number in range(30):
            search = "toner c-exv49" if number % 10 == 3 else None
            crm["web_events"].write(
                (self.next_id("web_events"), account, ts(first_visit + number * 3 * DAY + 1800),
                 "https://portal.demo.example" + PAGES[number % len(PAGES)], search,
                 "79.106.45.12", agent, agent_os, None)
            )  # fmt: skip
        # Repairs knows her by customer number only.
        repairs["customers"].write(
            (ARTA.customer_no, ARTA.company, ARTA.full_name, ts(_epoch("2022-05-10 12:00")))
        )
        for when, fault, resolution, back in (
            ("2023-09-04 09:00", FAULTS[0], RESOLUTIONS[0], "2023-09-08 16:00"),
            ("2025-02-17 10:30", FAULTS[3], RESOLUTIONS[3], "2025-02-24 12:00"),
        ):
            repairs["repairs"].write(
                (self.next_id("repairs"), ARTA.customer_no, serial, model, ts(_epoch(when)),
                 fault, resolution, _epoch(when) < _epoch("2025-05-10 00:00"), ts(_epoch(back)),
                 "returned")
            )  # fmt: skip
        repairs["warranties"].write(
            (self.next_id("warranties"), ARTA.customer_no, serial, model, "2022-05-10",
             "2025-05-10", WARRANTY_COVERS[2])
        )  # fmt: skip
        # The support desk knows her by phone only.
        customer = self.next_id("desk_customers")
        desk["customers"].write(
            {"id": customer, "name": ARTA.full_name, "phone": ARTA.desk_phone, "email": "",
             "company": ARTA.company}
        )  # fmt: skip
        for when, (subject, body), status in (
            ("2023-09-01 08:55", TICKETS[0], "closed"),
            ("2024-06-19 14:10", TICKETS[3], "closed"),
            ("2025-02-14 09:40", TICKETS[4], "resolved"),
        ):
            desk["tickets"].write(
                {"id": self.next_id("desk_tickets"), "customer_id": customer, "subject": subject,
                 "body": body.format(model=model), "status": status, "channel": "phone",
                 "created_at": ts(_epoch(when)), "agent": AGENTS[0]}
            )  # fmt: skip
        for when, seconds, notes in (
            ("2023-09-01 08:50", 312, CALL_NOTES[0].format(date="2023-09-04")),
            ("2025-02-20 11:15", 145, CALL_NOTES[1].format(model=model)),
        ):
            desk["calls"].write(
                {"id": self.next_id("desk_calls"), "customer_id": customer,
                 "started_at": ts(_epoch(when)), "duration_s": seconds, "direction": "inbound",
                 "notes": notes}
            )  # fmt: skip
        # The summit's attendee list knows her by name and company only.
        sinks.events[summit.id].write(
            (
                ARTA.full_name,
                ARTA.company,
                "",
                "",
                summit.title,
                "halal",
                "Besnik Krasniqi, +355 69 200 4243",
            )
        )

    def write_person(self, person: Person, sinks: Sinks, *, switchboard: bool = False) -> None:
        rng = self.rng
        crm = sinks.crm
        account, since = person.account_id, person.since
        seen = rng.random() < 0.85
        last_login = self.between(since, END) if seen else None
        crm["accounts"].write(
            (account, person.customer_no, person.full_name, person.position, person.email,
             person.phone, person.company.name, ts(since),
             ts(last_login) if last_login else None, person.ip if seen else None)
        )  # fmt: skip

        for _ in range(ENQUIRY_COUNTS[rng.randrange(len(ENQUIRY_COUNTS))]):
            subject, template = rng.choice(ENQUIRIES)
            crm["enquiries"].write(
                (self.next_id("enquiries"), account, rng.choice(ENQUIRY_CHANNELS), subject,
                 self.text(template, city=person.company.city), ts(self.between(since, END)))
            )  # fmt: skip

        # Events: the CRM's registrations, and the organisers' lists of those who came.
        event_email = person.email if rng.random() < 0.35 else ""
        roll = rng.random()
        event_phone = (
            person.phone if roll < 0.2 else _spaced(person.phone) if roll < 0.45
            else _local(person.phone) if roll < 0.6 else ""
        )  # fmt: skip
        for event in rng.sample(EVENTS, REGISTRATION_COUNTS[rng.randrange(100)]):
            dietary = rng.choice(DIETARY) if rng.random() < 0.3 else None
            emergency = None
            if rng.random() < 0.35:
                first, last = self.name()
                emergency = (f"{first} {last}", self.mobile(rng.randrange(10_000_000)))
            attended = rng.random() < 0.8
            crm["registrations"].write(
                (self.next_id("registrations"), event.id, account,
                 ts(event.starts - rng.randint(2, 60) * DAY), attended, dietary,
                 emergency[0] if emergency else None, emergency[1] if emergency else None,
                 event.fee)
            )  # fmt: skip
            if event.attendee_list and attended and rng.random() < 0.7:
                sinks.events[event.id].write(
                    (person.full_name, person.company.name, event_email, event_phone,
                     event.title, dietary or "",
                     f"{emergency[0]}, {_spaced(emergency[1])}" if emergency else "")
                )  # fmt: skip

        for _ in range(ORDER_COUNTS[rng.randrange(100)]):
            order, when = self.next_id("orders"), self.between(since, END)
            lines = [
                (product, sku, rng.randint(1, 5), price)
                for product, sku, price in rng.sample(SUPPLIES, rng.choice((1, 1, 2, 2, 3, 4)))
            ]
            crm["orders"].write(
                (order, account, f"SO-{time.gmtime(when).tm_year}-{order:06d}", ts(when),
                 rng.choice(("delivered", "delivered", "delivered", "invoiced", "cancelled")),
                 round(sum(q * p for _, _, q, p in lines), 2), person.company.address,
                 person.company.city)
            )  # fmt: skip
            for product, sku, quantity, price in lines:
                crm["order_lines"].write(
                    (self.next_id("order_lines"), order, product, sku, quantity, price)
                )

        products = []
        for _ in range(PRODUCT_COUNTS[rng.randrange(100)]):
            model, prefix, _price, licence = rng.choice(DEVICES)
            bought = self.between(since - 400 * DAY, END - 30 * DAY)
            until = bought + rng.choice((1, 2, 3)) * 365 * DAY
            serial = self.serial(prefix)
            key = (
                f"{licence[:3].upper()}-{rng.getrandbits(64):016X}"
                if licence and rng.random() < 0.7 else None
            )  # fmt: skip
            crm["product_registrations"].write(
                (self.next_id("product_registrations"), account, model, serial, day(bought),
                 key, day(until))
            )  # fmt: skip
            products.append((model, serial, bought, until))

        if rng.random() < 0.22:
            survey, questions = rng.choice(SURVEYS)
            when = ts(self.between(since, END))
            for question, answers in questions:
                crm["survey_answers"].write(
                    (self.next_id("survey_answers"), account, survey, question,
                     rng.choice(answers), when)
                )  # fmt: skip

        if rng.random() < 0.55:
            for topic in rng.sample(TOPICS, rng.choice((1, 1, 1, 2))):
                subscribed = self.between(since, END)
                gone = self.between(subscribed, END) if rng.random() < 0.12 else None
                crm["marketing_subscriptions"].write(
                    (self.next_id("marketing_subscriptions"), account, topic,
                     rng.choice(("e-mail", "e-mail", "SMS")), ts(subscribed),
                     rng.choice(CONSENT_SOURCES), ts(gone) if gone else None)
                )  # fmt: skip
                if gone:
                    crm["marketing_suppressions"].write(
                        (
                            self.next_id("marketing_suppressions"),
                            account,
                            ts(gone),
                            SUPPRESSION_REASONS[0],
                            person.email,
                        )
                    )
        elif rng.random() < 0.03:
            crm["marketing_suppressions"].write(
                (self.next_id("marketing_suppressions"), account,
                 ts(self.between(since, END)), rng.choice(SUPPRESSION_REASONS[1:]), person.email)
            )  # fmt: skip

        for name, purpose in rng.sample(COOKIES, COOKIE_COUNTS[rng.randrange(100)]):
            first_seen = self.between(since, END)
            crm["cookies"].write(
                (self.next_id("cookies"), account, f"{name}.{rng.getrandbits(64):016x}",
                 purpose, ts(first_seen), ts(self.between(first_seen, END)),
                 name == "session" or rng.random() < 0.6)
            )  # fmt: skip

        self.write_web_events(account, person.ip, since, self.web_event_count(), crm)

        # Repairs: mostly those with registered products, by customer number only.
        if rng.random() < (0.65 if products else 0.08):
            self.write_repairs(person.customer_no, person.company.name,
                               person.full_name if rng.random() < 0.9
                               else " ".join(self.name()), since, products, sinks.repairs)  # fmt: skip

        # Support desk: phone as written on the call, e-mail for some.
        if switchboard or rng.random() < 0.5:
            roll = rng.random()
            phone = (
                "+355 4 222 0000" if switchboard
                else _spaced(person.phone) if roll < 0.6
                else "00" + person.phone[1:] if roll < 0.7
                else _local(person.phone) if roll < 0.9
                else person.phone
            )  # fmt: skip
            has_email = rng.random() < 0.35 or (switchboard and person.phone == SWITCHBOARD_PHONE)
            email = person.email if has_email else ""
            if email and rng.random() < 0.3:
                email = email[0].upper() + email[1:]  # found all the same: e-mails ignore case
            self.write_desk_customer(
                person.full_name, phone, email, person.company.name, since, products, sinks.desk
            )

        if rng.random() < 0.12:
            source = rng.choice(sinks.prospects)
            source.write((person.full_name, person.company.name, person.email))

    def web_event_count(self) -> int:
        """Heavy-tailed: most people a handful, a few hundreds."""
        rng = self.rng
        if rng.random() < 0.3:
            return 0
        return min(3000, max(0, int(rng.paretovariate(1.5) * 2.2) - 1))

    def write_web_events(
        self, account: int, ip: str, since: int, count: int, crm: dict[str, RowWriter]
    ) -> None:
        rng = self.rng
        if not count:
            return
        devices = rng.sample(USER_AGENTS, rng.choice((1, 1, 2)))
        apps = {agent: f"{rng.getrandbits(128):032x}" for agent, _os, app in devices if app}
        write, next_id = crm["web_events"].write, self.next_id
        when = self.between(max(since, END - 540 * DAY), END - DAY)
        gap = max(60, (END - when) // (count + 1))
        for _ in range(count):
            when += rng.randint(30, 2 * gap)
            agent, agent_os, _app = rng.choice(devices)
            roll = rng.random()
            page = rng.choice(PAGES)
            search = rng.choice(SEARCH_TERMS) if page == "/search" or roll < 0.05 else None
            write(
                (next_id("web_events"), account, ts(when), "https://portal.demo.example" + page,
                 search, ip if roll < 0.85 else self.ip(), agent, agent_os, apps.get(agent))
            )  # fmt: skip

    def write_repairs(
        self,
        customer_no: str,
        company: str,
        contact: str,
        since: int,
        products: list[tuple[str, str, int, int]],
        repairs: dict[str, RowWriter],
    ) -> None:
        rng = self.rng
        repairs["customers"].write((customer_no, company, contact, ts(since)))
        if not products:
            model, prefix, _price, _licence = rng.choice(DEVICES)
            bought = self.between(since - 400 * DAY, END - 60 * DAY)
            products = [(model, self.serial(prefix), bought, bought + 365 * DAY)]
        for model, serial, bought, until in products:
            if rng.random() < 0.7:
                repairs["warranties"].write(
                    (self.next_id("warranties"), customer_no, serial, model, day(bought),
                     day(until), rng.choice(WARRANTY_COVERS))
                )  # fmt: skip
            for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
                received = self.between(bought + 20 * DAY, END - 10 * DAY)
                returned = received + rng.randint(2, 21) * DAY
                back = returned < END
                repairs["repairs"].write(
                    (self.next_id("repairs"), customer_no, serial, model, ts(received),
                     rng.choice(FAULTS), rng.choice(RESOLUTIONS), received < until,
                     ts(returned) if back else None, "returned" if back else "in_repair")
                )  # fmt: skip

    def write_desk_customer(
        self,
        name: str,
        phone: str,
        email: str,
        company: str,
        since: int,
        products: list[tuple[str, str, int, int]],
        desk: dict[str, RowWriter],
    ) -> None:
        rng = self.rng
        customer = self.next_id("desk_customers")
        desk["customers"].write(
            {"id": customer, "name": name, "phone": phone, "email": email, "company": company}
        )
        model = products[0][0] if products else rng.choice(DEVICES)[0]
        for _ in range(TICKET_COUNTS[rng.randrange(100)]):
            subject, body = rng.choice(TICKETS)
            desk["tickets"].write(
                {"id": self.next_id("desk_tickets"), "customer_id": customer, "subject": subject,
                 "body": self.text(body, model=model), "status": rng.choice(TICKET_STATUSES),
                 "channel": rng.choice(TICKET_CHANNELS),
                 "created_at": ts(self.between(since, END)), "agent": rng.choice(AGENTS)}
            )  # fmt: skip
        for _ in range(CALL_COUNTS[rng.randrange(100)]):
            started = self.between(since, END)
            desk["calls"].write(
                {"id": self.next_id("desk_calls"), "customer_id": customer,
                 "started_at": ts(started), "duration_s": rng.randint(40, 1500),
                 "direction": "inbound" if rng.random() < 0.75 else "outbound",
                 "notes": rng.choice(CALL_NOTES).format(date=day(started + 3 * DAY),
                                                        model=model)}
            )  # fmt: skip

    def write_heavy(self, number: int, email: str, records: int, sinks: Sinks) -> None:
        """A benchmark subject: a CRM account with `records` web events."""
        account = self.next_id("accounts")
        local = _ascii(email.split("@", 1)[0]).replace(".", " ").title() or "Bench"
        since = _epoch("2019-01-07 09:00")
        sinks.crm["accounts"].write(
            (account, f"C-B{number:05d}", f"{local} Benchmark", "Load tester", email,
             self.mobile(number, prefix="65"), f"Benchmark {number} Sh.p.k.", ts(since),
             ts(END - DAY), "80.78.1.1")
        )  # fmt: skip
        agent, agent_os, _app = USER_AGENTS[1]
        write, next_id = sinks.crm["web_events"].write, self.next_id
        gap = max(1, (END - since) // max(1, records))
        for n in range(records):
            write(
                (next_id("web_events"), account, ts(since + n * gap),
                 "https://portal.demo.example" + PAGES[n % len(PAGES)], None, "80.78.1.1",
                 agent, agent_os, None)
            )  # fmt: skip

    def write_strangers(self, sinks: Sinks) -> None:
        """People the CRM never met: support-desk callers, walk-in repairs, event walk-ins and
        bought prospects."""
        rng = self.rng
        count = self.subjects
        for index in range(count // 12):
            first, last = self.name()
            company = rng.choice(self.companies)
            phone = self.mobile(index, prefix="66")
            self.write_desk_customer(
                f"{first} {last}", _spaced(phone), "", company.name,
                self.between(START, END - 30 * DAY), [], sinks.desk,
            )  # fmt: skip
        for index in range(count // 25):
            first, last = self.name()
            self.write_repairs(
                f"R-{500001 + index}", rng.choice(self.companies).name, f"{first} {last}",
                self.between(START, END - 90 * DAY), [], sinks.repairs,
            )  # fmt: skip
        listed = [event for event in EVENTS if event.attendee_list]
        for _ in range(count // 20):
            first, last = self.name()
            company = rng.choice(self.companies)
            event = rng.choice(listed)
            email = self.email(first, last, company.domain) if rng.random() < 0.3 else ""
            sinks.events[event.id].write(
                (f"{first} {last}", company.name, email, "", event.title,
                 rng.choice(DIETARY) if rng.random() < 0.2 else "", "")
            )  # fmt: skip
        for _ in range(count // 6):
            first, last = self.name()
            company = rng.choice(self.companies)
            email = self.email(first, last, company.domain) if rng.random() < 0.85 else ""
            rng.choice(sinks.prospects).write((f"{first} {last}", company.name, email))


# --- the systems and their configuration ------------------------------------------------------


@dataclass(frozen=True)
class SystemSpec:
    slug: str
    name: str
    connector: str
    mapping: str  # file in dsar/data/demo
    description: str
    processor: str = ""  # who runs it, when not the controller (Art. 28)
    processor_email: str = ""
    backup_days: int | None = None  # how long its backups keep data
    disclosed_to: tuple[str, ...] = ()  # recipient codes of the register (§4)


SYSTEMS = (
    SystemSpec("crm", "CRM and customer portal", "sql", "crm.yaml",
               "Demo CRM: portal accounts, enquiries, event registrations, orders, product "
               "registrations, surveys, marketing, cookies and web events.",
               backup_days=35,
               disclosed_to=("group_companies", "marketing_lead_survey_providers")),
    SystemSpec("repairs", "Repairs and warranty system", "sql", "repairs.yaml",
               "Demo repairs and warranties; knows customers by customer number only.",
               backup_days=30, disclosed_to=("vendors_subcontractors",)),
    SystemSpec("supportdesk", "Support desk", "http", "supportdesk.yaml",
               "Demo HTTP support desk (manage.py run_supportdesk): tickets and calls; knows "
               "customers by phone, some by e-mail. Hosted and run by a service partner.",
               processor="Adriatik Hosting Sh.p.k.",
               processor_email="privacy@adriatik-hosting.example", backup_days=30),
    SystemSpec("events", "Event attendee lists", "files", "events.yaml",
               "CSV attendee lists from event organisers; mostly name and company only."),
    SystemSpec("prospects", "Purchased prospect lists", "files", "prospects.yaml",
               "CSV prospect lists bought from partners and list vendors (§2.6)."),
)  # fmt: skip


def mapping_file(spec: SystemSpec) -> str:
    return f"{MAPPINGS}/{spec.mapping}"


def system_config(
    spec: SystemSpec, *, var_dir: Path, port: int, urls: dict[str, str], url_env: bool
) -> dict[str, Any]:
    """The SourceSystem.config of a demo system. SQL systems name their mapping file (merged
    under the inline keys by the connector) and the database; the others carry their file's
    configuration with the demo's address or folder."""
    if spec.connector == "sql":
        if url_env:
            return {"mapping_file": mapping_file(spec), "url_env": URL_ENV[spec.slug]}
        return {"mapping_file": mapping_file(spec), "url": urls[spec.slug]}
    config = read_mapping_file(mapping_file(spec))
    if spec.connector == "http":
        config["base_url"] = f"http://127.0.0.1:{port}"
    else:
        config["folder"] = str(var_dir / "demo" / spec.slug)
    return config


def config_categories(connector: str, config: dict[str, Any]) -> set[str]:
    """The data category slugs a system's configuration exports to."""
    if connector == "sql":
        mapping, problems = parse_mapping(config)
        if mapping is None:
            raise ValueError("; ".join(problems))
        return {category for table in mapping.tables.values() for _, category in table.columns}
    if connector == "http":
        return {entry["category"] for entry in config["export"]}
    return {config["category"]}


# --- loading ----------------------------------------------------------------------------------


@dataclass
class DemoOptions:
    subjects: int = 200
    seed: int = 42
    reset: bool = False
    heavy: list[tuple[str, int]] = field(default_factory=list)
    supportdesk_port: int = DEFAULT_SUPPORTDESK_PORT
    backend: str = "auto"  # auto (PostgreSQL when the default database is), sqlite, postgresql


@dataclass
class DemoReport:
    backend: str
    loaded: bool  # False: a complete demo was there already
    meta: dict[str, str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # system -> table -> rows
    timings: dict[str, float] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    systems: dict[str, str] = field(default_factory=dict)  # slug -> created/updated/unchanged
    url_env: dict[str, str] = field(default_factory=dict)  # env var -> database, when needed

    @property
    def total_rows(self) -> int:
        return sum(sum(tables.values()) for tables in self.counts.values())

    @property
    def rows_per_subject(self) -> float:
        """Rows a subject over all systems, benchmark subjects (an account and their web events
        each) left out."""
        heavy = [item.rpartition(":")[2] for item in self.meta.get("heavy", "").split(",") if item]
        benchmark = sum(int(records) + 1 for records in heavy)
        return (self.total_rows - benchmark) / max(1, int(self.meta.get("subjects") or 1))


def demo_dir() -> Path:
    return Path(settings.VAR_DIR) / "demo"


def _backend(requested: str) -> str:
    is_postgres = connections["default"].vendor == "postgresql"
    if requested == "auto":
        return "postgresql" if is_postgres else "sqlite"
    if requested == "postgresql" and not is_postgres:
        raise ValueError("the PostgreSQL demo needs PostgreSQL as the default database")
    if requested not in ("sqlite", "postgresql"):
        raise ValueError(f"unknown backend {requested!r}")
    return requested


def postgres_names() -> dict[str, str]:
    default = connections["default"].settings_dict["NAME"]
    return {"crm": f"{default}_demo_crm", "repairs": f"{default}_demo_repairs"}


def sql_stores(backend: str) -> dict[str, SqliteStore | PostgresStore]:
    tables = {"crm": CRM_TABLES, "repairs": REPAIRS_TABLES}
    if backend == "postgresql":
        server = PostgresServer(connections["default"].settings_dict)
        return {slug: PostgresStore(server, name, tables[slug]) for slug, name in postgres_names().items()}  # fmt: skip
    return {slug: SqliteStore(demo_dir() / f"{slug}.sqlite3", tables[slug]) for slug in tables}


def drop_postgres_databases() -> None:
    """Drop the demo's PostgreSQL databases (tests clean up with this)."""
    server = PostgresServer(connections["default"].settings_dict)
    for name in postgres_names().values():
        server.drop_database(name)


def desk_path() -> Path:
    return demo_dir() / "supportdesk.sqlite3"


def _complete(stores: dict[str, Any]) -> dict[str, str] | None:
    meta = stores["crm"].meta()
    if not meta or meta.get("complete") != "yes" or not stores["repairs"].meta():
        return None
    if meta.get("version") != DEMO_VERSION:  # an earlier schema: the mappings would not fit
        return None
    folders = [demo_dir() / "events", demo_dir() / "prospects"]
    if not desk_path().exists() or not all(any(f.glob("*.csv")) for f in folders):
        return None
    return meta


@contextmanager
def _desk_writers() -> Iterator[dict[str, RowWriter]]:
    """The support desk's own SQLite file, emptied and refilled through its own helpers; its
    indexes are made again after loading. WAL: a running desk keeps answering meanwhile."""
    path = supportdesk.create_database(desk_path())
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.executescript(
            "DROP TABLE IF EXISTS calls; DROP TABLE IF EXISTS tickets; "
            "DROP TABLE IF EXISTS customers;"
        )
        conn.commit()
        supportdesk.create_database(path)
        for index in ("customers_phone_key", "customers_email_key", "tickets_customer",
                      "calls_customer"):  # fmt: skip
            conn.execute(f"DROP INDEX IF EXISTS {index}")
        conn.execute("PRAGMA synchronous = OFF")
        writers = {
            "customers": RowWriter(flush=lambda rows: supportdesk.add_customers(conn, rows)),
            "tickets": RowWriter(flush=lambda rows: supportdesk.add_tickets(conn, rows)),
            "calls": RowWriter(flush=lambda rows: supportdesk.add_calls(conn, rows)),
        }
        yield writers
        for writer in writers.values():
            writer.close()
        conn.execute("PRAGMA synchronous = NORMAL")
    finally:
        conn.close()
    supportdesk.create_database(path)  # the indexes, now that the rows are in
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("ANALYZE")
        conn.commit()


@contextmanager
def _csv_writers(folder: Path, files: dict[Any, str], header: tuple[str, ...]):
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.csv"):
        old.unlink()
    with ExitStack() as stack:
        writers = {}
        for key, name in files.items():
            handle: TextIO = stack.enter_context(
                open(folder / name, "w", newline="", encoding="utf-8")
            )
            writer = csv.writer(handle)
            writer.writerow(header)
            writers[key] = RowWriter(write=writer.writerow)
        yield writers


def _prospect_writer(writer: RowWriter, source: str, checked: str) -> RowWriter:
    """Prospect rows get their list's source and opt-out check added."""
    consent = f"not on the opt-out register (checked {checked})"
    inner = writer.write
    return RowWriter(write=lambda row: inner((*row, source, consent)))


def load_demo(options: DemoOptions, *, progress: Callable[[str], None] | None = None) -> DemoReport:
    """Build (or keep) the demo's stores, then create or update its five source systems."""
    say = progress or (lambda _line: None)
    if options.subjects < 2:
        raise ValueError("the demo needs at least 2 subjects")
    emails = [email.strip().lower() for email, _records in options.heavy]
    if len(set(emails)) != len(emails) or ARTA.email in emails:
        raise ValueError("each --heavy e-mail must be given once, and not be Arta's")
    backend = _backend(options.backend)
    stores = sql_stores(backend)
    started = time.perf_counter()
    meta = None if options.reset else _complete(stores)
    report = DemoReport(backend=backend, loaded=meta is None, meta=meta or {})
    report.locations = {slug: store.where for slug, store in stores.items()}
    report.locations["supportdesk"] = str(desk_path())
    report.locations["events"] = str(demo_dir() / "events")
    report.locations["prospects"] = str(demo_dir() / "prospects")
    if meta is None:
        report.meta = _build(options, stores, report, say)
    report.timings["total"] = time.perf_counter() - started
    _update_systems(options, backend, stores, report)
    return report


def _build(
    options: DemoOptions,
    stores: dict[str, Any],
    report: DemoReport,
    say: Callable[[str], None],
) -> dict[str, str]:
    for store in stores.values():
        store.drop()
    data = DemoData(subjects=options.subjects, seed=options.seed, heavy=options.heavy)
    began = time.perf_counter()

    def progress(done: int) -> None:
        if options.subjects >= 50_000:
            elapsed = time.perf_counter() - began
            say(f"  {done:,} of {options.subjects:,} subjects written ({elapsed:.0f} s)")

    event_files = {event.id: event.attendee_list for event in EVENTS if event.attendee_list}
    prospect_files = {name: name for name, _source, _checked in PROSPECT_LISTS}
    with ExitStack() as stack:
        crm = stack.enter_context(stores["crm"].writers())
        repairs = stack.enter_context(stores["repairs"].writers())
        desk = stack.enter_context(_desk_writers())
        events = stack.enter_context(
            _csv_writers(demo_dir() / "events", event_files, EVENT_LIST_COLUMNS)
        )
        prospect_raw = stack.enter_context(
            _csv_writers(demo_dir() / "prospects", prospect_files, PROSPECT_COLUMNS)
        )
        prospects = [
            _prospect_writer(prospect_raw[name], source, checked)
            for name, source, checked in PROSPECT_LISTS
        ]
        data.write(Sinks(crm, repairs, desk, events, prospects), progress)
    report.timings["generate_and_write"] = time.perf_counter() - began
    report.counts = {
        "crm": {name: writer.rows for name, writer in crm.items()},
        "repairs": {name: writer.rows for name, writer in repairs.items()},
        "supportdesk": {name: writer.rows for name, writer in desk.items()},
        "events": {event_files[key]: writer.rows for key, writer in events.items()},
        "prospects": {writer_name: p.rows for writer_name, p in zip(prospect_files, prospects, strict=True)},
    }  # fmt: skip
    meta = {
        "version": DEMO_VERSION,
        "subjects": str(options.subjects),
        "seed": str(options.seed),
        "heavy": ",".join(f"{email}:{records}" for email, records in options.heavy),
        "loaded_at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "rows": str(report.total_rows),
        "complete": "yes",
    }
    began = time.perf_counter()
    stores["repairs"].finish({**meta, "complete": "yes"})
    stores["crm"].finish(meta)  # the CRM's marker last: it says the whole demo is there
    report.timings["indexes_and_analyze"] = time.perf_counter() - began
    return meta


def _update_systems(
    options: DemoOptions, backend: str, stores: dict[str, Any], report: DemoReport
) -> None:
    server = next(iter(stores.values())).server if backend == "postgresql" else None
    url_env = bool(server and server.password)
    urls = {slug: store.url() for slug, store in stores.items()}
    if url_env:
        report.url_env = {URL_ENV[slug]: store.dbname for slug, store in stores.items()}
    by_slug = {category.slug: category for category in DataCategory.objects.all()}
    for spec in SYSTEMS:
        config = system_config(
            spec, var_dir=Path(settings.VAR_DIR), port=options.supportdesk_port, urls=urls,
            url_env=url_env,
        )  # fmt: skip
        slugs = config_categories(spec.connector, config)
        missing = sorted(slugs - set(by_slug))
        if missing:
            raise ValueError(
                f"{spec.slug}: the register has no data categories {', '.join(missing)}"
            )
        values = {
            "name": spec.name,
            "description": spec.description,
            "connector": spec.connector,
            "config": config,
            "active": True,
            "processor": spec.processor,
            "processor_email": spec.processor_email,
            "backup_days": spec.backup_days,
        }
        recipients = {r.code: r for r in Recipient.objects.filter(code__in=spec.disclosed_to)}
        missing = sorted(set(spec.disclosed_to) - set(recipients))
        if missing:
            raise ValueError(f"{spec.slug}: the register has no recipients {', '.join(missing)}")
        system, status = _upsert_system(spec.slug, values)
        # set() adds and removes only the differences: an unchanged list writes nothing.
        system.categories.set([by_slug[slug] for slug in sorted(slugs)])
        system.disclosed_to.set([recipients[code] for code in spec.disclosed_to])
        report.systems[spec.slug] = status


def _upsert_system(slug: str, values: dict[str, Any]) -> tuple[SourceSystem, str]:
    """Create the system, or update the fields that differ; an unchanged system is not saved,
    so that loading again (every `make run`) writes no register audit event."""
    system = SourceSystem.objects.filter(slug=slug).first()
    if system is None:
        return SourceSystem.objects.create(slug=slug, **values), "created"
    changed = {name: value for name, value in values.items() if getattr(system, name) != value}
    if not changed:
        return system, "unchanged"
    for name, value in changed.items():
        setattr(system, name, value)
    system.save()
    return system, "updated"
