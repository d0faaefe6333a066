"""The model behind the content writer, reached through the `openai` SDK: Azure OpenAI (`AzureOpenAI` with
endpoint, deployment and api-version; an API key, or an Entra ID token from azure-identity when no key is
configured) or any OpenAI-compatible endpoint (`OpenAI(base_url=...)`: vLLM, llama.cpp's server, Ollama).

The SDK's own retries are off (`max_retries=0`): `c360.genai.resilience` retries, so a Retry-After is
honoured once, counted, and bounded. SDK failures become `RetryableError` (429, 5xx, timeouts, refused
connections), `RefusalError` (a refusal or a content filter) or `BackendError` (anything else, e.g. 401).
`llm.provider: offline` builds no backend at all: the writer's templates answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from c360.errors import ConfigError
from c360.genai.resilience import BackendError, RefusalError, RetryableError
from c360.genai.tasks import output_schema
from c360.settings import LLMSettings

AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"


@dataclass(frozen=True)
class Completion:
    text: str
    tokens_in: int
    tokens_out: int
    model: str


class ChatStream:
    """The text deltas of one streamed answer; `tokens_in`/`tokens_out` are set once it is consumed (when the
    server reports usage)."""

    def __init__(self, chunks: Any) -> None:
        self._chunks = chunks
        self.tokens_in = 0
        self.tokens_out = 0

    def __iter__(self) -> Iterator[str]:
        import openai

        try:
            for chunk in self._chunks:
                if getattr(chunk, "usage", None) is not None:
                    self.tokens_in = chunk.usage.prompt_tokens or 0
                    self.tokens_out = chunk.usage.completion_tokens or 0
                for choice in chunk.choices or ():
                    delta = choice.delta
                    if getattr(delta, "refusal", None) or choice.finish_reason == "content_filter":
                        raise RefusalError("the model refused to answer")
                    if delta.content:
                        yield delta.content
        except openai.OpenAIError as exc:
            raise _mapped(exc) from None
        finally:
            close = getattr(self._chunks, "close", None)
            if callable(close):
                close()


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is not None:
            try:
                return max(0.0, float(value) / divisor)
            except ValueError:
                continue
    return None


def _mapped(exc: Exception) -> BackendError:
    """An SDK exception as the writer's error kinds; messages name the kind and status, never the prompt."""
    import openai

    if isinstance(exc, openai.RateLimitError):
        return RetryableError(
            "the model's endpoint is rate limiting (429)", _retry_after(exc), rate_limited=True
        )
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return RetryableError(f"the model's endpoint failed ({exc.status_code})", _retry_after(exc))
        return BackendError(f"the model's endpoint refused the call ({exc.status_code})")
    if isinstance(exc, openai.APITimeoutError):
        return RetryableError("the model's endpoint timed out")
    if isinstance(exc, openai.APIConnectionError):
        return RetryableError("the model's endpoint cannot be reached")
    if isinstance(exc, openai.ContentFilterFinishReasonError):
        return RefusalError("the model's content filter stopped the answer")
    return BackendError(f"the model call failed: {type(exc).__name__}")


class OpenAIBackend:
    """One SDK client (OpenAI or AzureOpenAI), used from many threads."""

    def __init__(self, client: Any, model: str, name: str) -> None:
        self.client, self.model, self.name = client, model, name

    def complete(
        self, messages: list[dict[str, str]], task: str, max_tokens: int, timeout: float | None = None
    ) -> Completion:
        """One answer as JSON of the task's schema (chat: plain text). `timeout` shortens the client's
        `llm.timeout_seconds` for this call (the time left before the request's deadline)."""
        import openai

        kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        if task != "chat":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": task, "schema": output_schema(task), "strict": False},
            }
        try:
            answer = self.client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=max_tokens, temperature=0.4, **kwargs
            )
        except openai.OpenAIError as exc:
            raise _mapped(exc) from None
        if not answer.choices:
            raise RetryableError("the model returned no choice")
        choice = answer.choices[0]
        if choice.message.refusal or choice.finish_reason == "content_filter":
            raise RefusalError("the model refused to answer")
        usage = answer.usage
        return Completion(
            choice.message.content or "",
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
            answer.model or self.model,
        )

    def stream(
        self, messages: list[dict[str, str]], max_tokens: int, timeout: float | None = None
    ) -> ChatStream:
        """A streamed plain-text answer; errors before the first chunk raise here, later ones while
        iterating. `timeout` shortens the client's for this call: connecting and every read, the wait for
        the first chunk included."""
        import openai

        kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            chunks = self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                max_tokens=max_tokens,
                temperature=0.4,
                stream=True,
                stream_options={"include_usage": True},
                **kwargs,
            )
        except openai.OpenAIError as exc:
            raise _mapped(exc) from None
        return ChatStream(chunks)

    def close(self) -> None:
        self.client.close()


def _entra_token_provider() -> Any:
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    except ImportError:
        raise ConfigError(
            "llm.provider azure_openai without llm.api_key needs azure-identity for an Entra ID token "
            "(pip install azure-identity), or set llm.api_key"
        ) from None
    return get_bearer_token_provider(DefaultAzureCredential(), AZURE_SCOPE)


def backend_from_settings(settings: LLMSettings) -> OpenAIBackend | None:
    """The configured backend, or None for `offline`. Fails fast on an incomplete configuration."""
    if settings.provider == "offline":
        return None
    import openai

    key = settings.api_key.get_secret_value() if settings.api_key else None
    common: dict[str, Any] = {"timeout": settings.timeout_seconds, "max_retries": 0}
    if settings.provider == "openai":
        if not settings.base_url and not key:
            raise ConfigError(
                "llm.provider openai needs llm.base_url (an OpenAI-compatible endpoint) or llm.api_key"
            )
        client = openai.OpenAI(base_url=settings.base_url, api_key=key or "unused", **common)
        return OpenAIBackend(client, settings.model, "openai")
    if not settings.base_url or not settings.api_version:
        raise ConfigError(
            "llm.provider azure_openai needs llm.base_url (the resource endpoint) and llm.api_version"
        )
    deployment = settings.deployment or settings.model
    auth: dict[str, Any] = {"api_key": key} if key else {"azure_ad_token_provider": _entra_token_provider()}
    client = openai.AzureOpenAI(
        azure_endpoint=settings.base_url,
        azure_deployment=deployment,
        api_version=settings.api_version,
        **auth,
        **common,
    )
    return OpenAIBackend(client, deployment, "azure_openai")
