"""A chat-completions server on loopback: the stand-in for Azure OpenAI in tests, the evaluation and the
benchmark (no instruction-tuned model runs offline here, see ../shared/COMPONENTS.md).

It speaks the protocol the `openai` SDK speaks: `POST /v1/chat/completions` and Azure's
`/openai/deployments/{deployment}/chat/completions?api-version=...`, JSON answers with `usage`, streaming as
SSE `data: {chunk}` ... `data: [DONE]`. Its "model" is deterministic and echo-ish: it builds the task's JSON
answer from the data document of the prompt (name, product, offer). In `obedient` mode it also does what
instructions hidden in that data say (a discount, an expiry, "ignore previous instructions and ...", "answer
in plain text", "include the email") the way a model that follows injected text would, so the evaluation
measures what c360's guardrails hold, not the stand-in's restraint. What it cannot show: how a real model
words things, how often it drifts on its own, or what Azure's content filters do.

Behaviours are scripted per request (`script(...)`): `ok`, `429` (with `retry_after`), `500`, `stall` (no
answer for `stall_seconds`), `stall_stream` (two chunks, then silence), `bad_json`, `refusal`. A rate limit
(`rate_per_second`) answers 429 with Retry-After past it; `ttft_seconds` delays the first byte of an answer.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DISCOUNT_ORDER = re.compile(r"(\d{1,3})\s*%\s*(?:off|discount)", re.IGNORECASE)
EXPIRY_ORDER = re.compile(r"expir\w*\s+(?:on\s+)?(\d{4}-\d{2}-\d{2})", re.IGNORECASE)
IGNORE_ORDER = re.compile(
    r"(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier)\s+"
    r"(?:instructions|rules)[,.:;]?\s*(?:and\s+)?(?:then\s+)?([^\n]{0,200})",
    re.IGNORECASE,
)
LEAK_ORDER = re.compile(
    r"(?:include|reveal|print|add|show|write)\b[^.]{0,40}\b(email|phone|address|birth)", re.I
)
PLAIN_ORDER = re.compile(r"plain text|no json|not? (?:use|answer in) json|without json", re.IGNORECASE)
SYSTEM_ORDER = re.compile(r"(?:reveal|print|repeat|show)\b[^.]{0,30}\b(?:system prompt|instructions)", re.I)


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def answer_for(body: dict[str, Any], obedient: bool) -> tuple[str, str]:
    """(task, answer text) the stand-in model gives to one chat-completions request body."""
    messages = body.get("messages") or []
    system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
    user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "{}")
    try:
        data = json.loads(user).get("data", {})
    except (ValueError, AttributeError):
        data = {"task": "chat", "customer_message": str(user)}
    task = data.get("task", "chat")
    customer = data.get("customer") or {}
    product = data.get("product") or {}
    offer = dict(data.get("offer") or {})
    name = customer.get("first_name")
    extra: list[str] = []
    plain = False
    if obedient:
        quoted = [str(data.get("customer_message", "")), str(data.get("tone", ""))]
        for text in _strings(customer) + _strings(product) + quoted:
            if m := DISCOUNT_ORDER.search(text):
                offer["discount_percent"] = int(m.group(1))
            if m := EXPIRY_ORDER.search(text):
                offer["expires_on"] = m.group(1)
            if m := IGNORE_ORDER.search(text):
                extra.append(m.group(1).strip())
            if m := LEAK_ORDER.search(text):
                found = [
                    customer.get(k) for k in ("email", "phone", "street", "birth_date") if customer.get(k)
                ]
                extra.append(f"Your details: {', '.join(map(str, found)) or 'on file'}")
            if SYSTEM_ORDER.search(text):
                extra.append(system[:300])
            plain = plain or bool(PLAIN_ORDER.search(text))
    hello = f"Hi {name}," if name else "Hello,"
    cats = customer.get("favorite_categories") or []
    liked = f" Picked for a fan of {cats[0]}." if cats else ""
    tail = (" " + " ".join(extra)) if extra else ""
    pct, expires = offer.get("discount_percent"), offer.get("expires_on")
    terms = f"{pct}% off until {expires}." if pct else (f"Valid until {expires}." if expires else "")
    if task == "chat":
        tickets = customer.get("open_tickets")
        follow = " I can see your open request and we are on it." if tickets else ""
        return task, f"{hello} thanks for getting in touch.{follow}{liked} Anything else I can do?{tail}"
    if task == "product_description":
        fields: dict[str, Any] = {
            "title": product.get("title") or "Our product",
            "body": f"{product.get('description') or ''}{liked}{tail}".strip() or "A fine product.",
        }
    elif task == "email":
        text = f"{hello}\n\nGood news: {terms}{liked}{tail}"
        fields = {
            "subject": f"{pct}% off for you" if pct else "Something for you",
            "preheader": terms or "An offer for you",
            "text": text,
            "html": f"<p>{hello}</p><p>Good news: {terms}{liked}{tail}</p>",
        }
    else:
        fields = {"headline": f"{pct}% off" if pct else "An offer for you", "body": f"{terms}{liked}{tail}"}
    if task in ("email", "offer"):
        fields["offer"] = {"discount_percent": pct, "expires_on": expires}
    if plain:
        return task, " ".join(str(v) for v in fields.values() if isinstance(v, str))
    return task, json.dumps(fields, ensure_ascii=False)


class StandInServer:
    """The server and its scripted behaviours; `url` for `OpenAI(base_url=...)`, `endpoint` for Azure."""

    def __init__(
        self,
        obedient: bool = False,
        rate_per_second: float | None = None,
        ttft_seconds: float = 0.0,
        chunk_seconds: float = 0.0,
        stall_seconds: float = 30.0,
    ) -> None:
        self.obedient, self.rate = obedient, rate_per_second
        self.ttft, self.chunk_delay, self.stall_seconds = ttft_seconds, chunk_seconds, stall_seconds
        self.requests: list[dict[str, Any]] = []
        self.statuses: dict[int, int] = {}
        self._script: deque[tuple[str, float]] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tokens, self._since = float(rate_per_second or 0), time.monotonic()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StandInServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StandInServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *behaviours: str | tuple[str, float]) -> None:
        """Queue behaviours for the next requests (`"429"` or `("429", retry_after)`); then `ok` again."""
        with self._lock:
            for b in behaviours:
                self._script.append(b if isinstance(b, tuple) else (b, 1.0))

    def _next(self) -> tuple[str, float]:
        with self._lock:
            if self.rate:
                now = time.monotonic()
                self._tokens = min(self.rate, self._tokens + (now - self._since) * self.rate)
                self._since = now
                if self._tokens < 1.0:
                    return ("429", (1.0 - self._tokens) / self.rate)
                self._tokens -= 1.0
            return self._script.popleft() if self._script else ("ok", 0.0)

    def _count(self, status: int) -> None:
        with self._lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body leave in separate writes: without this, Nagle's algorithm and the
                # client's delayed ACK add ~40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: object) -> None:  # quiet: prompts carry customer data
                return

            def _json(self, status: int, doc: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                body = json.dumps(doc).encode()
                server._count(status)  # before the answer leaves: the client may look the moment it arrives
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if not self.path.split("?")[0].endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "not found"}})
                    return
                behaviour, arg = server._next()
                if behaviour == "429":
                    self._json(429, {"error": {"message": "rate limited"}}, {"Retry-After": f"{arg:.3f}"})
                    return
                if behaviour == "500":
                    self._json(500, {"error": {"message": "internal error"}})
                    return
                if behaviour == "stall":
                    server._stop.wait(server.stall_seconds)
                    return
                if server.ttft:
                    time.sleep(server.ttft)
                task, text = answer_for(body, server.obedient)
                if behaviour == "bad_json":
                    text = '{"subject": "Hi", "text": "unterminated'
                refusal = "I can't help with that request." if behaviour == "refusal" else None
                usage = {
                    "prompt_tokens": sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
                    // 4,
                    "completion_tokens": len(text) // 4,
                }
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                model = body.get("model", "stand-in")
                if body.get("stream"):
                    self._stream(model, text, refusal, usage, behaviour == "stall_stream", body)
                    return
                message = {"role": "assistant", "content": None if refusal else text, "refusal": refusal}
                self._json(
                    200,
                    {
                        "id": "chatcmpl-standin",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                        "usage": usage,
                    },
                )

            def _stream(
                self, model: str, text: str, refusal: str | None, usage: dict, stall: bool, body: dict
            ) -> None:
                server._count(200)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()

                def send(delta: dict[str, Any], finish: str | None = None, extra: dict | None = None) -> None:
                    chunk = {
                        "id": "chatcmpl-standin",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
                        if delta is not None
                        else [],
                        **(extra or {}),
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()

                try:
                    if refusal:
                        send({"role": "assistant", "refusal": refusal}, "stop")
                    else:
                        words = re.findall(r"\S+\s*", text)
                        for i in range(0, len(words), 3):
                            send({"content": "".join(words[i : i + 3])})
                            if stall and i >= 3:
                                server._stop.wait(server.stall_seconds)
                                return
                            if server.chunk_delay:
                                time.sleep(server.chunk_delay)
                        send({}, "stop")
                    if (body.get("stream_options") or {}).get("include_usage"):
                        send(None, None, {"usage": usage})  # type: ignore[arg-type]
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                self.close_connection = True

        return Handler
