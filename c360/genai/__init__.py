"""GenAI content for one customer: product descriptions, marketing emails, chat replies and offer copy,
grounded in the profile and the chosen next-best-action offer, consent-gated, checked, cached and budgeted.
`ContentWriter` (writer.py) is the entry point; `service.writer_for_workspace` builds one from c360.yaml."""
