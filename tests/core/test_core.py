import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spendlab.core.dates import DateRange
from spendlab.core.hierarchy import Level, id_column, parents
from spendlab.core.metrics import METRICS, ZeroPolicy, metric
from spendlab.core.money import is_currency, money_equal, to_decimal


def test_previous_period_has_same_length_and_ends_the_day_before():
    r = DateRange(dt.date(2024, 3, 1), dt.date(2024, 3, 31))
    p = r.previous()
    assert p == DateRange(dt.date(2024, 1, 30), dt.date(2024, 2, 29))
    assert p.days == r.days == 31


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 1, 1)), st.integers(1, 400))
def test_previous_is_adjacent_and_disjoint(start, n):
    r = DateRange(start, start + dt.timedelta(days=n - 1))
    p = r.previous()
    assert p.end + dt.timedelta(days=1) == r.start and p.days == r.days
    assert r.start not in p and p.end not in r


def test_last_n_days_excludes_today():
    r = DateRange.last_n_days(7, today=dt.date(2024, 5, 8))
    assert (r.start, r.end) == (dt.date(2024, 5, 1), dt.date(2024, 5, 7))
    assert dt.date(2024, 5, 8) not in r


def test_reversed_range_is_a_clear_error():
    with pytest.raises(ValueError, match="swap"):
        DateRange(dt.date(2024, 2, 1), dt.date(2024, 1, 1))


def test_every_ratio_states_its_zero_denominator_policy():
    for m in METRICS.values():
        if m.is_ratio:
            assert isinstance(m.zero_policy, ZeroPolicy), m.name
    assert metric("cpa").zero_policy is ZeroPolicy.INFINITE
    with pytest.raises(KeyError, match="known metrics"):
        metric("roi")


def test_hierarchy_ids_and_parents():
    assert id_column("ad_group") == "ad_group_id"
    assert parents(Level.KEYWORD) == (Level.ACCOUNT, Level.CAMPAIGN, Level.AD_GROUP)
    assert parents(Level.AD) == (Level.ACCOUNT, Level.CAMPAIGN, Level.AD_GROUP)


def test_money_decimal_at_micros_precision():
    assert to_decimal(0.1) + to_decimal(0.2) == Decimal("0.300000")
    assert money_equal(1.0000004, 1.0)
    assert not money_equal(1.000002, 1.0)
    assert is_currency("EUR") and not is_currency("EURO") and not is_currency("usd")


def test_idempotency_key_survives_a_json_round_trip():
    from datetime import date
    from decimal import Decimal

    from spendlab.core.actions import Action, ActionKind, EntityRef
    from spendlab.core.hierarchy import Level

    ref = EntityRef("google_ads", Level.KEYWORD, "1", "2", "3", "4")
    a = Action(ref, ActionKind.SET_BID, Decimal("1.00"), Decimal("1.10"), "r", date(2024, 5, 1))
    back = Action.from_dict(a.to_dict())
    assert back.idempotency_key() == a.idempotency_key()
    b = Action(ref, ActionKind.SET_BID, Decimal("1.00"), Decimal("100"), "r", date(2024, 5, 1))
    c = Action(ref, ActionKind.SET_BID, Decimal("1.00"), Decimal("1E+2"), "r", date(2024, 5, 1))
    assert b.idempotency_key() == c.idempotency_key() != a.idempotency_key()
