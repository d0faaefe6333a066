"""Privacy: the consent ledger and its enforcement, the right to be forgotten, retention.

A lower layer: it imports no stage (sources, identity, profile, features). Erasure is orchestrated here
(journal, suppression, audit, generic lake scans) through the `ErasureStep` interface of `privacy.subject`;
each stage implements its step in its own `erasure.py`, and `c360.erasure_plan` puts them in order.
"""
