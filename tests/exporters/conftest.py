"""Plain facts and records for the exporter tests: a small register after the privacy statement
(in Albanian and English), and records with everything awkward a source system can hold.

Nothing here needs a database: the exporters take plain data.
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import pypdf
import pytest

from exporters.context import BundleFacts, CategoryInfo

CATALOG = Path(__file__).resolve().parents[2] / "exporters" / "locale" / "sq" / "LC_MESSAGES"


@pytest.fixture(scope="session", autouse=True)
def _exporters_catalog_compiled():
    """The .mo files are not in git and `make messages` compiles casework's and dsar's: compile
    the exporters' catalog when it is missing or older than its .po, and make Django load the
    catalogs again (another test may have loaded Albanian without it)."""
    po, mo = CATALOG / "django.po", CATALOG / "django.mo"
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return
    subprocess.run(["msgfmt", "--check-format", "-o", str(mo), str(po)], check=True)
    from asgiref.local import Local
    from django.utils.translation import trans_real

    trans_real._translations = {}
    trans_real._default = None
    trans_real._active = Local()


REFERENCE = "DSAR-2026-000042"
SCRIPT = "<script>alert('x')</script>"
IMG = '<img src="file:///etc/passwd">'
HEBREW = "שלום עולם"
ARABIC = "مرحبا بالعالم"
EMOJI = "😀"  # DejaVu Sans has it (not every emoji: 👍 it has not)
LONG = "Lorem ipsum dolor sit amet " * 200  # 5,400 characters
LONG_WORD = "x" * 3000
BINARY = {
    "binary": 48213,
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}

TEXTS = {
    "en": {
        "online_account": (
            "Online account",
            "The personal information you give us when you create an online account.",
            "Name, position in your business, business e-mail or phone number.",
        ),
        "browsing": (
            "Browsing, device and interaction data",
            "What we observe when you use our websites and apps.",
            "Pages visited, search terms, browser, IP address.",
        ),
        "prospects": (
            "Prospects",
            "Contact details of possible customers, from our sector partners.",
            "Name, business e-mail, company.",
        ),
        "legal": (
            "Legal and regulatory records",
            "Records that we need for fraud reporting, contracts and investigations.",
            "",
        ),
        "payments": ("Payments", "Payment card details.", ""),
        "purpose_identify": "Identify you and let you log in",
        "purpose_marketing": "Marketing, where lawful",
        "basis_contract": "Contract with your business (Art. 6(1)(b) GDPR)",
        "basis_interests": "Legitimate interests (Art. 6(1)(f) GDPR)",
        "recipient": "Hosting providers and software developers",
        "retention": "While your account is active, then at most 6 years",
        "transfer": "United States: EU standard contractual clauses (Art. 46(2)(c) GDPR)",
        "source_partner": "Sector partners and professional bodies",
        "not_held": "Card payments go through third-party payment platforms; we never see them.",
        "rights": "",
        "complaint": "",
        "failed": "Support desk (tickets)",
    },
    "sq": {
        "online_account": (
            "Llogaria në internet",
            "Informacioni personal që na jepni kur krijoni një llogari në internet.",
            "Emri, pozicioni brenda biznesit, emaili ose numri i telefonit i biznesit.",
        ),
        "browsing": (
            "Të dhëna shfletimi, pajisjeje dhe ndërveprimi",
            "Çfarë vërejmë kur përdorni faqet dhe aplikacionet tona.",
            "Faqet e vizituara, termat e kërkimit, shfletuesi, adresa IP.",
        ),
        "prospects": (
            "Klientë të mundshëm",
            "Të dhëna kontakti të klientëve të mundshëm, nga partnerët tanë të sektorit.",
            "Emri, emaili i biznesit, shoqëria.",
        ),
        "legal": (
            "Të dhëna ligjore dhe rregullatore",
            "Të dhëna që na duhen për raportimin e mashtrimeve, kontratat dhe hetimet.",
            "",
        ),
        "payments": ("Pagesat", "Të dhënat e kartave të pagesës.", ""),
        "purpose_identify": "Identifikimi juaj dhe hyrja në llogari",
        "purpose_marketing": "Marketingu, kur është i ligjshëm",
        "basis_contract": "Kontrata me biznesin tuaj (neni 6(1)(b) i GDPR-së)",
        "basis_interests": "Interesat legjitime (neni 6(1)(f) i GDPR-së)",
        "recipient": "Ofruesit e pritjes dhe zhvilluesit e programeve",
        "retention": "Sa kohë që llogaria është aktive, pastaj jo më shumë se 6 vjet",
        "transfer": "Shtetet e Bashkuara: klauzolat standarde kontraktuale të BE-së",
        "source_partner": "Partnerët e sektorit dhe organizatat profesionale",
        "not_held": "Pagesat me kartë kryhen nga platforma pagesash të palëve të treta.",
        "rights": "",
        "complaint": "",
        "failed": "Sistemi i ndihmës (biletat)",
    },
}


def register(language: str) -> list[CategoryInfo]:
    t = TEXTS[language]

    def texts(slug):
        name, description, examples = t[slug]
        return {"name": name, "description": description, "examples": examples}

    common = {
        "legal_bases": [t["basis_contract"], t["basis_interests"]],
        "recipients": [t["recipient"]],
        "retention": t["retention"],
    }
    return [
        CategoryInfo(
            slug="online_account",
            code="2.1",
            origin="provided",
            portable=True,
            purposes=[t["purpose_identify"]],
            sources=["—"],
            transfers=[t["transfer"]],
            field_labels={"full_name": "Full name" if language == "en" else "Emri"},
            **texts("online_account"),
            **common,
        ),
        CategoryInfo(
            slug="browsing",
            code="2.4.1",
            origin="observed",
            portable=True,
            purposes=[t["purpose_marketing"]],
            **texts("browsing"),
            **common,
        ),
        CategoryInfo(
            slug="prospects",
            code="2.6",
            origin="third_party",
            portable=False,
            purposes=[t["purpose_marketing"]],
            sources=[t["source_partner"]],
            **texts("prospects"),
            **common,
        ),
        CategoryInfo(
            slug="legal",
            code="2.11",
            origin="inferred",
            purposes=[t["purpose_identify"]],
            **texts("legal"),
            **common,
        ),
        CategoryInfo(
            slug="payments",
            code="2.9",
            held=False,
            not_held_reason=t["not_held"],
            **texts("payments"),
        ),
    ]


def make_facts(
    language: str = "en",
    request_type: str = "access",
    *,
    failed: bool = False,
    categories: list[CategoryInfo] | None = None,
) -> BundleFacts:
    return BundleFacts(
        reference=REFERENCE,
        request_type=request_type,
        language=language,
        subject_name="Arta Krasniqi",
        received_on=dt.date(2026, 11, 2),
        due_on=dt.date(2026, 12, 2),
        generated_at=dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC),
        controller_name="Canon Albania sh.p.k.",
        controller_contact="Rruga e Kavajës 1, Tiranë\nprivacy@canon.demo.example",
        dpo_email="dpo@canon.demo.example",
        failed_sources=[TEXTS[language]["failed"]] if failed else [],
        categories=register(language) if categories is None else categories,
        generator_version="dsar-exporters test",
        time_zone="Europe/Tirane",
    )


def sample_records() -> dict[str, list[dict]]:
    account = [
        {
            "source": "crm accounts",
            "key": "acc-1",
            "found_by": "email",
            "data": {
                "full_name": "Arta Krasniqi",
                "job_title": "Drejtoreshë e shitjeve",
                "business_email": "arta.krasniqi@demo.example",
                "note": SCRIPT,
                "city": "Tiranë, Korçë, Gjirokastër",
            },
        },
        {
            "source": "crm accounts",
            "key": "acc-2",
            "found_by": "email",
            "data": {
                "full_name": '=HYPERLINK("http://evil.example")',
                "job_title": "+1 formula",
                "business_email": "-cmd",
                "note": "@SUM(A1:A2)",
                "city": "\tTabbed",
                "phone": "\rcarriage",
            },
        },
        {
            "source": "web portal",
            "key": "acc-3",
            "found_by": "customer_number",
            "data": {
                "full_name": f"Arta {EMOJI} ë ç Ë Ç",
                "job_title": HEBREW,
                "business_email": ARABIC,
                "note": IMG,
                "photo": BINARY,
                "preferences": {"newsletter": True, "languages": ["sq", "en"], "score": 4.5},
                "logins": 17,
                "verified": False,
                "deleted": None,
            },
        },
    ]
    browsing = [
        {
            "source": "web analytics",
            "key": f"visit-{i}",
            "found_by": "cookie_id",
            "data": {"page": f"/products/{i}", "seconds": i * 1.5, "search": "printer ë"},
        }
        for i in range(12)
    ]
    browsing.append(
        {
            "source": "web analytics",
            "key": "visit-long",
            "found_by": "cookie_id",
            "data": {"page": LONG, "seconds": 0.25, "search": LONG_WORD},
        }
    )
    prospects = [
        {
            "source": "lead lists",
            "key": "lead-9",
            "found_by": "email",
            "data": {
                "full_name": "Arta Krasniqi",
                "company": "Demo sh.p.k.",
                "source": "fair 2025",
            },
        }
    ]
    return {"online_account": account, "browsing": browsing, "prospects": prospects, "legal": []}


def records_from(data: dict[str, list[dict]]) -> Callable[[str], object]:
    def records_by_category(slug: str):
        yield from data.get(slug, [])

    return records_by_category


@pytest.fixture
def records() -> dict[str, list[dict]]:
    return sample_records()


@pytest.fixture
def records_by_category(records):
    return records_from(records)


def pdf_pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def flat(text: str) -> str:
    """Lines joined and spaces collapsed, so that wrapped phrases can be found."""
    return " ".join(text.split())


def squeeze(text: str) -> str:
    """Without any whitespace: a phrase wrapped at a hyphen or in a narrow cell still reads as
    one."""
    return "".join(text.split())
