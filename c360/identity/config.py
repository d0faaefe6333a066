"""Identity resolution settings (`identity:` in c360.yaml), validated before any record is read.

Every field named in an identifier, blocking rule, comparison or survivorship rule is checked against the
canonical identity record, so a typo fails at load time with its name instead of silently matching nothing.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from c360.identity.emails import EmailSettings
from c360.schemas import STRONG_IDENTIFIERS, canonical_fields

IDENTITY_FIELDS: tuple[str, ...] = ("source", *canonical_fields("identity"))
# Functions a blocking key may apply to a field: `soundex(last_name)`, `prefix3(first_name)`, `year(...)`.
BLOCKING_FUNCTIONS: tuple[str, ...] = ("soundex", "metaphone", "prefix3", "prefix4", "year", "nickname")
SURVIVORSHIP_RULES = Literal["source_priority", "most_recent", "most_frequent", "most_complete"]
AUTO = "auto"
"""A setting the data decides when the model is learned (`c360.identity.estimate`)."""
UNESTIMATED_CONFLICT = 0.99999
"""`conflict_match_probability` where nothing has estimated it: settings read before a model is known, and a
model learned before c360 estimated it."""
SHARED_BY_DEFAULT: tuple[str, ...] = ("device_id", "cookie_id")
"""Identifiers a household shares by nature (`IdentifierSettings.shared`)."""
_KEY = re.compile(r"^(?:(?P<fn>[a-z0-9_]+)\((?P<inner>[a-z_]+)\)|(?P<plain>[a-z_]+))$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def parse_blocking_key(key: str) -> tuple[str | None, str]:
    """`soundex(last_name)` -> ("soundex", "last_name"); `postcode` -> (None, "postcode"); or ValueError."""
    m = _KEY.match(key.strip())
    if not m:
        raise ValueError(f"blocking key {key!r} must be a field or function(field)")
    fn, field = (m["fn"], m["inner"]) if m["fn"] else (None, m["plain"])
    if fn is not None and fn not in BLOCKING_FUNCTIONS:
        raise ValueError(
            f"unknown blocking function {fn!r} in {key!r}; known: {', '.join(BLOCKING_FUNCTIONS)}"
        )
    _check_field(field, f"blocking key {key!r}")
    return fn, field


def _check_field(name: str, where: str) -> str:
    if name not in IDENTITY_FIELDS:
        raise ValueError(f"unknown identity field {name!r} in {where}; known: {', '.join(IDENTITY_FIELDS)}")
    return name


class IdentifierSettings(_Strict):
    """A strong identifier that links records deterministically when the normalized values are equal."""

    field: str
    enabled: bool = True
    normalize: Literal["lower", "digits", "alnum", "email", "none"] = "lower"
    """`email`: lower case, then the mailbox key of `identity.email` (provider tags, Gmail dots, typos)."""
    strip_prefixes: list[str] = Field(default_factory=list)
    """Prefixes one system writes and another does not (`LY` in `LY00123`), cut (first match, longest
    first, compared after normalization) when something remains."""
    strip_leading_zeros: bool = False
    """`00123` and `123` are one id (a spreadsheet or a numeric column lost or added the zeros)."""
    zero_pad: int | None = Field(default=None, ge=1, le=64)
    """All-digit values left-padded with zeros to this width (after `strip_leading_zeros`)."""
    min_length: int = 3
    """Shorter values (after normalization) are not used to link."""
    block_list: list[str] = Field(default_factory=list)
    """Values never used to link, on top of the global block list."""
    max_people: int | None = None
    """Cardinality guard for this identifier; the global `max_people_per_identifier` when absent."""
    shared: bool | None = None
    """Shared by nature (a family tablet's device id, a browser cookie, a household landline): its values link
    pair by pair, on each pair's own comparison, and a value whose records show two people links none of
    them (`c360.identity.shared`). Absent: true for device_id and cookie_id, false otherwise."""
    shared_match_probability: float = Field(default=0.9, gt=0.0, lt=1.0)
    """For a shared identifier: how likely two records sharing a value are one person before anything else
    is known of them. A pair links when this and its own comparison reach `match_threshold`: at 0.9, two
    anonymous cookies of one device (nothing else to compare) stay apart; a pair whose names agree links."""

    @property
    def is_shared(self) -> bool:
        return self.shared if self.shared is not None else self.field in SHARED_BY_DEFAULT

    @field_validator("field")
    @classmethod
    def _strong(cls, v: str) -> str:
        if v not in STRONG_IDENTIFIERS:
            raise ValueError(
                f"identifier {v!r} is not a strong identifier; use one of {', '.join(STRONG_IDENTIFIERS)}"
            )
        return v


class BlockingRule(_Strict):
    """Records whose keys are all equal (and non-null) become candidate pairs."""

    name: str | None = None
    keys: list[str]

    @field_validator("keys")
    @classmethod
    def _keys(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("a blocking rule needs at least one key")
        for key in v:
            parse_blocking_key(key)
        return v

    @property
    def label(self) -> str:
        return self.name or "+".join(self.keys)


class ComparisonSettings(_Strict):
    """How one field is compared: its levels from exact to different, each with m and u learned by EM."""

    field: str
    method: Literal["exact", "string", "name", "date", "address", "identifier"] = "string"
    thresholds: list[float] = Field(default_factory=lambda: [0.92, 0.85])
    """Jaro-Winkler similarity bands (string, name, address), highest first.

    An address is one comparison of street, postcode and city together (they are not independent evidence):
    exact street with agreeing postcode, then each street band with agreeing postcode, then a street in the
    lowest band with the same city, then that street alone, then (two different known streets) postcode and
    city, postcode alone, city alone, then the same three with a street unknown on one side, different."""
    max_edits: int = 1
    """Damerau-Levenshtein edits accepted as a fuzzy level (identifier, date, and names of 3+ letters, after
    the similarity bands)."""
    nicknames: bool = False
    """For names: Bob and Robert agree at a level of their own."""
    tf_adjustment: bool = False
    """Exact agreement on a rare value weighs more than on a common one."""
    conflict: bool = False
    """A strong attribute: two records whose values fall in the lowest level never end up in one cluster."""

    @field_validator("field")
    @classmethod
    def _known(cls, v: str) -> str:
        return _check_field(v, "comparisons")

    @model_validator(mode="after")
    def _address_on_street(self) -> ComparisonSettings:
        if self.method == "address" and (self.field != "street" or not self.thresholds):
            raise ValueError(
                "method 'address' compares field 'street' (with postcode and city) and needs thresholds"
            )
        return self

    @field_validator("thresholds")
    @classmethod
    def _bands(cls, v: list[float]) -> list[float]:
        if any(not 0.0 < t <= 1.0 for t in v) or v != sorted(v, reverse=True):
            raise ValueError("thresholds must lie in (0, 1] and go from highest to lowest")
        return v

    @property
    def level_names(self) -> list[str]:
        """Level names from strongest to weakest; the last one is 'different'. Null levels are not listed."""
        return comparison_level_names(self)


def comparison_level_names(c: ComparisonSettings) -> list[str]:
    levels = ["exact"]
    if c.method == "address":
        bands = [f"street jw>={t:g}" for t in c.thresholds]
        tail = [
            "street_and_city",
            "street_only",
            "postcode_and_city",
            "same_postcode",
            "same_city",
            "postcode_and_city_street_unknown",
            "postcode_street_unknown",
            "city_street_unknown",
            "different",
        ]
        return ["exact", *bands, *tail]
    if c.method in ("string", "name"):
        if c.method == "name" and c.nicknames:
            levels.append("nickname")
        levels += [f"jw>={t:g}" for t in c.thresholds]
        if c.method == "name" and c.max_edits > 0:
            levels.append(f"edits<={c.max_edits}")
    elif c.method == "date":
        levels += ["swapped_day_month", f"edits<={c.max_edits}", "same_year_month"]
    elif c.method == "identifier" and c.max_edits > 0:
        levels.append(f"edits<={c.max_edits}")
    levels.append("different")
    return levels


class SurvivorshipRule(_Strict):
    rule: SURVIVORSHIP_RULES = "most_frequent"
    source_priority: list[str] = Field(default_factory=list)
    """For `source_priority`: sources from most to least trusted; unlisted sources come last."""


class EMSettings(_Strict):
    max_iterations: int = 50
    tolerance: float = 1e-6
    u_sample_pairs: int = 200_000
    """Random record pairs used to estimate u (the chance that two different people agree)."""
    seed: int = 7
    retrain_growth: float = 2.0
    """Re-estimate the model when the record count has grown by this factor since it was trained."""


class IdentitySettings(_Strict):
    identifiers: list[IdentifierSettings] = Field(
        default_factory=lambda: [
            IdentifierSettings(field="email", normalize="email"),
            IdentifierSettings(field="phone", normalize="digits", min_length=7),
            IdentifierSettings(field="device_id", normalize="lower", shared=True),
            IdentifierSettings(field="cookie_id", normalize="lower", shared=True),
            IdentifierSettings(field="social_handle", normalize="lower"),
            IdentifierSettings(field="loyalty_id", normalize="alnum"),
        ]
    )
    block_list: list[str] = Field(
        default_factory=lambda: [
            "test@test.com", "test@example.com", "noemail@noemail.com", "no@email.com", "none@none.com",
            "email@email.com", "n/a", "na", "none", "null", "unknown", "test", "0000000000", "1234567890",
            "+10000000000", "+11234567890", "+19999999999", "00000000-0000-0000-0000-000000000000",
        ]
    )  # fmt: skip
    """Placeholder values never used to link (compared after each identifier's normalization)."""
    max_people_per_identifier: int = 5
    """Cardinality guard K: an identifier shared by more than K different people is not used (reported)."""
    blocking_rules: list[BlockingRule] = Field(
        default_factory=lambda: [
            BlockingRule(keys=["first_name", "last_name"]),
            BlockingRule(keys=["last_name", "birth_date"]),
            BlockingRule(keys=["first_name", "birth_date"]),
            BlockingRule(keys=["birth_date", "postcode"]),
            BlockingRule(keys=["soundex(last_name)", "postcode"]),
            BlockingRule(keys=["nickname(first_name)", "soundex(last_name)", "year(birth_date)"]),
            BlockingRule(keys=["loyalty_id"]),
        ]
    )
    comparisons: list[ComparisonSettings] = Field(
        default_factory=lambda: [
            ComparisonSettings(
                field="first_name", method="name", nicknames=True, tf_adjustment=True, conflict=True
            ),
            ComparisonSettings(field="last_name", method="name", tf_adjustment=True),
            ComparisonSettings(field="birth_date", method="date", conflict=True),
            ComparisonSettings(field="street", method="address", thresholds=[0.9, 0.8]),
            ComparisonSettings(field="gender", method="exact"),
            ComparisonSettings(field="email", method="exact"),
            ComparisonSettings(field="phone", method="exact"),
            ComparisonSettings(field="loyalty_id", method="identifier", max_edits=2, conflict=True),
            # Jr and Sr of one name and address are two people: two different suffixes are a conflict.
            ComparisonSettings(field="name_suffix", method="exact", conflict=True),
        ]
    )
    match_threshold: float = 0.99
    """Posterior match probability at or above which a scored pair becomes a link."""
    conflict_match_probability: float = UNESTIMATED_CONFLICT
    """Two records whose strong attributes conflict share a cluster only when their own comparison (the
    conflict priced in) reaches this probability; a chain of links through other records never suffices.

    Left out (or `auto`): estimated when the model is learned (`c360.identity.estimate`), and `c360 resolve`
    prints the value and why. Where pairs sharing a surname and an address yet differing on a first name or
    birth date are far more common than the model predicts (households: a father and son of one name and
    address), `match_threshold` raised by that overstatement in bits, so such a pair needs evidence beyond
    the household (an email, a phone); where there are none (records corrupted independently, FEBRL), the
    prior: a disagreement is ordinary evidence. A number written here wins."""
    address_comparison: Literal["auto", "one", "apart"] = AUTO
    """How a `method: address` comparison reads street, postcode and city. `one`: as one piece of evidence (a
    household shares all three, and three agreements are not three proofs). `apart`: three comparisons
    (street and city as strings, the city frequency-adjusted; the postcode as an identifier, one edit a
    typo), right where the parts vary independently. `auto`: one, unless the model learned with it finds no
    look-alikes (`c360.identity.estimate`); the model is then learned again with the parts apart."""
    max_cluster_size: int = 50
    """A cluster that would grow past this is split at its weakest links, and reported."""
    survivorship: dict[str, SurvivorshipRule] = Field(
        default_factory=lambda: {
            f: SurvivorshipRule(rule="most_recent")
            for f in ("email", "phone", "street", "city", "postcode", "state", "country")
        }
    )
    """Per golden field; fields not listed use `default_survivorship`."""
    default_survivorship: SurvivorshipRule = Field(
        default_factory=lambda: SurvivorshipRule(rule="most_frequent")
    )
    em: EMSettings = Field(default_factory=EMSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    """How an email address becomes its matching key (`c360.identity.emails`)."""
    partitions: int = 8
    """Blocking-key partitions scored in parallel by Ray Data (on a cluster of more than one node)."""
    ray_min_keys: int = 200_000
    """Below this many blocking-key rows (in an incremental run, rows of new records) pairs are scored in this
    process, as they are on a one-node cluster: Ray workers pay off only when they bring more cores."""

    @model_validator(mode="before")
    @classmethod
    def _auto_is_unset(cls, data: object) -> object:
        """`conflict_match_probability: auto` is the value left out: estimated (`conflict_is_estimated`)."""
        if isinstance(data, dict) and data.get("conflict_match_probability") == AUTO:
            return {k: v for k, v in data.items() if k != "conflict_match_probability"}
        return data

    @model_serializer(mode="wrap")
    def _dump_auto(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """An estimated conflict probability dumps as `auto`, so a dumped config reads back as it was."""
        out = handler(self)
        if conflict_is_estimated(self):
            out["conflict_match_probability"] = AUTO
        return out

    @field_validator("match_threshold", "conflict_match_probability")
    @classmethod
    def _probability(cls, v: float) -> float:
        if not 0.0 < v < 1.0:
            raise ValueError("a probability strictly between 0 and 1")
        return v

    @field_validator("survivorship")
    @classmethod
    def _survivorship_fields(cls, v: dict[str, SurvivorshipRule]) -> dict[str, SurvivorshipRule]:
        for name in v:
            _check_field(name, "survivorship")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> IdentitySettings:
        seen: set[str] = set()
        for ident in self.identifiers:
            if ident.field in seen:
                raise ValueError(f"identifier {ident.field!r} is listed twice")
            seen.add(ident.field)
        fields = [c.field for c in self.comparisons]
        dupes = sorted({f for f in fields if fields.count(f) > 1})
        if dupes:
            raise ValueError(f"comparisons list a field more than once: {', '.join(dupes)}")
        if self.max_people_per_identifier < 1 or self.max_cluster_size < 2 or self.partitions < 1:
            raise ValueError("max_people_per_identifier >= 1, max_cluster_size >= 2 and partitions >= 1")
        if not self.comparisons:
            raise ValueError("at least one comparison is needed to score pairs")
        return self

    def blocked_values(self, ident: IdentifierSettings) -> set[str]:
        from c360.identity.normalize import normalize_identifier_value

        out = set()
        for raw in [*self.block_list, *ident.block_list]:
            norm = normalize_identifier_value(raw, ident.normalize, ident, self.email)
            if norm:
                out.add(norm)
        return out


def conflict_is_estimated(settings: IdentitySettings) -> bool:
    """Whether `conflict_match_probability` is left to the data: not written in the config (or `auto`)."""
    return "conflict_match_probability" not in settings.model_fields_set
