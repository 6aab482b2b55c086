from pathlib import Path

import pandas as pd
import pytest

from spendlab.data.ingest import ingest_file
from spendlab.data.sources import get_source
from spendlab.data.sources.crm import pseudonymize
from spendlab.errors import SourceFormatError, ValidationError

SHOP = Path(__file__).parents[1] / "fixtures" / "crm" / "shopify_orders.csv"


def load(ws, path=SHOP, **options):
    return ingest_file(ws, path, "crm_orders", options)


def test_line_items_aggregate_to_orders_net_of_tax_in_utc(workspace):
    r = load(workspace)
    assert r.tables["orders"].added == 3 and r.tables["customers"].added == 2
    o = workspace.table("orders").order_by("order_id").to_pandas()
    assert o.order_id.tolist() == ["#1001", "#1002", "#1003"]
    assert o.value.tolist() == [55.0, 20.0, 100.0]
    assert o["items"].tolist() == [3, 1, 3]
    assert [str(t) for t in o.timestamp] == [
        "2024-11-01 15:15:00",
        "2024-11-03 08:00:00",
        "2024-11-04 23:30:00",
    ]
    assert o.extras.iloc[1] == {"refunded": 10.0}


def test_emails_are_pseudonymised_and_never_stored(workspace):
    load(workspace)
    o = workspace.table("orders").to_pandas()
    assert o.customer_id.nunique() == 2  # case and whitespace do not split a customer
    assert pseudonymize("jane.doe@example.com") in set(o.customer_id)
    dump = (
        workspace.table("orders").to_pandas().to_csv()
        + workspace.table("customers").to_pandas().to_csv()
    )
    assert "@" not in dump


def test_customers_first_seen_and_channel(workspace):
    load(workspace)
    c = workspace.table("customers").to_pandas().set_index("customer_id")
    jane = c.loc[pseudonymize("jane.doe@example.com")]
    assert str(jane.first_seen) == "2024-11-01 15:15:00" and jane.acquisition_channel == "web"


def test_gross_value_option_and_idempotency(workspace):
    load(workspace, value="total")
    assert workspace.table("orders").value.sum().execute() == pytest.approx(189.10)
    again = load(workspace, value="total")
    assert again.added == 0 and again.unchanged == 5


def test_bad_total_is_reported_on_its_line(workspace, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text(
        SHOP.read_text()
        .replace(",21.60,", ",12,34,5,")
        .replace("Lineitem quantity", "Lineitem quantity")
    )
    with pytest.raises((ValidationError, SourceFormatError)):
        load(workspace, f)
    assert workspace.table("orders").count().execute() == 0


def test_missing_name_column(workspace, tmp_path):
    f = tmp_path / "noname.csv"
    pd.read_csv(SHOP).drop(columns="Name").to_csv(f, index=False)
    with pytest.raises(SourceFormatError, match="'Name'"):
        load(workspace, f)


def test_two_totals_for_one_order_is_an_error(workspace, tmp_path):
    f = tmp_path / "twice.csv"
    lines = SHOP.read_text().splitlines()
    lines[2] = lines[1]
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(SourceFormatError, match="rows 2 and 3"):
        load(workspace, f)


def test_mapped_layout_for_other_crms(workspace, tmp_path):
    f = tmp_path / "erp.csv"
    f.write_text("OrderNo,Cust,When,Net\nA-1,C9,2024-01-02 03:04:05,12.5\n")
    r = load(
        workspace,
        f,
        map="order_id=OrderNo,customer_id=Cust,timestamp=When,value=Net",
        currency="USD",
        timezone="Europe/Berlin",
    )
    assert r.tables["orders"].added == 1
    o = workspace.table("orders").to_pandas()
    assert o.customer_id[0] == "C9" and str(o.timestamp[0]) == "2024-01-02 02:04:05"


def test_writer_round_trip(workspace, tmp_path):
    orders = pd.DataFrame(
        {
            "order_id": ["o1", "o2"],
            "customer_id": ["7", "8"],
            "timestamp": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 11:00"]),
            "value": [10.25, 99.0],
            "currency": "USD",
            "items": [1, 4],
            "country": ["US", "FR"],
            "channel": ["web", "app"],
        }
    )
    path = get_source("crm_orders").write({"orders": orders}, tmp_path / "o.csv")
    load(workspace, path)
    got = workspace.table("orders").order_by("order_id").to_pandas()
    assert got.value.tolist() == [10.25, 99.0] and got["items"].tolist() == [1, 4]
    assert got.customer_id.tolist() == [
        pseudonymize("customer_7@example.com"),
        pseudonymize("customer_8@example.com"),
    ]
