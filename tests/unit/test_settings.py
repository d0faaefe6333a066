"""Workspace config: defaults, unknown keys with their location, env overrides, ${VAR} substitution."""

from __future__ import annotations

import pytest

from c360.errors import ConfigError
from c360.settings import Settings, parse_settings
from c360.workspace import Workspace, default_config_text, init_workspace

pytestmark = pytest.mark.unit

SOURCE = """
sources:
  crm:
    kind: crm
    files:
      customers:
        path: raw/crm/*.csv
        format: csv
        record: identity
        id_column: id
        mapping: {email: Email, first_name: First}
"""


def test_embedded_defaults_validate():
    settings = parse_settings(default_config_text(), env={})
    assert settings.lake.uri == "data/lake"
    assert settings.stores.profile.backend == "sqlite"


def test_unknown_key_is_rejected_with_name_and_line():
    text = "lake:\n  uri: x\n  urii: y\n"
    with pytest.raises(ConfigError) as err:
        parse_settings(text, origin="ws/c360.yaml", env={})
    assert "unknown key 'urii' at lake.urii" in err.value.message
    assert "ws/c360.yaml:3" in err.value.message


def test_unknown_canonical_field_fails_before_any_data():
    with pytest.raises(ConfigError) as err:
        parse_settings(SOURCE.replace("first_name: First", "frist_name: First"), env={})
    assert "unknown canonical field 'frist_name'" in err.value.message
    assert "sources.crm.files.customers" in err.value.message


def test_missing_required_mapping_is_named():
    text = SOURCE.replace("record: identity", "record: transaction").replace(
        "{email: Email, first_name: First}", "{order_id: o, customer_ref: c, ts: t}"
    )
    with pytest.raises(ConfigError) as err:
        parse_settings(text, env={})
    assert "product_id" in err.value.message and "quantity" in err.value.message


def test_amount_may_be_derived_from_quantity_and_price():
    text = (
        SOURCE.replace("record: identity", "record: transaction")
        .replace(
            "{email: Email, first_name: First}",
            "{order_id: o, customer_ref: c, ts: t, product_id: p, quantity: q, unit_price: u}",
        )
        .replace("id_column: id", "id_column: id\n        constants: {kind: purchase}")
    )
    settings = parse_settings(text, env={})
    assert settings.sources["crm"].files["customers"].constants == {"kind": "purchase"}


def test_env_substitution_and_default():
    text = "lake:\n  uri: abfs://lake/c360\n  storage_options:\n    connection_string: ${CONN}\n"
    settings = parse_settings(text, env={"CONN": "secret"})
    assert settings.lake.storage_options == {"connection_string": "secret"}
    assert parse_settings("llm:\n  model: ${M:-small}\n", env={}).llm.model == "small"
    with pytest.raises(ConfigError, match=r"\$\{CONN\} is not set"):
        parse_settings(text, env={})


def test_env_overrides_any_key():
    env = {"C360_SERVING__PORT": "9001", "C360_LAKE__URI": "/x"}
    settings = parse_settings("serving:\n  port: 8000\n", env=env)
    assert settings.serving.port == 9001
    assert settings.lake.uri == "/x"


def test_override_with_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match="unknown key 'prot'"):
        parse_settings("", env={"C360_SERVING__PROT": "1"})


