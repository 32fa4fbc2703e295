"""The one rule e-mail addresses are compared by (dsar.identifiers.email_key), and phones in
E.164: ASCII letters match whatever their case, everything else only itself."""

from __future__ import annotations

import pytest

from dsar.identifiers import Identifier, InvalidEmail, email_key, same_email

ARTA = "arta.krasniqi@demo.example"


@pytest.mark.parametrize(
    "same",
    [
        "arta.krasniqi@demo.example",
        "  Arta.Krasniqi@DEMO.example ",  # spaces around, ASCII case
        "ARTA.KRASNIQI@Demo.Example.",  # a root dot on the domain
    ],
)
def test_ascii_case_and_surrounding_spaces_make_no_difference(same):
    assert email_key(same) == ARTA
    assert same_email(same, ARTA)


@pytest.mark.parametrize(
    "other",
    [
        "arta.krasn\u0131q\u0131@demo.example",  # dotless i
        "arta.kra\u017fniqi@demo.example",  # long s
        "ARTA.KRASN\u0130Q\u0130@demo.example",  # dotted capital I
        "arta.\u212arasniqi@demo.example",  # Kelvin sign (NFC would make it K)
        "\u0430rta.krasniqi@demo.example",  # Cyrillic a
        "arta.krasniqi@demo.exampl\u0435",  # Cyrillic e in the domain
        "\uff41rta.krasniqi@demo.example",  # fullwidth a (NFKC would make it a)
        "arta.krasniqi\u200b@demo.example",  # zero-width space
        "arte\u0301.krasniqi@demo.example",  # a combining accent
        "arta.krasniqi+dsar@demo.example",  # plus-tags are kept: another mailbox
    ],
)
def test_no_look_alike_is_the_same_address(other):
    assert not same_email(other, ARTA)
    assert Identifier("email", other).value != Identifier("email", ARTA).value


def test_the_domain_is_compared_in_its_ascii_form():
    assert email_key("arta@BÜCHER.example") == "arta@xn--bcher-kva.example"
    assert same_email("arta@bücher.example", "arta@xn--bcher-kva.example")


def test_non_ascii_letters_of_the_local_part_are_kept_exactly():
    assert email_key("Çela@demo.example") == "Çela@demo.example"
    assert not same_email("Çela@demo.example", "çela@demo.example")


@pytest.mark.parametrize(
    "bad", ["", "arta", "arta@", "@demo.example", "ar ta@demo.example", "arta@-bad-.example"]
)
def test_what_is_no_address_is_refused(bad):
    with pytest.raises(InvalidEmail):
        email_key(bad)
    assert not same_email(bad, ARTA)


def test_no_address_in_an_email_column_matches_only_itself():
    assert Identifier("email", "N/A").value == "n/a"


@pytest.mark.parametrize(
    "written", ["+355 69 200 4242", "00355692004242", "069 200 4242", "(069) 200-4242"]
)
def test_phones_are_compared_in_e164_with_the_default_region(written, settings):
    settings.DSAR_PHONE_REGION = "AL"
    assert Identifier("phone", written).value == "+355692004242"


def test_a_value_that_is_no_phone_is_left_unusable():
    assert not Identifier("phone", "n/a").usable
