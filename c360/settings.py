"""The workspace configuration (`c360.yaml`), validated once at the edge.

Typed with pydantic; every model forbids unknown keys so a typo fails with its name and its place in the file.
`${VAR}` is replaced from the environment (secrets stay out of the file) and `C360_SECTION__KEY=value`
environment variables override any key (`C360_LAKE__URI=abfs://lake/c360`).
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from c360.errors import ConfigError
from c360.identity.config import IdentitySettings
from c360.schemas import ENUM_FIELDS, REQUIRED_FIELDS, FileFormat, RecordType, SourceKind, mapping_targets

CONFIG_FILE = "c360.yaml"
ENV_PREFIX = "C360_"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class LakeSettings(Strict):
    uri: str = "data/lake"
    """A local folder (relative to the workspace) or `abfs://container/prefix`."""
    storage_options: dict[str, str] = Field(default_factory=dict)
    """Passed to fsspec (adlfs): account_name, connection_string, ... Use `${VAR}` for secrets."""


class CsvOptions(Strict):
    delimiter: str = ","
    quote_char: str = '"'
    encoding: str = "utf-8"
    header: bool = True


class ValuePattern(Strict):
    """A canonical field derived from a source column by regular expression (`value_patterns`)."""

    column: str
    """The source column read (as text)."""
    patterns: dict[str, str]
    """regex -> canonical value; the first pattern (in file order) found anywhere in the value wins.
    RE2 syntax, as pyarrow runs it: anchor with ^ and $."""
    default: str | None = None
    """The value where no pattern matches; unset leaves the field empty. An empty column stays empty."""

    @field_validator("patterns")
    @classmethod
    def _compilable(cls, v: dict[str, str]) -> dict[str, str]:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not v:
            raise ValueError("patterns must hold at least one regex")
        for pattern in v:
            try:  # compiled by the engine that will run it (RE2 has no lookaround or backreferences)
                pc.match_substring_regex(pa.array([""], pa.string()), pattern)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
        return v


class Period(Strict):
    """The time span a file set is the record of: its rows whose `ts` falls outside are left to the file set
    that covers them (two exports of one system that overlap by a week, say) and counted as `outside period`
    in the ingest summary, not loaded and not quarantined. A time without a zone is in the file set's
    `timezone`."""

    start: datetime | None = None
    """Inclusive."""
    end: datetime | None = None
    """Exclusive."""

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start is None and self.end is None:
            raise ValueError("a period needs a start, an end or both")
        if self.start is not None and self.end is not None:
            if (self.start.tzinfo is None) != (self.end.tzinfo is None):
                raise ValueError("give the period's start and end both with a time zone or both without")
            if self.start >= self.end:
                raise ValueError(f"the period's start {self.start} is not before its end {self.end}")
        return self


class FileSetSettings(Strict):
    """One set of files in one format mapped onto one canonical record type."""

    path: str
    """A glob relative to the lake root (`raw/crm/customers/*.csv`); it may not leave the lake."""
    format: FileFormat
    record: RecordType
    id_column: str | None = None
    """The column holding the source's own record id; the row number when absent."""
    mapping: dict[str, str] = Field(default_factory=dict)
    """canonical field -> source column."""
    constants: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """canonical field -> a fixed value for every row."""
    value_maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    """canonical field -> {raw value: canonical value}, applied before validation."""
    value_patterns: dict[str, ValuePattern] = Field(default_factory=dict)
    """canonical field -> derived from a column by regex, e.g. a cancellation from an invoice number prefix:
    `kind: {column: InvoiceNo, patterns: {"^C": cancel}, default: purchase}`. value_maps apply after."""
    id_required: bool = False
    """Quarantine a row whose id_column is empty (`missing_required`) instead of keying it by row number:
    for identity files whose rows without the source's customer id name nobody."""
    csv: CsvOptions = Field(default_factory=CsvOptions)
    timestamp_format: str | None = None
    """strptime format for timestamps; ISO 8601 and epoch seconds are understood without one."""
    date_format: str | list[str] | None = None
    """strptime format(s) for dates, tried in order after ISO `YYYY-MM-DD`. When the list holds a day-first
    and a month-first format (`%d/%m/%Y`, `%m/%d/%Y`), each file is read in the order its own unambiguous
    rows show (a `25/03/1980` makes the file day-first); ambiguous rows follow the file's order."""
    timezone: str = "UTC"
    """Zone of timestamps that carry none."""
    default_region: str = "US"
    """ISO country used to read phone numbers written without a country code."""
    default_currency: str = "USD"
    period: Period | None = None
    """Rows of records with a timestamp (`ts`) kept only within this span (`Period`)."""
    postcode_digits: dict[str, int] = Field(default_factory=dict)
    """Country (ISO alpha-2) -> digits of its postcodes, added to the built-in table (US, DE, FR, IT, ES: 5;
    AU, NZ, NO, DK: 4; see `c360.sources.identity_fields`); 0 removes a country. An all-digit postcode
    shorter than its row's country's length gets its leading zeros back."""

    @field_validator("path")
    @classmethod
    def _path_inside_lake(cls, v: str) -> str:
        # Ingest reads these files and erasure rewrites them: a path outside the lake would let a config
        # (or an override) point both at files c360 does not own.
        problem = path_outside_lake(v)
        if problem:
            raise ValueError(f"path {v!r} {problem}; give a glob relative to the lake root")
        return v

    @field_validator("csv")
    @classmethod
    def _one_char_delimiter(cls, v: CsvOptions) -> CsvOptions:
        if len(v.delimiter) != 1:
            raise ValueError(f"csv.delimiter must be one character, got {v.delimiter!r}")
        return v

    @model_validator(mode="after")
    def _mapping_targets_known_fields(self) -> FileSetSettings:
        known = set(mapping_targets(self.record))
        for section in ("mapping", "constants", "value_maps", "value_patterns"):
            for name in getattr(self, section):
                if name not in known:
                    raise ValueError(
                        f"unknown canonical field {name!r} in {section} for record {self.record!r}; "
                        f"known: {', '.join(sorted(known))}"
                    )
        twice = sorted(set(self.value_patterns) & (set(self.mapping) | set(self.constants)))
        if twice:
            raise ValueError(f"{', '.join(twice)}: in value_patterns and in mapping or constants; keep one")
        vocabulary = ENUM_FIELDS.get(self.record, {})
        for name, vp in self.value_patterns.items():
            allowed = set(vocabulary.get(name, ())) | set(self.value_maps.get(name, {}))
            produced = [*vp.patterns.values(), *([vp.default] if vp.default is not None else [])]
            unknown = [v for v in produced if name in vocabulary and v not in allowed]
            if unknown:
                raise ValueError(
                    f"value_patterns.{name} gives {', '.join(map(repr, unknown))}, not one of: "
                    f"{', '.join(vocabulary[name])} (or a value_maps key of {name})"
                )
        if self.id_required and not self.id_column:
            raise ValueError("id_required needs an id_column")
        if self.period is not None and "ts" not in mapping_targets(self.record):
            raise ValueError(f"period: record {self.record!r} has no timestamp (ts) to keep rows by")
        provided = set(self.mapping) | set(self.constants) | set(self.value_patterns)
        missing = [f for f in REQUIRED_FIELDS[self.record] if f not in provided]
        # amount may be derived from quantity x unit_price.
        if "amount" in missing and {"quantity", "unit_price"} <= provided:
            missing.remove("amount")
        if missing:
            raise ValueError(f"record {self.record!r} needs a column mapped for: {', '.join(missing)}")
        return self


