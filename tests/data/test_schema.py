from pathlib import Path

from spendlab.data.schema import TABLES, data_model_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"


def test_data_model_doc_is_generated_from_the_schema():
    text = DOC.read_text(encoding="utf-8")
    begin = text.index("<!-- BEGIN GENERATED")
    body = text[text.index("\n", begin) + 1 : text.index("<!-- END GENERATED -->")]
    assert body == data_model_markdown(), (
        "docs/data-model.md is stale: regenerate the section from "
        "spendlab.data.schema.data_model_markdown()"
    )


def test_every_table_has_a_key_and_keys_are_never_nullable():
    for spec in TABLES.values():
        assert spec.key, spec.name
        for k in spec.key:
            c = spec.column(k)
            assert c.required or c.default is not None, (spec.name, k)


def test_money_tables_carry_currency_and_rate():
    for spec in TABLES.values():
        if spec.money_columns:
            assert spec.has_currency, spec.name
