"""Privacy: the consent ledger and its enforcement, the right to be forgotten, retention."""
