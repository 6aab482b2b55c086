"""Bad input fails early with a message that names the problem and the fix."""

from __future__ import annotations

import numpy as np
import pytest

from spendlab.errors import ConfigError, DataError, NotFittedError
from spendlab.measure.mmm import MMM, LiftTest, MMMConfig
from spendlab.measure.mmm.data import prepare

CFG = MMMConfig(date="date", target="sales", channels=("search", "social"), controls=("price",))


def test_clean_data_prepares_with_scaling(weekly):
    df, _ = weekly
    prep = prepare(df, CFG)
    assert prep.period_days == 7 and prep.max_lag == 8
    nz = df["search"][df["search"] > 0]
    np.testing.assert_allclose(prep.x_scale[0], nz.mean())
    np.testing.assert_allclose(prep.y_scale, df["sales"].mean())


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.assign(search=0.0), "no spend at all"),
        (lambda d: d.assign(search=5.0), "same 5.0 every period"),
        (lambda d: d.assign(search=d["search"].where(d.index != 3, np.nan)), "missing value"),
        (lambda d: d.assign(social=d["social"].where(d.index != 4, -1.0)), "negative spend"),
        (lambda d: d.drop(index=10), "date gap"),
        (lambda d: d.head(12), "parameters"),
        (lambda d: d.assign(price=1.0), "control 'price' is constant"),
        (lambda d: d.assign(search=d["search"].astype(object).where(d.index != 2, "n/a")),
         "not a number"),
    ],
)  # fmt: skip
def test_bad_input_raises_clear_error(weekly, mutate, match):
    df, _ = weekly
    with pytest.raises(DataError, match=match):
        prepare(mutate(df.copy()), CFG)


def test_low_variation_warns(weekly):
    df, _ = weekly
    d = df.copy()
    d["search"] = 100.0 + 0.01 * np.arange(len(d))
    with pytest.warns(UserWarning, match="barely varies"):
        prepare(d, CFG)


def test_config_errors(weekly):
    df, _ = weekly
    with pytest.raises(ConfigError, match="not in the data"):
        prepare(df, MMMConfig(date="date", target="sales", channels=("tv",)))
    with pytest.raises(ConfigError, match="adstock"):
        MMMConfig(date="d", target="y", channels=("a",), adstock="exp")
    with pytest.raises(ConfigError, match="standard_error"):
        MMMConfig(date="d", target="y", channels=("a",),
                  lift_tests=(LiftTest("a", "2022-01-01", "2022-02-01", 10.0, 0.0),))  # fmt: skip
    lt = LiftTest("search", "2030-01-01", "2030-02-01", 10.0, 1.0)
    with pytest.raises(ConfigError, match="outside the data"):
        prepare(df, MMMConfig(date="date", target="sales", channels=("search",), lift_tests=(lt,)))


def test_not_fitted():
    with pytest.raises(NotFittedError):
        MMM(CFG).summary()