def test_init_refuses_to_overwrite(tmp_path):
    init_workspace(tmp_path)
    with pytest.raises(ConfigError, match="exists"):
        init_workspace(tmp_path)
    init_workspace(tmp_path, force=True)
    ws = Workspace.load(tmp_path)
    assert ws.lake.root == str((tmp_path / "data" / "lake").resolve())


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../../etc/*.csv", "'..' segment"),
        ("raw/crm/../../../outside/*.csv", "'..' segment"),
        ("/etc/passwd", "absolute"),
        ("C:/exports/*.csv", "absolute"),
        ("file:///etc/passwd", "URI"),
    ],
)
def test_a_file_set_path_outside_the_lake_is_rejected(path, why):
    # ingest would read and erasure would rewrite whatever the glob finds
    with pytest.raises(ConfigError) as err:
        parse_settings(SOURCE.replace("raw/crm/*.csv", path), origin="ws/c360.yaml", env={})
    message = err.value.message
    assert "sources.crm.files.customers.path" in message  # source, file set and key
    assert why in message and "ws/c360.yaml:7" in message


def test_ingest_row_limits_and_duplicate_policy_are_validated():
    settings = parse_settings(SOURCE, env={})
    assert (settings.ingest.max_field_bytes, settings.ingest.max_row_bytes) == (1 << 20, 4 << 20)
    assert settings.ingest.duplicate_ids == "last"
    with pytest.raises(ConfigError) as err:
        parse_settings("ingest:\n  duplicate_ids: newest\n", env={})
    assert "ingest.duplicate_ids" in err.value.message


def test_template_reports_in_one_currency_and_its_commented_facts_and_features_are_the_defaults():
    text = default_config_text()
    settings = parse_settings(text, env={})
    assert settings.reporting_currency == "USD"
    assert settings.sources["fx"].kind == "reference"
    assert settings.sources["fx"].files["rates"].record == "fx_rate"
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# facts:"))
    block = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        block.append(line[2:])
    shown = parse_settings("\n".join(block), env={})
    assert "labels:" in "\n".join(block) and "fx_max_age_days" in "\n".join(block)
    assert shown.facts == Settings().facts
    assert shown.features == Settings().features


def test_the_personalization_budgets_init_writes_are_the_documented_defaults():
    from c360.inference.personalizer import Budget

    written = parse_settings(default_config_text(), env={}).serving
    assert Budget.of(written) == Budget() == Budget(route=0.050, profile=0.010, part=0.030)
    roomy = parse_settings(default_config_text(), env={"C360_SERVING__PART_BUDGET_MS": "250"}).serving
    assert Budget.of(roomy).part == 0.25
    with pytest.raises(ConfigError, match="part_budget_ms"):
        parse_settings(default_config_text(), env={"C360_SERVING__PART_BUDGET_MS": "0"})


def test_the_file_set_options_the_template_lists_exist_and_its_examples_validate():
    """The comment above `sources:` tells a user mapping their own data which file-set options exist; each
    option it names is a FileSetSettings field, and its example values are accepted as written."""
    import re

    import numpy as np
    import yaml

    from c360.settings import FileSetSettings

    lines = default_config_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# Any file set may also"))
    end = lines.index("sources:")
    block = " ".join(line[2:] for line in lines[start:end])
    examples = {}
    for found in re.finditer(r"\((\w+): ", block):  # "(option: value", the value a word or a {...}
        rest = block[found.end() :]
        depth = np.cumsum([{"{": 1, "}": -1}.get(c, 0) for c in rest])
        closed = int(np.argmax(depth == 0)) + 1 if rest.startswith("{") else re.match(r"[\w/]+", rest).end()
        examples[found.group(1)] = rest[:closed]
    assert set(examples) == {"constants", "value_patterns", "timezone", "period", "id_required"}
    assert set(examples) <= set(FileSetSettings.model_fields)
    options = {name: yaml.safe_load(f"v: {value}")["v"] for name, value in examples.items()}
    base = {"path": "raw/shop/*.csv", "format": "csv", "record": "transaction", "id_column": "line"}
    mapping = {
        "order_id": "InvoiceNo", "customer_ref": "CustomerID", "ts": "InvoiceDate", "product_id": "StockCode",
        "quantity": "Quantity", "amount": "Amount",
    }  # fmt: skip
    transaction = {k: v for k, v in options.items() if k != "id_required"}
    settings = FileSetSettings.model_validate({**base, "mapping": mapping, **transaction})
    assert settings.value_patterns["kind"].default == "purchase"
    assert settings.period is not None and settings.period.end is not None
    identity = {**base, "record": "identity", "mapping": {"email": "Email"}, "id_required": True}
    assert FileSetSettings.model_validate(identity).id_required
