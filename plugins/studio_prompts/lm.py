"""Language models: any litellm provider string, a plugin's provider, or a Python function.

``LM("openai/gpt-4o-mini")``, ``LM("ollama_chat/llama3", api_base="http://localhost:11434")``,
``LM("studio/my-run")`` (the trainer's checkpoints, through the ``studio_llm_providers``
hook; a first call that loads the model says so, and its ``load`` span is traced apart
from the generation) or ``LM("echo", backend=fn)``. One ``LM`` holds a model and its
default sampling parameters; ``call`` / ``acall`` send messages and return a
:class:`Completion`.

What happens on a call, in order, all of it visible in the ``llm`` span: the cache is
checked (a hit costs no budget and no concurrency slot); the budget and the cancel flag
are checked; a concurrency slot is taken; the backend is called with a timeout; on a rate
limit (429), a server error (5xx), a timeout or a dropped connection the call is retried
with exponential backoff (``retries`` times); the reply is cached. API keys come from the
environment or the OS keyring and are handed to litellm per call — never stored in the
request, the cache, a trace or a file. litellm is imported on the first call to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from studio.api import JobCancelled, StudioFileError, contributions, get_api_key, resolve, resolve_model

from . import intervention as interventions
from .cache import request_key
from .settings import settings
from .tokens import LOGPROB_PARAMS, read_logprobs

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}
RETRY_NAMES = (
    "Timeout",
    "APIConnectionError",
    "RateLimitError",
    "InternalServerError",
    "ServiceUnavailableError",
    "BadGatewayError",
    "APITimeoutError",
    "TimeoutError",
    "ConnectError",
)


#: sent instead of a key to servers that get none of the user's (local servers ignore it)
PLACEHOLDER_KEY = "no-key"
#: a plugin provider's reply field saying the call first loaded the model (``LLMProvider``)
LOAD_FIELD = "studio_load"


def provider_name(model: str) -> str:
    """The litellm provider of a model string, whose API key it would use ("openai" by default)."""
    return model.split("/", 1)[0] if "/" in model else "openai"


class LMError(RuntimeError):
    """A model call that failed for good; the message names the model and the cause."""

    plain_message = True  # shown without "LMError:": the message says what failed

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1):
        super().__init__(message)
        self.status, self.attempts = status, attempts


class BudgetExceeded(RuntimeError):
    pass


@dataclass
class Completion:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency: float = 0.0
    cache_hit: bool = False
    finish_reason: str | None = None
    attempts: int = 1
    #: the provider loaded the model during this call: {"start", "seconds", "name"} (``LOAD_FIELD``)
    load: dict[str, Any] | None = None
    #: OpenAI's ``choices[0].logprobs.content`` as plain dicts; None: the provider sent none
    logprobs: list[dict[str, Any]] | None = None
    #: a local provider's own token data (prompt tokens, ids, entropy: ``tokens.py``)
    studio_tokens: dict[str, Any] | None = None
    #: the intervention file a local model applied: {"file", "summary"} (``intervention.py``)
    intervention: dict[str, Any] | None = None
    #: why the provider's logprobs could not be read ("" when they could, or none came): the span's note
    logprobs_error: str = ""

    @property
    def load_seconds(self) -> float:
        return float(self.load["seconds"]) if self.load else 0.0

    def to_cache(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost,
            "finish_reason": self.finish_reason,
            # kept so a cache hit has the call's tokens (an entry without the key predates this)
            "logprobs": self.logprobs or [],
            **({"studio_tokens": self.studio_tokens} if self.studio_tokens else {}),
            **({"intervention": self.intervention} if self.intervention else {}),
            **({"logprobs_error": self.logprobs_error} if self.logprobs_error else {}),
        }


class Budget:
    """Stop a run after ``max_calls`` model calls or ``max_cost`` dollars (cache hits are free)."""

    def __init__(self, max_calls: int | None = None, max_cost: float | None = None):
        self.max_calls, self.max_cost = max_calls, max_cost
        self.calls, self.cost = 0, 0.0

    def check(self) -> None:
        """Count a call about to be sent, or refuse it. Counting before the call keeps
        concurrent calls from overshooting ``max_calls``; cost is known only after."""
        if self.max_calls is not None and self.calls >= self.max_calls:
            raise BudgetExceeded(f"budget spent: {self.calls} of {self.max_calls} model calls")
        if self.max_cost is not None and self.cost >= self.max_cost:
            raise BudgetExceeded(f"budget spent: ${self.cost:.4f} of ${self.max_cost:.4f}")
        self.calls += 1

    def charge(self, completion: Completion) -> None:
        self.cost += completion.cost


# --------------------------------------------------------------------------- backends


def _litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-map download at import
    import litellm

    litellm.suppress_debug_info = True
    return litellm


class LiteLLMBackend:
    def __init__(self, api_key: str | None):
        self.api_key = api_key
        _litellm()  # imported here (seconds, once), not inside the first call's measured latency

    def complete(self, request: dict[str, Any], timeout: float) -> Any:
        return _litellm().completion(**request, timeout=timeout, num_retries=0, **self._key())

    async def acomplete(self, request: dict[str, Any], timeout: float) -> Any:
        return await _litellm().acompletion(**request, timeout=timeout, num_retries=0, **self._key())

    def _key(self) -> dict[str, str]:
        return {"api_key": self.api_key} if self.api_key else {}


class FunctionBackend:
    """``fn(model, messages, **params)`` returning a string or an OpenAI-shaped dict; sync or async."""

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn)

    def complete(self, request: dict[str, Any], timeout: float) -> Any:
        if self.is_async:
            return asyncio.run(self.fn(**request))
        return self.fn(**request)

    async def acomplete(self, request: dict[str, Any], timeout: float) -> Any:
        if self.is_async:
            return await self.fn(**request)
        return await asyncio.to_thread(self.fn, **request)


def provider_for(model: str):
    """The plugin provider whose prefix the model string starts with, if any (the longest
    such prefix). Asked each time: the process's plugin host keeps the list, and a plugin
    disabled or installed since is heard of."""
    providers = sorted(contributions("studio_llm_providers"), key=lambda p: -len(p.prefix))
    return next((p for p in providers if model.startswith(p.prefix)), None)


def model_version(model: str) -> str | None:
    """What a workspace model string (``studio/<run id>``: a provider with ``model_refs``)
    stands for now: its model folder and its files' sizes and times. Part of the cache key,
    so a run retrained or resumed since (a new best checkpoint under the same run id) is
    asked again rather than answered from the cache. None for other models, and for a name
    that resolves to nothing (the call itself then says why)."""
    provider = provider_for(model)
    if provider is None or not provider.model_refs:
        return None
    try:
        folder = resolve_model(model[len(provider.prefix) :])
        files = sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in folder.iterdir() if f.is_file())
    except (StudioFileError, OSError):
        return None
    return f"{folder.resolve()}|{files}"


# --------------------------------------------------------------------------- the LM


class LM:
    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key_env: str | None = None,
        timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 0.5,
        cache: bool = True,
        backend: Callable[..., Any] | None = None,
        **params: Any,
    ):
        if not model:
            raise ValueError("LM needs a model string, for example 'openai/gpt-4o-mini'")
        self.model, self.api_base, self.api_key_env = model, api_base, api_key_env
        self.timeout, self.retries, self.backoff, self.cache = timeout, retries, backoff, cache
        self.params = {k: v for k, v in params.items() if v is not None}
        self._backend: FunctionBackend | LiteLLMBackend | None = (
            FunctionBackend(backend) if backend is not None else None
        )
        self._structured: bool | None = None
        self._plugin_provider = False  # set by backend(): a plugin's provider (studio/…), not litellm
        # False for a server a workflow FILE names (``api_base`` there) until the person
        # running it agreed: then it gets a placeholder key, never one of theirs (trust.py)
        self.send_key = True

    def __repr__(self) -> str:
        return f"LM({self.model!r}" + (f", api_base={self.api_base!r}" if self.api_base else "") + ")"

    def to_dict(self) -> dict[str, Any]:
        out = {"model": self.model, **self.params}
        if self.api_base:
            out["api_base"] = self.api_base
        if self.api_key_env:
            out["api_key_env"] = self.api_key_env
        return out

    def copy(self, **changes: Any) -> LM:
        kwargs = {
            "api_base": self.api_base,
            "api_key_env": self.api_key_env,
            "timeout": self.timeout,
            "retries": self.retries,
            "backoff": self.backoff,
            "cache": self.cache,
            **self.params,
        }
        model = changes.pop("model", self.model)
        kwargs.update(changes)
        lm = LM(model, **kwargs)
        lm.send_key = self.send_key
        if self._backend is not None and model == self.model:
            lm._backend, lm._plugin_provider = self._backend, self._plugin_provider
        return lm

    # ---- request and backend

    def request(self, messages: list[dict[str, str]], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        request = {"model": self.model, "messages": messages, **self.params}
        if overrides:
            request.update(overrides)
        if request.get("top_logprobs") and "logprobs" not in request:  # OpenAI refuses one without the other
            request["logprobs"] = True
        if self.api_base:
            request["api_base"] = self.api_base
        return request

    def backend(self):
        if self._backend is None:
            provider = provider_for(self.model)
            if provider is not None:
                self._backend = FunctionBackend(resolve(provider.factory)())
                self._plugin_provider = True
            else:
                self._backend = LiteLLMBackend(self._api_key())
        return self._backend

    def allow_key(self) -> None:
        """The person running a workflow agreed that its file's server gets their key."""
        if not self.send_key:
            self.send_key = True
            if isinstance(self._backend, LiteLLMBackend):
                self._backend = None  # made with the placeholder

    def _api_key(self) -> str | None:
        """The key handed to litellm. A server named by a workflow file without consent
        gets :data:`PLACEHOLDER_KEY` (``$api_key_env`` is refused): litellm is never left
        to find the user's key itself for it. Any ``api_base`` with no key configured gets
        the placeholder too: local servers do not check it, and the real error (cannot
        connect, 401) surfaces instead of litellm's "missing credentials"."""
        if self.api_key_env:
            if not self.send_key:
                raise LMError(
                    f"{self.model}: not sending ${self.api_key_env} to {self.api_base}: the workflow "
                    "file names that server, and nobody agreed to send it a key"
                )
            key = os.environ.get(self.api_key_env)
            if not key:
                raise LMError(f"{self.model}: the environment variable {self.api_key_env} is not set")
            return key
        if self.api_base and not self.send_key:
            return PLACEHOLDER_KEY
        key, _where = get_api_key(provider_name(self.model))
        if key is None and self.api_base:
            return PLACEHOLDER_KEY
        return key  # None: the provider's own server; litellm looks in the environment itself

    def supports_structured_output(self) -> bool:
        """Whether the provider can be held to a JSON schema (``response_format``); asked of
        litellm's model table once per LM. Plugin providers and functions: no."""
        if self._structured is None:
            self._structured = False
            if isinstance(self.backend(), LiteLLMBackend):
                try:
                    self._structured = bool(_litellm().supports_response_schema(model=self.model))
                except Exception:  # an unknown model: ask for plain JSON in the prompt only
                    self._structured = False
        return self._structured

    # ---- calls

    def call(self, messages: list[dict[str, str]], **overrides: Any) -> Completion:
        request, key, hit = self._before(messages, overrides)
        if hit is not None:
            return hit
        backend = self.backend()
        sendable = self._sendable(request)
        attempt = 0
        while True:
            attempt += 1
            t0 = time.perf_counter()
            try:
                response = backend.complete(sendable, self.timeout)
            except Exception as exc:
                time.sleep(self._retry_delay(exc, attempt))
            else:
                return self._after(request, key, response, time.perf_counter() - t0, attempt)

    async def acall(self, messages: list[dict[str, str]], **overrides: Any) -> Completion:
        request, key, hit = self._before(messages, overrides)
        if hit is not None:
            return hit
        backend = self.backend()
        limiter = settings().limiter or contextlib.nullcontext()
        sendable = self._sendable(request)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with limiter:  # waiting for a slot is not latency: the clock starts inside
                    t0 = time.perf_counter()
                    async with asyncio.timeout(self.timeout + 1):  # no extra task, unlike wait_for
                        response = await backend.acomplete(sendable, self.timeout)
                    latency = time.perf_counter() - t0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await asyncio.sleep(self._retry_delay(exc, attempt))
            else:
                return self._after(request, key, response, latency, attempt)

    @property
    def records_tokens(self) -> bool:
        """A plugin's provider (``studio/…``): it sends token data with every reply, unasked."""
        if self._backend is None:  # not made yet (a cache hit): ask without making one (litellm's import)
            return provider_for(self.model) is not None
        return self._plugin_provider

    def _sendable(self, request: dict[str, Any]) -> dict[str, Any]:
        """What goes to the backend: no cache salt; a plugin provider gets no logprobs
        parameters (it records tokens always; they are litellm's request fields)."""
        drop = {"cache_salt", *(LOGPROB_PARAMS if self._plugin_provider else ())}
        if drop & request.keys():
            request = {k: v for k, v in request.items() if k not in drop}
        return request

    def _before(self, messages, overrides) -> tuple[dict[str, Any], str | None, Completion | None]:
        current = settings()
        request = self.request(messages, overrides)
        key = None
        cache = current.cache if self.cache and overrides.get("cache", True) is not False else None
        request.pop("cache", None)
        applied = request.get(interventions.KEY)
        if applied is not None:
            why = interventions.refusal(str(request.get("model", "")), applied)
            if why is not None:
                raise LMError(why)
        if cache is not None:
            version = model_version(str(request.get("model", "")))
            salted = request if version is None else {**request, "model_version": version}
            if applied is not None:  # the file's content: a changed file is asked again
                salted = {**salted, "intervention_digest": interventions.digest(applied)}
            key = request_key(salted)
            cached = cache.get(key)
            if cached is not None:
                return request, key, Completion(**cached, cache_hit=True, attempts=0)
        if current.cancelled is not None and current.cancelled():
            raise JobCancelled("cancelled before the model call")
        if current.budget is not None:
            current.budget.check()
        return request, key, None

    def _retry_delay(self, exc: Exception, attempt: int) -> float:
        status = getattr(exc, "status_code", None)
        retryable = (
            status in RETRY_STATUS
            or isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError))
            or (status is None and type(exc).__name__ in RETRY_NAMES)
        )
        if not retryable or attempt > self.retries:
            raise self._error(exc, status, attempt) from exc
        return self.backoff * (2 ** (attempt - 1)) * (1 + 0.1 * random.random())

    def _error(self, exc: Exception, status: int | None, attempts: int) -> LMError:
        """One plain line: the model, what went wrong, and what to check. litellm's class-name
        prefixes and object reprs are noise to the reader; a dead server is said as such."""
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        where = f" at {self.api_base}" if self.api_base else ""
        timed_out = isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or type(exc).__name__ in (
            "Timeout",
            "APITimeoutError",
        )
        refused = None if timed_out else connection_failure(exc)
        if refused is not None:
            target = self.api_base or refused[1] or "the provider"
            return LMError(
                f"{self.model}: cannot connect to {target} ({refused[0]}){tries} — is the server running?",
                status=status,
                attempts=attempts,
            )
        what = f"no reply within {self.timeout:g} s" if timed_out else plain_message(exc)
        hint = ""
        if status in (401, 403):
            hint = " — check the API key (environment variable or the OS keyring; Settings → API keys)"
        elif status == 429 or type(exc).__name__ == "RateLimitError":
            hint = " — rate limited: wait, or lower the concurrency"
        elif status is not None and status >= 500 and f"{status}" not in what:
            what = f"server error {status}: {what}"
        return LMError(f"{self.model}{where}: {what}{tries}{hint}", status=status, attempts=attempts)

    def _after(self, request, key, response, latency: float, attempts: int) -> Completion:
        # the call's start, on the clock a provider's load report uses (Unix time)
        completion = to_completion(response, self.model, latency, attempts, call_start=time.time() - latency)
        current = settings()
        if current.budget is not None:
            current.budget.charge(completion)
        if key is not None:
            current.cache.put(key, request, completion.to_cache())
        return completion


