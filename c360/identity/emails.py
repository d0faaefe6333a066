"""Email addresses in the form matching compares: one mailbox, one key, however it was written.

`jane.doe+shop@gmail.com`, `janedoe@gmail.com` and `jane.doe@gmial.com` reach one mailbox, so they get one
key: the domain's common typos are fixed (`gmial.com` -> `gmail.com`), a provider's sub-address tag is cut
(`+shop` at Gmail and Outlook, `-shop` at Yahoo) and dots in a Gmail local part are dropped. The tables are
small, documented and extendable in `identity.email`; a domain not listed keeps its local part untouched
(`jane+x@acme.com` may be a real, separate mailbox there). Only the matching key changes: the address as the
customer gave it is what the golden record shows. Vectorised in arrow compute; no Python per value.
"""

from __future__ import annotations

from functools import cache, cached_property

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator

DOMAIN_FIXES: dict[str, str] = {
    # aliases: one provider, two domains
    "googlemail.com": "gmail.com",
    # typos seen in sign-up forms (transposed, dropped or doubled letters, a neighbouring key, a wrong TLD)
    "gmial.com": "gmail.com", "gmai.com": "gmail.com", "gmal.com": "gmail.com", "gnail.com": "gmail.com",
    "gmaill.com": "gmail.com", "gamil.com": "gmail.com", "gmail.co": "gmail.com", "gmail.con": "gmail.com",
    "gmail.cm": "gmail.com", "gmail.om": "gmail.com", "gmailcom": "gmail.com",
    "hotmial.com": "hotmail.com", "hotmal.com": "hotmail.com", "hotmai.com": "hotmail.com",
    "hotmil.com": "hotmail.com", "hotmail.co": "hotmail.com", "hotmail.con": "hotmail.com",
    "yaho.com": "yahoo.com", "yahooo.com": "yahoo.com", "yahoo.co": "yahoo.com", "yahoo.con": "yahoo.com",
    "outlok.com": "outlook.com", "outloo.com": "outlook.com", "outlook.co": "outlook.com",
    "outlook.con": "outlook.com", "iclod.com": "icloud.com", "icloud.co": "icloud.com",
}  # fmt: skip
"""Domain -> the domain meant. Conservative: only misspellings of the largest providers, never a domain
that is itself registered to someone else in any meaningful way."""

SUBADDRESS_SEPARATORS: dict[str, str] = {
    "gmail.com": "+", "outlook.com": "+", "hotmail.com": "+", "live.com": "+", "msn.com": "+",
    "icloud.com": "+", "me.com": "+", "mac.com": "+", "fastmail.com": "+", "protonmail.com": "+",
    "proton.me": "+", "pm.me": "+", "yahoo.com": "-", "ymail.com": "-",
}  # fmt: skip
"""Domain -> the character that starts a sub-address tag there (everything from it to the `@` is a tag)."""

DOTLESS_DOMAINS: tuple[str, ...] = ("gmail.com",)
"""Domains whose local part ignores dots (`jane.doe` and `janedoe` are one Gmail mailbox)."""


class EmailSettings(BaseModel):
    """`identity.email`: how an address becomes its matching key. Entries given are added to the defaults."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    canonicalize: bool = True
    """Off: the key is the lower-cased address, as before."""
    domain_fixes: dict[str, str] = Field(default_factory=dict)
    """Extra domain -> domain corrections, on top of `DOMAIN_FIXES`; map a domain to itself to undo one."""
    subaddress: dict[str, str] = Field(default_factory=dict)
    """Extra domain -> tag separator, on top of `SUBADDRESS_SEPARATORS`; an empty separator undoes one."""
    dotless_domains: list[str] = Field(default_factory=list)
    """Extra domains whose local part ignores dots, on top of `DOTLESS_DOMAINS`."""

    @field_validator("domain_fixes", "subaddress")
    @classmethod
    def _lower_keys(cls, v: dict[str, str]) -> dict[str, str]:
        return {k.strip().lower(): val.strip().lower() for k, val in v.items()}

    @field_validator("subaddress")
    @classmethod
    def _one_char(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted(d for d, sep in v.items() if len(sep) > 1)
        if bad:
            raise ValueError(f"a sub-address separator is one character (or empty); see {', '.join(bad)}")
        return v

    # The merged tables, built once per settings object (the real-time look-up reads them per call).
    @cached_property
    def fixes(self) -> dict[str, str]:
        return {**DOMAIN_FIXES, **self.domain_fixes}

    @cached_property
    def separators(self) -> dict[str, str]:
        return {d: s for d, s in {**SUBADDRESS_SEPARATORS, **self.subaddress}.items() if s}

    @cached_property
    def dotless(self) -> frozenset[str]:
        return frozenset({*DOTLESS_DOMAINS, *(d.strip().lower() for d in self.dotless_domains)})


def _remap(domain: pa.Array, table: dict[str, str]) -> pa.Array:
    """`table[d]` where the domain is a key, the domain itself elsewhere."""
    if not table:
        return domain
    keys = pa.array(list(table), pa.string())
    return pc.coalesce(pa.array(list(table.values()), pa.string()).take(pc.index_in(domain, keys)), domain)


@cache
def _defaults() -> EmailSettings:
    return EmailSettings()


def canonical_emails(values: pa.Array, settings: EmailSettings | None = None) -> pa.Array:
    """The matching key of each (already trimmed, lower-cased) address; text without an `@` as it is."""
    settings = settings or _defaults()
    text = values.cast(pa.string())
    if not settings.canonicalize or len(text) == 0:
        return text
    has_at = pc.fill_null(pc.match_substring(text, "@"), False)
    # Split at the last `@` (a text without one gets an empty domain, and is returned as it was below).
    parts = pc.split_pattern(
        pc.if_else(has_at, text, pc.binary_join_element_wise(text, "", "@")), "@", max_splits=1, reverse=True
    )
    local, domain = pc.list_element(parts, 0), pc.list_element(parts, 1)
    domain = _remap(domain, settings.fixes)
    for sep in sorted(set(settings.separators.values())):
        doms = pa.array([d for d, s in settings.separators.items() if s == sep], pa.string())
        tagged = pc.fill_null(pc.is_in(domain, value_set=doms), False)
        cut = pc.replace_substring_regex(local, "\\" + sep + ".*$", "")
        # A local part that is all tag (`+shop@gmail.com`) keeps it: an empty key would match nothing sane.
        cut = pc.if_else(pc.equal(cut, ""), local, cut)
        local = pc.if_else(tagged, cut, local)
    dotless = pc.fill_null(pc.is_in(domain, value_set=pa.array(sorted(settings.dotless), pa.string())), False)
    local = pc.if_else(dotless, pc.replace_substring(local, ".", ""), local)
    return pc.if_else(has_at, pc.binary_join_element_wise(local, domain, "@"), text)


def canonical_email(value: str, settings: EmailSettings | None = None) -> str:
    """One address's matching key (trimmed, lower case), in plain Python: the real-time look-up pays
    microseconds, not an arrow call. Agrees with `canonical_emails` (a test holds the two together)."""
    settings = settings or _defaults()
    value = value.strip().lower()
    if not settings.canonicalize or "@" not in value:
        return value
    local, domain = value.rsplit("@", 1)
    domain = settings.fixes.get(domain, domain)
    sep = settings.separators.get(domain)
    if sep and sep in local and local.index(sep) > 0:
        local = local[: local.index(sep)]
    if domain in settings.dotless:
        local = local.replace(".", "")
    return f"{local}@{domain}"