def path_outside_lake(path: str) -> str | None:
    """Why a lake-relative glob would reach outside the lake root, or None when it stays inside."""
    if "://" in path:
        return "is a URI, not a path relative to the lake"
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path) or path.startswith("~"):
        return "is absolute"
    if ".." in re.split(r"[/\\]", path):
        return "has a '..' segment that leaves the lake"
    return None


class SourceSettings(Strict):
    kind: SourceKind
    description: str = ""
    files: dict[str, FileSetSettings]


class IngestSettings(Strict):
    max_quarantine_fraction: float = 1.0
    """Fail a file set when more than this fraction of its rows is quarantined."""
    max_field_bytes: int = Field(default=1 << 20, ge=1024)
    """A delivered value longer than this (in UTF-8 bytes) quarantines its row as `field_too_large`: no
    canonical field needs a megabyte, and one runaway value must not cost the rest of its file."""
    max_row_bytes: int = Field(default=4 << 20, ge=1024)
    """A delivered row longer than this quarantines it as `row_too_large` (and bounds a row's memory)."""
    duplicate_ids: Literal["last", "first", "reject"] = "last"
    """What to do with rows of one file sharing a source record id but not their contents.

    `last` (the default) keeps the row written last and quarantines the earlier versions as `duplicate_id`:
    a later line of an export is a later state of the record, and it is what resolve already keeps when a
    record comes again in a later delivery, so nothing changes for data that was right while every version
    that lost is now in quarantine instead of vanishing. `first` keeps the first row instead; `reject`
    quarantines every version, for sources where a repeated id can only mean a broken export. Identical
    copies are kept once under every policy and counted in the summary's `duplicates` column."""