def to_completion(
    response: Any, model: str, latency: float, attempts: int, call_start: float | None = None
) -> Completion:
    """A litellm ModelResponse, an OpenAI-shaped dict, or a plain string → Completion.
    ``call_start`` (Unix time): when the call began, where a load report's span starts."""
    if isinstance(response, str):
        return Completion(response, model, latency=latency, attempts=attempts, finish_reason="stop")
    if isinstance(response, dict):
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        content, malformed = read_logprobs(choice.get("logprobs"))
        return Completion(
            choice["message"].get("content") or "",
            response.get("model", model),
            usage.get("prompt_tokens", 0),
            usage.get("completion_tokens", 0),
            float(response.get("cost") or 0.0),
            latency,
            False,
            choice.get("finish_reason"),
            attempts,
            load_of(response.get(LOAD_FIELD), latency, call_start),
            content,
            response.get("studio_tokens") if isinstance(response.get("studio_tokens"), dict) else None,
            response.get("studio_intervention") if isinstance(response.get("studio_intervention"), dict) else None,
            malformed,
        )
    choice = response.choices[0]
    usage = getattr(response, "usage", None)
    hidden = getattr(response, "_hidden_params", None) or {}
    content, malformed = read_logprobs(getattr(choice, "logprobs", None))
    return Completion(
        choice.message.content or "",
        getattr(response, "model", None) or model,
        getattr(usage, "prompt_tokens", 0) or 0,
        getattr(usage, "completion_tokens", 0) or 0,
        float(hidden.get("response_cost") or 0.0),
        latency,
        False,
        choice.finish_reason,
        attempts,
        logprobs=content,
        logprobs_error=malformed,
    )


