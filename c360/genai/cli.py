"""`c360 genai write|evaluate`: the content writer from the command line.

`write` prints one piece of content for a customer of the workspace (its profile store, `facts/products`,
the NBA catalogue, `llm:` in c360.yaml). `evaluate` runs the fixed profiles x tasks and the injection suite
(`c360.genai.evaluate`) for the offline writer, the configured backend (when `llm.provider` is not
offline), and, with `--stand-in`, the loopback chat-completions stand-in, plain and obedient, each also
without guardrails as a baseline. Errors go up to `c360.cli.run_cli` (exit codes in `c360 --help`).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

genai_app = typer.Typer(help="GenAI content: write one piece, or evaluate backends.", no_args_is_help=True)

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace folder holding c360.yaml.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _quiet_http_log() -> None:
    """The SDK's HTTP client logs every request at INFO: one line per generation is noise here."""
    import logging

    logging.getLogger("httpx2").setLevel(logging.WARNING)


def _console():
    from c360.cli import console

    return console


@genai_app.command("write")
def genai_write(
    task: Annotated[str, typer.Argument(help="product_description, email, chat or offer.")],
    customer: Annotated[str, typer.Option("--customer", help="Customer id.")],
    product: Annotated[str | None, typer.Option("--product", help="Product id.")] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="The chosen NBA action (email, offer).")
    ] = None,
    message: Annotated[str | None, typer.Option("--message", help="The customer's chat message.")] = None,
    decided_at: Annotated[
        datetime | None, typer.Option("--decided-at", help="When the action was chosen (default now).")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Write one piece of content for one customer and print it with how it was made."""
    from c360.cli import _workspace
    from c360.genai.service import writer_for_workspace
    from c360.genai.tasks import ContentRequest
    from c360.io.terminal import json_text, plain

    _quiet_http_log()
    ws = _workspace(workspace)
    writer = writer_for_workspace(ws)
    try:
        content = writer.write(
            ContentRequest(task, customer, product, action, message, decided_at=decided_at)
        )
    finally:
        writer.close()
    doc = content.as_dict()
    if as_json:
        _console().print(json_text(doc))
        return
    for name, value in content.fields.items():
        text = value if isinstance(value, str) else json.dumps(value)
        for i, line in enumerate(text.split("\n")):  # line by line: plain() escapes control characters
            _console().print(plain(f"{name}: {line}" if i == 0 else f"  {line}"))
    flags = ", ".join(content.flags) or "none"
    _console().print(plain(f"-- source {content.source}, model {content.model}, flags {flags}"))


def _rows(writers: dict[str, Any], raw_too: set[str]) -> tuple[list[dict], list[dict]]:
    from c360.genai.evaluate import eval_writer, evaluate_backend, injection_suite

    rates, holds = [], []
    for name, writer in writers.items():
        w = eval_writer(writer)
        rates.append(evaluate_backend(name, w).as_dict())
        holds.append(injection_suite(name, w).as_dict())
        if name in raw_too:
            rates.append(evaluate_backend(f"{name}, no guardrails", w, raw=True).as_dict())
            holds.append(injection_suite(f"{name}, no guardrails", w, raw=True).as_dict())
    return rates, holds


@genai_app.command("evaluate")
def genai_evaluate(
    stand_in: Annotated[
        bool,
        typer.Option("--stand-in/--no-stand-in", help="Also run the loopback chat-completions stand-in."),
    ] = True,
    workspace: WorkspaceOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Groundedness, PII leakage, offer correctness, consent violations and length as rates per backend,
    and the injection suite's hold rate."""
    from rich.table import Table

    from c360.cli import _workspace
    from c360.genai.backends import backend_from_settings
    from c360.genai.evaluate import PRODUCTS, PROFILES
    from c360.genai.service import shared_budget, shared_pacer
    from c360.genai.standin import StandInServer
    from c360.genai.writer import ContentWriter
    from c360.io.terminal import json_text
    from c360.nba.catalog import load_catalog
    from c360.settings import LLMSettings

    _quiet_http_log()
    ws = _workspace(workspace)
    catalog = load_catalog()
    writers: dict[str, Any] = {
        "offline": ContentWriter(LLMSettings(), catalog, PROFILES.__getitem__, PRODUCTS.get)
    }
    if ws.settings.llm.provider != "offline":
        llm = ws.settings.llm
        writers[f"configured ({llm.provider})"] = ContentWriter(
            llm,
            catalog,
            PROFILES.__getitem__,
            PRODUCTS.get,
            backend=backend_from_settings(llm),
            budget=shared_budget(ws),  # the evaluation spends the workspace's budget and pace
            pacer=shared_pacer(ws),
        )
    servers = [StandInServer().start(), StandInServer(obedient=True).start()] if stand_in else []
    raw_too: set[str] = set()
    for server, name in zip(servers, ("stand-in", "stand-in obedient"), strict=False):
        llm = LLMSettings(provider="openai", base_url=server.url, timeout_seconds=5)
        writers[name] = ContentWriter(
            llm, catalog, PROFILES.__getitem__, PRODUCTS.get, backend=backend_from_settings(llm)
        )
        raw_too.add(name)
    try:
        rates, holds = _rows(writers, raw_too)
    finally:
        for server in servers:
            server.stop()
    if as_json:
        _console().print(json_text({"rates": rates, "injections": holds}))
        return
    table = Table(title="content evaluation (rates; offer_correct over email and offer tasks)")
    for col in ("backend", "cases", "grounded", "pii_leak", "offer_correct", "consent_violation", "length_ok",
                "from_model", "injection hold"):  # fmt: skip
        table.add_column(col)
    for r, h in zip(rates, holds, strict=True):
        table.add_row(
            r["backend"],
            str(r["cases"]),
            *(
                f"{r[k]:.3f}"
                for k in ("grounded", "pii_leak", "offer_correct", "consent_violation", "length_ok")
            ),
            f"{r['from_model']:.2f}",
            f"{h['held']}/{h['cases']} ({h['hold_rate']:.3f})",
        )
    _console().print(table)
