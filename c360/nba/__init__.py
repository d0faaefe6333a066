"""Next-best-action: an action catalogue with eligibility rules, a VW contextual bandit over the eligible
actions, a replayable decision log, off-policy evaluation and a simulator that shows learning.

`catalog` (what may be offered), `bandit` (VW cb_explore_adf), `decisions` (the log under
`<lake>/decisions/`, local or abfs://), `engine` (the three together), `ope` (IPS / SNIPS / DR), `warmstart`
(from the exposures fact table), `simulator` (the demo generator's customers with hidden preferences),
`erasure` (the decision log's erasure step), `workspace` and `cli` (`c360 nba simulate | evaluate |
warm-start | register`), `model` (checkpoints as registered `nba` versions).
"""
