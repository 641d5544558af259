"""The sandbox's pure rules for bank accounts, wallets, exchange rates and showing amounts (no process needed)."""

from decimal import Decimal

import pytest

from sandbox import banks, fx, wallets
from sandbox.money import format_amount

KEY = "test-fingerprint-key"

# The documented test accounts (sandbox/README.md) and what each one does.
US_TEST_ACCOUNTS = {"000123456789": "settle", "000111111116": "return_r01", "000111111113": "fail_r03"}
TEST_IBANS = {
    "DE89370400440532013000": "settle",
    "DE28370400440111111116": "return_r01",
    "DE12370400440111111113": "fail_r03",
    "NL91ABNA0417164300": "settle",
    "NL45ABNA0111111116": "return_r01",
    "NL29ABNA0111111113": "fail_r03",
    "FR1420041010050500013M02606": "settle",
}


@pytest.mark.parametrize("routing", ["110000000", "021000021", "026009593", "121000248", "011000015"])
def test_aba_routing_numbers_with_a_valid_checksum(routing):
    assert banks.aba_routing_valid(routing)


@pytest.mark.parametrize("routing", ["110000001", "021000022", "11000000", "1100000000", "11000000a", ""])
def test_aba_routing_numbers_with_a_wrong_checksum_or_shape(routing):
    assert not banks.aba_routing_valid(routing)


@pytest.mark.parametrize(("account", "behaviour"), sorted(US_TEST_ACCOUNTS.items()))
def test_us_test_accounts_select_their_behaviour(account, behaviour):
    found = banks.us_bank_account(routing_number="110000000", account_number=account, fingerprint_key=KEY)

    assert (found.country, found.last4, found.behaviour) == ("US", account[-4:], behaviour)
    assert found.bank_name == "Sandbox Test Bank"


@pytest.mark.parametrize(("iban", "behaviour"), sorted(TEST_IBANS.items()))
def test_test_ibans_are_valid_and_select_their_behaviour(iban, behaviour):
    assert banks.iban_checksum_valid(iban)
    found = banks.sepa_bank_account(country=iban[:2], iban=iban, fingerprint_key=KEY)

    assert (found.country, found.last4, found.behaviour) == (iban[:2], iban[-4:], behaviour)


def test_an_iban_may_be_written_in_groups_and_lower_case():
    spaced = banks.sepa_bank_account(country="DE", iban="de89 3704 0044 0532 0130 00", fingerprint_key=KEY)
    plain = banks.sepa_bank_account(country="DE", iban="DE89370400440532013000", fingerprint_key=KEY)

    assert spaced == plain
    assert plain.bank_name == "Commerzbank"


@pytest.mark.parametrize(
    ("country", "iban", "why"),
    [
        ("DE", "DE88370400440532013000", "check digits"),
        ("DE", "DE8937040044053201300", "length"),
        ("NL", "DE89370400440532013000", "country"),
        ("DE", "DE89-3704-0044-0532-0130-00", "shape"),
        ("DE", "", "shape"),
    ],
)
def test_bad_ibans_are_refused_with_the_param(country, iban, why):
    with pytest.raises(banks.BankAccountInvalid) as caught:
        banks.sepa_bank_account(country=country, iban=iban, fingerprint_key=KEY)

    assert caught.value.param == "iban", why


@pytest.mark.parametrize(
    ("routing", "account", "param"),
    [
        ("110000001", "000123456789", "routing_number"),
        ("110000000", "123", "account_number"),
        ("110000000", "123456789012345678", "account_number"),
        ("110000000", "0001234x", "account_number"),
    ],
)
def test_bad_us_accounts_are_refused_with_the_param(routing, account, param):
    with pytest.raises(banks.BankAccountInvalid) as caught:
        banks.us_bank_account(routing_number=routing, account_number=account, fingerprint_key=KEY)

    assert caught.value.param == param


def test_the_fingerprint_is_a_keyed_hash_stable_per_account():
    def us(routing="110000000", account="000123456789", key=KEY):
        return banks.us_bank_account(routing_number=routing, account_number=account, fingerprint_key=key).fingerprint

    assert us() == us()
    assert len(us()) == 16 and int(us(), 16) >= 0
    assert us() != us(account="000123456780")
    assert us() != us(routing="021000021")
    assert us() != us(key="another-key")
    assert "000123456789" not in us()


def test_fx_rates_are_six_place_decimal_strings_nudged_by_the_drift():
    plain = fx.rates_with_drift(0)
    up = fx.rates_with_drift(100)

    assert plain == fx.RATES
    assert all(isinstance(rate, str) and len(rate.split(".")[1]) == 6 for rate in {**plain, **up}.values())
    assert up["EUR"] == "0.930513"  # 0.9213 × 1.01
    assert up["JPY"] == "152.742300"
    assert fx.rates_with_drift(-100)["EUR"] == "0.912087"
    assert all(Decimal(up[currency]) > Decimal(plain[currency]) for currency in plain)


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1999, "USD", "USD 19.99"),
        (123456789, "EUR", "EUR 1,234,567.89"),
        (1999, "JPY", "JPY 1,999"),
        (1999, "KWD", "KWD 1.999"),
        (5, "USD", "USD 0.05"),
        (0, "GBP", "GBP 0.00"),
    ],
)
def test_amounts_are_shown_in_the_currencys_minor_units(amount, currency, shown):
    assert format_amount(amount, currency) == shown


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("https://shop.example/return", True),
        ("http://127.0.0.1:8000/pay/return?x=1", True),
        ("javascript:alert(1)", False),
        ("data:text/html,hi", False),
        ("/relative", False),
        ("https://", False),
        ('https://shop.example/"><script>', False),
        ("https://shop.example/" + "a" * 2000, False),
    ],
)
def test_only_http_urls_are_return_urls(url, valid):
    assert wallets.return_url_valid(url) is valid


def test_the_return_redirect_adds_the_charge_and_its_status():
    redirect = wallets.return_redirect("https://shop.example/back?order=7&status=x#top", charge_id="ch_1", status="ok")

    assert redirect == "https://shop.example/back?order=7&charge=ch_1&status=ok#top"


def test_action_tokens_are_compared_whole():
    token = wallets.new_action_token()

    assert wallets.action_token_matches(token, token)
    assert not wallets.action_token_matches(token, token[:-1])
    assert not wallets.action_token_matches(token, None)
    assert not wallets.action_token_matches(None, "")
