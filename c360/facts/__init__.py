"""Customer-keyed fact tables (`facts/`): what models train on, in one currency, re-keyed by identity."""