class ProfileStoreSettings(Strict):
    backend: Literal["sqlite", "redis", "cosmos"] = "sqlite"
    sqlite_path: str = "data/profiles.db"
    redis_url: str = "redis://127.0.0.1:6379/0"
    cosmos_endpoint: str = "https://localhost:8081/"
    cosmos_key: SecretStr = SecretStr("")
    cosmos_database: str = "c360"
    cosmos_container: str = "profiles"
    cosmos_verify_tls: bool = True


class FeastSettings(Strict):
    repo: str = "feature_repo"
    registry: Literal["file", "sql"] = "file"
    registry_path: str = "data/registry.db"
    registry_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    online_store: Literal["sqlite", "redis", "cosmos"] = "sqlite"


class StoresSettings(Strict):
    profile: ProfileStoreSettings = Field(default_factory=ProfileStoreSettings)
    feast: FeastSettings = Field(default_factory=FeastSettings)


class ModelsSettings(Strict):
    enabled: list[str] = Field(
        default_factory=lambda: ["churn", "clv", "recommendations", "next_best_action", "segments"]
    )
    holdout_fraction: float = 0.2
    seed: int = 42
    tracking_uri: str | None = None
    """The MLflow tracking and model registry store. Unset: the SQLite file `mlflow_db` in the workspace;
    `postgresql+psycopg://user[:password]@host:5432/db` for a PostgreSQL server (the database must exist)."""
    mlflow_db: str = "data/mlflow.db"
    """The embedded store's SQLite file (workspace-relative) when `tracking_uri` is unset."""
    artifact_root: str | None = None
    """Where MLflow keeps logged models. Unset: the lake's `models/mlflow/` folder for a local lake, else
    `data/mlartifacts` in the workspace. The c360 model folders are in the lake's
    `models/<name>/<version>/`."""


class ServingSettings(Strict):
    host: str = "127.0.0.1"
    port: int = 8000
    rate_limit_per_second: float = Field(default=1000.0, gt=0)
    """Requests a second one API key may make, on average (a key's own `--rate-limit` overrides it); past it
    the API answers 429 with Retry-After. Each replica counts on its own."""
    rate_limit_burst: int = Field(default=2000, ge=1)
    """Requests a key may make at once after a quiet spell (the token bucket's size)."""
    profile_budget_ms: float = Field(default=10.0, gt=0, le=60_000)
    """Personalization: the profile lookup's time; past it the answer is non-personalized (flag `timeout`)."""
    part_budget_ms: float = Field(default=30.0, gt=0, le=60_000)
    """Personalization: each model's time (recommendations, next-best-action, scores, signals), asked for at
    once; a late part answers its fallback, flagged `timeout`."""
    route_budget_ms: float = Field(default=50.0, gt=0, le=120_000)
    """Personalization: the whole answer's time; a part gets what is left of it when that is less than
    `part_budget_ms`."""
    api_keys: list[SecretStr] = Field(default_factory=list)
    """Not read: API keys live hashed in `data/api_keys.json` (`c360 keys create`). Kept so c360.yaml files
    written by earlier versions still load."""


