"""Money: ISO 4217 currency codes and Decimal helpers for boundaries and stored thresholds.

Inside the warehouse, metrics are float64 in the workspace currency; at the boundaries (rule
thresholds, export files, API payloads) amounts are :class:`decimal.Decimal`, compared at a stated
precision.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

#: Active ISO 4217 codes (2024 list), enough to reject typos such as "USDD" or "EURO".
CURRENCIES: frozenset[str] = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW
    KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN
    NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK
    SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS
    VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL""".split()
)

#: Precision at which stored money is compared (micros, as the Google Ads API reports cost).
MONEY_QUANTUM = Decimal("0.000001")


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Convert to Decimal at :data:`MONEY_QUANTUM` precision (banker's rounding)."""
    if isinstance(value, float):
        value = repr(value)
    return Decimal(value).quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


def money_equal(a: float | Decimal, b: float | Decimal) -> bool:
    """True when two amounts agree at :data:`MONEY_QUANTUM` precision."""
    return to_decimal(a) == to_decimal(b)


def is_currency(code: str) -> bool:
    """True for an active ISO 4217 code written in upper case."""
    return code in CURRENCIES
