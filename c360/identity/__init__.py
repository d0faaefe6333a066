"""Identity resolution: deterministic and probabilistic matching, stable customer ids, golden records.

Entry points (imported lazily so loading the settings stays light): `c360.identity.resolve.resolve`,
`c360.identity.explain.explain`, `c360.identity.realtime.IdentityIndex`,
`c360.identity.corrections.add_correction`.
"""