def load_of(value: Any, latency: float, call_start: float | None = None) -> dict[str, Any] | None:
    """A provider's model-load report (``LOAD_FIELD``), checked: a start time and a
    duration within the call's; None for anything else. Given the call's start, the load
    starts there: everything before the model was ready (imports, finding the checkpoint)
    is loading, and only what follows it generation."""
    if not isinstance(value, dict):
        return None
    try:
        start, seconds = float(value["start"]), float(value["seconds"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (seconds >= 0 and start > 0):  # NaN fails both
        return None
    if call_start is not None and call_start < start:
        start, seconds = call_start, seconds + (start - call_start)
    return {"start": start, "seconds": min(seconds, latency), "name": str(value.get("name") or "load model")}


# --------------------------------------------------------------------------- error text

_PREFIX = re.compile(r"^\s*(?:litellm\.\w+:|\w*(?:Error|Exception)(?:\s*-|:))\s*")
_REPR = re.compile(r"\s*(?:\w+:)?<[\w.]+ object at 0x[0-9a-fA-F]+>")
_CONNECT_REASONS = (
    ("refused", "connection refused"),
    ("Name or service not known", "host name not found"),
    ("nodename nor servname", "host name not found"),
    ("getaddrinfo", "host name not found"),
    ("No route to host", "no route to host"),
    ("Network is unreachable", "network unreachable"),
    ("timed out", "connection timed out"),
    ("certificate", "TLS certificate problem"),
    ("reset by peer", "connection reset"),
)


def _chain(exc: BaseException | None, limit: int = 12) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and len(seen) < limit and all(e is not exc for e in seen):
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def plain_message(exc: BaseException) -> str:
    """``exc``'s text without litellm's ``litellm.X: XError: ProviderException -`` prefixes
    and without object reprs (``<ssl.SSLContext object at 0x…>``); the class name when empty."""
    text = " ".join(str(exc).split())
    while True:
        shorter = _PREFIX.sub("", text, count=1)
        if shorter == text or not shorter:
            break
        text = shorter
    text = _REPR.sub("", text).strip()
    return text or type(exc).__name__


def connection_failure(exc: BaseException) -> tuple[str, str] | None:
    """(reason, host) when the call never reached a server, else None. The reason is read
    from the whole exception chain: litellm wraps the socket error two or three deep."""
    chain = _chain(exc)
    texts = " ".join(f"{type(e).__name__}: {e}" for e in chain)
    connect = any(
        isinstance(e, ConnectionError)
        or type(e).__name__ in ("APIConnectionError", "ConnectError", "ClientConnectorError", "gaierror")
        for e in chain
    ) or bool(re.search(r"Cannot connect to host|Connection error|Connect call failed", texts))
    if not connect:
        return None
    reason = next((why for needle, why in _CONNECT_REASONS if needle.lower() in texts.lower()), "connection failed")
    host = re.search(r"Cannot connect to host (\S+)", texts)
    return reason, host.group(1) if host else ""