class LLMSettings(Strict):
    """The content writer's model (c360/genai). `offline` fills templates and needs no network."""

    provider: Literal["offline", "openai", "azure_openai"] = "offline"
    base_url: str | None = None
    """OpenAI-compatible endpoint (`http://host:port/v1`); for azure_openai, the resource endpoint."""
    api_key: SecretStr | None = None
    """For azure_openai without a key, an Entra ID token comes from azure-identity (if installed)."""
    model: str = "gpt-4o-mini"
    deployment: str | None = None
    """azure_openai: the deployment name (default: `model`)."""
    api_version: str | None = None
    timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    """Per call: connecting, and the longest wait for the next bytes (a stalled stream ends here)."""
    request_deadline_seconds: float = Field(default=30.0, gt=0, le=600)
    """The most time one content request may spend calling the backend: every attempt, Retry-After wait,
    backoff and the one regeneration included. Past it the template answers (flag `deadline`)."""
    max_retries: int = Field(default=2, ge=0, le=10)
    """Retries after a 429 (waiting its Retry-After), a 5xx, a timeout or a refused connection."""
    max_retry_wait_seconds: float = Field(default=10.0, ge=0)
    """A Retry-After longer than this is not waited for: the template answers instead."""
    requests_per_second: float = Field(default=50.0, gt=0)
    """Client-side pacing of calls to the backend, to stay within its rate limit: per workspace, shared by
    every process through llm.ledger_path."""
    breaker_failures: int = Field(default=5, ge=1)
    """Consecutive failed calls that open the circuit breaker (templates answer while it is open)."""
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    max_output_tokens: int = Field(default=600, ge=16, le=16384)
    daily_token_budget: int = Field(default=2_000_000, ge=0)
    """Prompt + completion tokens a day (UTC), per workspace, shared by every process through
    llm.ledger_path; past it every request gets a template."""
    daily_cost_budget: float | None = Field(default=None, ge=0)
    """Optional cost cap a day, in the currency of the two prices below."""
    price_per_1k_input_tokens: float = Field(default=0.0, ge=0)
    price_per_1k_output_tokens: float = Field(default=0.0, ge=0)
    cache_ttl_seconds: int = Field(default=86_400, ge=0)
    """0 turns the content cache off."""
    cache_path: str = "data/genai_cache.sqlite"
    ledger_path: str = "data/genai_ledger.sqlite"
    """The daily budget's counters and the pacing of calls, shared by every process of the workspace (no
    customer data)."""
    allow_pii_fields: list[Literal["email", "phone", "street", "birth_date"]] = Field(default_factory=list)
    """Profile fields that may go to the model; none by default."""
    deny_terms: list[str] = Field(default_factory=list)
    """Words no generated text may contain, added to the built-in list (c360.genai.guardrails)."""


class RayRuntimeSettings(Strict):
    address: str | None = None
    """None starts a local Ray; `auto` or `ray://...` joins a cluster."""
    num_cpus: int | None = None


class PrivacySettings(Strict):
    retention_days: dict[Literal["identity", "transaction", "interaction", "consent", "event"], int] = Field(
        default_factory=dict
    )
    """Record type (or `event` for real-time events) -> days a row is kept; `c360 retention` drops older rows.
    Types not listed are kept indefinitely."""

    @field_validator("retention_days")
    @classmethod
    def _positive_days(cls, v: dict[str, int]) -> dict[str, int]:
        bad = [k for k, days in v.items() if days < 1]
        if bad:
            raise ValueError(f"retention_days must be at least 1 day (got {', '.join(bad)})")
        return v


class FactsSettings(Strict):
    """The customer-keyed fact tables under `facts/` (c360/facts)."""

    partitions: int = Field(default=32, ge=1, le=4096)
    """Hash partitions of customer_id; a run rewrites only the partitions whose rows changed."""
    attribution_days: int = Field(default=7, ge=1, le=365)
    """An exposure (a campaign send, an offer shown) is credited with an open, click, conversion and revenue
    that happen within this many days after it."""
    fx_max_age_days: int = Field(default=7, ge=0, le=366)
    """A transaction uses the newest rate on or before its date, at most this many days old (weekends and
    holidays have no fixing); older than that, the line is quarantined as `no_fx_rate`."""
    similar_items: int = Field(default=20, ge=1, le=1000)
    """Neighbours kept per product in `facts/product_similarity` (content-based recommendations)."""


class LabelSettings(Strict):
    """One label a training set can be built for (`c360 features training-set --label NAME`)."""

    kind: Literal["churn", "clv", "purchase", "response"]
    """churn: no purchase within `days` after the cutoff (1 = churned), among customers who bought before it;
    clv: reporting-currency net spend within `months` after the cutoff; purchase: a purchase (in `category`
    when given) within `days`; response: an exposure converted within facts.attribution_days."""
    days: int | None = Field(default=None, ge=1, le=3650)
    months: int | None = Field(default=None, ge=1, le=120)
    category: str | None = None

    @model_validator(mode="after")
    def _horizon(self) -> LabelSettings:
        needs = {"churn": "days", "purchase": "days", "clv": "months"}.get(self.kind)
        if needs and getattr(self, needs) is None:
            raise ValueError(f"a {self.kind} label needs `{needs}`")
        if self.category is not None and self.kind != "purchase":
            raise ValueError("`category` applies to purchase labels only")
        return self


