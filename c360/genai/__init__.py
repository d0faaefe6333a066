"""GenAI content for one customer: product descriptions, marketing emails, chat replies and offer copy,
grounded in the profile and the chosen next-best-action offer, consent-gated, checked, cached and budgeted.

`ContentWriter` (writer.py) is the entry point; `service.writer_for_workspace` builds one from c360.yaml.
tasks.py (requests, offer terms, output schemas), grounding.py (consent, minimized profile), prompts.py,
templates.py (the offline writer), backends.py (openai SDK: OpenAI-compatible or Azure OpenAI),
resilience.py (retries, deadline, pacing, circuit breaker), guardrails.py, cache.py, budget.py,
ledger.py (the budget and pacing every process of a workspace shares), erasure.py,
evaluate.py and injections.py (`c360 genai evaluate`), standin.py (a loopback chat-completions server for
tests, evaluation and benchmark), cli.py (`c360 genai`)."""
