"""The countries offered on the form. The regime of each comes from the CountryRegime table
(casework.portal.selectors.regime_for); "ZZ" (ISO's code for an unknown territory) is any other."""

from __future__ import annotations

import unicodedata
from functools import cache

from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

OTHER = "ZZ"
US = "US"

COUNTRIES = [
    ("AL", _("Albania")),
    ("AT", _("Austria")),
    ("BE", _("Belgium")),
    ("BA", _("Bosnia and Herzegovina")),
    ("BG", _("Bulgaria")),
    ("HR", _("Croatia")),
    ("CY", _("Cyprus")),
    ("CZ", _("Czechia")),
    ("DK", _("Denmark")),
    ("EE", _("Estonia")),
    ("FI", _("Finland")),
    ("FR", _("France")),
    ("DE", _("Germany")),
    ("GR", _("Greece")),
    ("HU", _("Hungary")),
    ("IS", _("Iceland")),
    ("IE", _("Ireland")),
    ("IT", _("Italy")),
    ("XK", _("Kosovo")),
    ("LV", _("Latvia")),
    ("LI", _("Liechtenstein")),
    ("LT", _("Lithuania")),
    ("LU", _("Luxembourg")),
    ("MT", _("Malta")),
    ("MD", _("Moldova")),
    ("ME", _("Montenegro")),
    ("NL", _("Netherlands")),
    ("MK", _("North Macedonia")),
    ("NO", _("Norway")),
    ("PL", _("Poland")),
    ("PT", _("Portugal")),
    ("RO", _("Romania")),
    ("RS", _("Serbia")),
    ("SK", _("Slovakia")),
    ("SI", _("Slovenia")),
    ("ES", _("Spain")),
    ("SE", _("Sweden")),
    ("CH", _("Switzerland")),
    ("TR", _("Türkiye")),
    ("UA", _("Ukraine")),
    ("GB", _("United Kingdom")),
    (US, _("United States")),
]


def _sort_key(label: str) -> str:
    return unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()


def country_choices() -> list[tuple[str, str]]:
    """The countries sorted by their name in the active language, then "another country"."""
    return _choices_in(get_language())


@cache  # one list per language: the form is built and validated on every post
def _choices_in(language: str | None) -> list[tuple[str, str]]:
    named = sorted(((code, str(name)) for code, name in COUNTRIES), key=lambda c: _sort_key(c[1]))
    return [("", str(_("Choose a country"))), *named, (OTHER, str(_("Another country")))]
