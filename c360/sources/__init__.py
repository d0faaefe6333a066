"""Sources: connectors that map raw files onto canonical records (ingest), and the demo-data generator.

`c360.sources.ingest` is the Ray Data pipeline (`ingest`, `print_summary`); `normalize`, `mapping` and
`readers` are its pure parts; `layout` says where outputs go and how to read them back.
"""