def _default_labels() -> dict[str, LabelSettings]:
    return {
        "churn": LabelSettings(kind="churn", days=90),
        "clv": LabelSettings(kind="clv", months=12),
        "propensity": LabelSettings(kind="purchase", days=30),
        "response": LabelSettings(kind="response"),
    }


class FeaturesSettings(Strict):
    """Feature history (`c360 features backfill`) and training sets (`c360 features training-set`)."""

    backfill_every: str = "7d"
    """Default spacing of backfill cutoffs: a number and a unit, d (days) or w (weeks)."""
    labels: dict[str, LabelSettings] = Field(default_factory=_default_labels)

    @field_validator("backfill_every")
    @classmethod
    def _every(cls, v: str) -> str:
        if not re.fullmatch(r"[1-9][0-9]*[dw]", v.strip()):
            raise ValueError(f"backfill_every {v!r} must be a number and d or w, like 7d or 2w")
        return v.strip()


class Settings(Strict):
    workspace: str = "c360"
    lake: LakeSettings = Field(default_factory=LakeSettings)
    sources: dict[str, SourceSettings] = Field(default_factory=dict)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    stores: StoresSettings = Field(default_factory=StoresSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    ray: RayRuntimeSettings = Field(default_factory=RayRuntimeSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    reporting_currency: str | None = None
    """ISO 4217 code every money aggregate is reported in (transactions converted with the FX rates source
    at their date). Unset: the data must be in one currency, and that one is reported."""
    facts: FactsSettings = Field(default_factory=FactsSettings)
    features: FeaturesSettings = Field(default_factory=FeaturesSettings)

    @field_validator("reporting_currency")
    @classmethod
    def _currency(cls, v: str | None) -> str | None:
        from c360.currencies import ISO_4217

        if v is None:
            return None
        code = v.strip().upper()
        if code not in ISO_4217:
            raise ValueError(f"reporting_currency {v!r} is not an ISO 4217 currency code")
        return code

    @field_validator("sources")
    @classmethod
    def _source_names(cls, v: dict[str, SourceSettings]) -> dict[str, SourceSettings]:
        for name in v:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"source name {name!r} must be lowercase letters, digits and _")
        return v


# --------------------------------------------------------------------------------------------- loading


def substitute_env(value: Any, env: dict[str, str] | None = None, where: str = "") -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string of a parsed YAML tree."""
    env = os.environ if env is None else env
    if isinstance(value, dict):
        return {k: substitute_env(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{where}: environment variable ${{{name}}} is not set")

        return _VAR.sub(repl, value)
    return value


def apply_env_overrides(tree: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """`C360_LAKE__URI=x` sets `lake.uri`; values are read as YAML scalars (`true`, `8000`, `[a, b]`)."""
    env = os.environ if env is None else env
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or "__" not in key:
            continue
        path = [p.lower() for p in key[len(ENV_PREFIX) :].split("__")]
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key}: {'.'.join(path)} does not name a section")
        node[path[-1]] = yaml.safe_load(raw) if raw else raw
    return tree


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of a key path in the composed YAML, for error messages."""
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for k, v in node.value:
            if k.value == str(part):
                line, node = k.start_mark.line + 1, v
                break
        else:
            break
    return line


def _format_errors(exc: PydanticValidationError, origin: str, root: yaml.Node | None) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(root, loc)
        where = f"{origin}:{line}" if line else origin
        if err["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key {loc[-1]!r} at {dotted}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {dotted}: {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def parse_settings(text: str, origin: str = CONFIG_FILE, env: dict[str, str] | None = None) -> Settings:
    """Parse and validate a config document; every problem is reported at once with its location."""
    try:
        root = yaml.compose(text)
        tree = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping")
    tree = apply_env_overrides(substitute_env(tree, env), env)
    try:
        return Settings.model_validate(tree)
    except PydanticValidationError as exc:
        raise ConfigError(_format_errors(exc, origin, root)) from None


def load_settings(path: str | Path, env: dict[str, str] | None = None) -> Settings:
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"{path}: no workspace config here; create one with `c360 init`")
    return parse_settings(path.read_text(encoding="utf-8"), origin=str(path), env=env)
