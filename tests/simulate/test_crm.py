"""CRM: orders follow the recorded BG/NBD + Gamma-Gamma truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spendlab.simulate import SimConfig, simulate


def test_orders_match_customer_truth(market):
    orders = market.frames["orders"]
    customers = market.frames["customers"]
    truth = market.crm.truth_customers.set_index("customer_id")
    counts = orders.groupby("customer_id").size()
    assert (counts.reindex(truth.index) == 1 + truth["x"]).all()
    first = orders.groupby("customer_id")["timestamp"].min()
    pd.testing.assert_series_equal(
        first.reindex(customers["customer_id"]).reset_index(drop=True),
        customers["first_seen"].rename("timestamp"),
    )
    assert orders["order_id"].is_unique
    assert (orders["value"] > 0).all()
    assert set(customers["acquisition_channel"]) >= {"paid_search", "organic_search"}


def test_expected_purchases_formula(market):
    t = market.crm.truth_customers
    per = (1 - np.exp(-t["lambda"] * t["p"] * 90)) / t["p"]
    np.testing.assert_allclose(t["expected_purchases_90d"], t["prob_alive"] * per)
    np.testing.assert_allclose(t["expected_purchases_90d_given_state"], t["alive"] * per)
    assert ((t["prob_alive"] > 0) & (t["prob_alive"] <= 1)).all()
    assert (t.loc[t["x"] == 0, "prob_alive"] == 1).all()
    assert (t.loc[~t["alive"], "future_purchases_90d"] == 0).all()
    np.testing.assert_allclose(t["mean_spend"], market.config.crm_p / t["nu"])


def test_expected_purchases_are_calibrated():
    m = simulate(SimConfig(seed=4, days=60, campaigns=4, users=10, customers=20_000))
    t = m.crm.truth_customers
    assert t["future_purchases_90d"].sum() == pytest.approx(
        t["expected_purchases_90d_given_state"].sum(), rel=0.05
    )
    assert t["future_purchases_90d"].sum() == pytest.approx(
        t["expected_purchases_90d"].sum(), rel=0.08
    )
