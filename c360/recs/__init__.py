"""Recommendations: one interface (`Recommender.fit` / `recommend`) over popularity, repeat-purchase,
item-kNN, content, EASE, ALS and a LightGBM hybrid that re-ranks their candidates; business rules in
`rules`, ranking metrics in `metrics`, the interaction matrix from the fact tables in `data`.

Modules are imported where used (`from c360.recs.ease import Ease`): importing the package loads nothing
heavy.
"""
