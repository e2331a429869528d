"""Money in integer minor units (ISO 4217), with no floating point amounts."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from services.briefs.model import Money

# ISO 4217 minor-unit exponents that differ from the usual 2.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
         "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    "CLF": 4,
    "UYW": 4,
}


def is_currency_code(code: str) -> bool:
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def expected_value(value: Money, probability: float) -> Money:
    """value × probability, rounded half-to-even to whole minor units."""
    raw = Decimal(value.minor_units) * Decimal(repr(probability))
    return Money(int(raw.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)), value.currency)


def to_major(amount: Money) -> float:
    """For dimensionless scores only (never for stored amounts)."""
    return amount.minor_units / 10 ** exponent(amount.currency)


def parse_major(text: str, currency: str) -> int:
    """"1250.50" in `currency` → minor units; ValueError if malformed or too precise."""
    try:
        amount = Decimal(text.strip().replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {text!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {text!r}")
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{currency} has {exponent(currency)} decimal places, got {text!r}")
    return int(scaled)


def format_money(amount: Money) -> str:
    """"1,250.00 USD" (no symbols, no locale)."""
    places = exponent(amount.currency)
    major = Decimal(amount.minor_units).scaleb(-places)
    return f"{major:,.{places}f} {amount.currency}"
