"""Seeded demo data: realistic raw files for all eight source kinds, plus the ground truth behind them.

`generate_demo_data(ws, customers, seed)` writes `raw/<source>/<file_set>/part-NNNNN.<ext>` into the lake and
`ground_truth/` beside it. The nickname table is exported for identity resolution to reuse.
"""

from c360.demo.generator import GROUND_TRUTH, generate_demo_data
from c360.demo.layout import FILE_SETS, FileSet
from c360.demo.nicknames import NICKNAMES, formal_names, name_variants, same_given_name
from c360.demo.noise import JUNK_EMAILS
from c360.demo.phones import JUNK_PHONES
from c360.demo.world import HISTORY_START, REFERENCE_DATE

__all__ = [
    "FILE_SETS",
    "GROUND_TRUTH",
    "HISTORY_START",
    "JUNK_EMAILS",
    "JUNK_PHONES",
    "NICKNAMES",
    "REFERENCE_DATE",
    "FileSet",
    "formal_names",
    "generate_demo_data",
    "name_variants",
    "same_given_name",
]
