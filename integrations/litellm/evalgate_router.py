"""evalgate canary routing for the LiteLLM proxy: a pre-call hook.

Clients call one routed alias (``model: "support-bot"``). For every such request the hook reads
evalgate's traffic split for the flag, hashes the request's tenant exactly as evalgate does
(``fixtures/ROUTING.md``), rewrites ``data["model"]`` to the rollout's baseline or canary model
group (``support-bot@v41`` / ``support-bot@v42``), and tags the request metadata so the logs that
come back to evalgate say which arm served it, as decided at request time:

    metadata.evalgate_arm         "baseline" | "canary"
    metadata.evalgate_flag        the flag key
    metadata.evalgate_rollout_id  the rollout that owns the flag (null when none does)
    metadata.evalgate_tenant      the tenant the hash used (null when the request had none)
    metadata.evalgate_generation  the flag generation the decision used (null without a flag)

The tags are written both at the top of ``data["metadata"]`` and into
``data["metadata"]["requester_metadata"]``: LiteLLM snapshots the client's metadata into
``requester_metadata`` *before* pre-call hooks run, and that snapshot is what its loggers send
(``StandardLoggingPayload.metadata.requester_metadata``) and what ``LiteLLM_SpendLogs.metadata``
stores. Tags a client sent itself are overwritten. Requests for any other model pass untouched.

Load it from the proxy's config.yaml (the file sits next to config.yaml)::

    litellm_settings:
      callbacks: ["evalgate_router.proxy_handler_instance"]

Configuration, read from the environment when the module is imported:

    EVALGATE_URL             evalgate's base URL (default http://127.0.0.1:9464)
    EVALGATE_FLAG            the flag key (default support-bot)
    EVALGATE_ROUTED_MODEL    the alias clients call (default: the flag key)
    EVALGATE_CACHE_SECONDS   how long a fetched flag is used before it is fetched again (default 5)
    EVALGATE_TIMEOUT_SECONDS timeout of one flag fetch (default 2)
    EVALGATE_TOKEN           optional bearer token sent with the flag fetch
    EVALGATE_BASELINE_MODEL  baseline model group when the flag names none (no rollout owns it)
    EVALGATE_CANARY_MODEL    canary model group when the flag names none
    EVALGATE_TENANT_FROM     where the tenant comes from, first non-empty wins, comma-separated
                             (default "user,metadata.tenant_id,metadata.evalgate_tenant"):
                             ``user`` (the request's ``user``), ``metadata.<key>`` (request
                             metadata), ``header.<name>`` (a request header), ``key.<attr>``
                             (the API key's ``team_id``, ``user_id``, ``end_user_id``, …)

The flag is ``GET {EVALGATE_URL}/v1/flags/{EVALGATE_FLAG}``::

    {"flag_key", "basis_points", "generation", "salt", "always", "never", "updated_at",
     "rollout_id", "baseline_model", "canary_model", "phase"}

It is cached for ``EVALGATE_CACHE_SECONDS``; the first request after that fetches it again (one
fetch at a time, off the event loop) and a new ``generation`` replaces the routing state and is
logged. When a fetch fails (evalgate down, timeout, 5xx, bad JSON) the last known flag stays in
use and the fetch is retried after another cache period; with no flag known yet, or when evalgate
answers 404 for the flag, every request goes to the baseline and a warning is logged once per
failed fetch.

A request without a tenant, or one the hook cannot route to a known canary model, is served by the
baseline and tagged ``baseline``. When no baseline model is known either (no rollout and no
EVALGATE_BASELINE_MODEL), the model is left as the alias: give the proxy a
``router_settings.model_group_alias`` from the alias to the baseline as a fail-safe.

Everything above the ``LiteLLM glue`` line is stdlib only (``bucket``, ``choose_arm``, ``Flag``,
``decide``, ``FlagCache``, ``route_request``), so the routing can be tested without LiteLLM
installed; the module imports without LiteLLM too (the hook class then has no base class).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

log = logging.getLogger("evalgate_router")

BASELINE = "baseline"
CANARY = "canary"
FULL_SPLIT = 10_000
TAG_KEYS = (
    "evalgate_arm",
    "evalgate_flag",
    "evalgate_rollout_id",
    "evalgate_tenant",
    "evalgate_generation",
)


# --------------------------------------------------------------------------------------------
# The routing function (fixtures/ROUTING.md), pure
# --------------------------------------------------------------------------------------------


def bucket(salt: str, tenant: str) -> int:
    """The tenant's bucket in 0..9999: the first 8 bytes of SHA-256(salt ":" tenant), mod 10000."""
    digest = hashlib.sha256(f"{salt}:{tenant}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % FULL_SPLIT


def choose_arm(
    salt: str,
    tenant: str,
    basis_points: int,
    always: Sequence[str] = (),
    never: Sequence[str] = (),
) -> str:
    """The arm that serves ``tenant`` at ``basis_points`` (0..10000), cohorts first.

    never-canary → baseline; 0 bp → baseline (rollback and kill switch mean 0%, even for internal
    tenants); always-canary → canary; otherwise canary iff ``bucket < basis_points``.
    """
    if tenant in never or basis_points <= 0:
        return BASELINE
    if tenant in always:
        return CANARY
    return CANARY if bucket(salt, tenant) < basis_points else BASELINE


@dataclass(frozen=True)
class Flag:
    """evalgate's traffic split for one flag, as ``GET /v1/flags/{key}`` serves it."""

    flag_key: str
    basis_points: int
    generation: Optional[int] = None
    salt: Optional[str] = None
    always: tuple = ()
    never: tuple = ()
    updated_at: Optional[str] = None
    rollout_id: Optional[str] = None
    baseline_model: Optional[str] = None
    canary_model: Optional[str] = None
    phase: Optional[str] = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> "Flag":
        """Parse the endpoint's JSON; raises ValueError on a body the hook cannot route by."""
        if not isinstance(body, Mapping):
            raise ValueError("flag body is not a JSON object")
        key = body.get("flag_key")
        bp = body.get("basis_points")
        if not isinstance(key, str) or not key:
            raise ValueError("flag body has no flag_key")
        if isinstance(bp, bool) or not isinstance(bp, int) or not 0 <= bp <= FULL_SPLIT:
            raise ValueError(f"flag {key}: basis_points {bp!r} is not an integer in 0..10000")
        generation = body.get("generation")
        if generation is not None and (isinstance(generation, bool) or not isinstance(generation, int)):
            raise ValueError(f"flag {key}: generation {generation!r} is not an integer")

        def names(value: Any, what: str) -> tuple:
            if value is None:
                return ()
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"flag {key}: {what} is not a list of strings")
            return tuple(value)

        def text(name: str) -> Optional[str]:
            value = body.get(name)
            return value if isinstance(value, str) and value else None

        salt = body.get("salt")
        return cls(
            flag_key=key,
            basis_points=bp,
            generation=generation,
            salt=salt if isinstance(salt, str) else None,  # "" is a valid salt
            always=names(body.get("always"), "always"),
            never=names(body.get("never"), "never"),
            updated_at=text("updated_at"),
            rollout_id=text("rollout_id"),
            baseline_model=text("baseline_model"),
            canary_model=text("canary_model"),
            phase=text("phase"),
        )

    @property
    def effective_salt(self) -> str:
        """The salt defaults to the flag key."""
        return self.salt if self.salt is not None else self.flag_key


@dataclass(frozen=True)
class Settings:
    """The hook's configuration (see the module docstring for the environment variables)."""

    evalgate_url: str = "http://127.0.0.1:9464"
    flag_key: str = "support-bot"
    routed_model: Optional[str] = None
    cache_seconds: float = 5.0
    timeout_seconds: float = 2.0
    token: Optional[str] = None
    baseline_model: Optional[str] = None
    canary_model: Optional[str] = None
    tenant_from: tuple = ("user", "metadata.tenant_id", "metadata.evalgate_tenant")

    @property
    def alias(self) -> str:
        """The model name clients call; defaults to the flag key."""
        return self.routed_model or self.flag_key

    @property
    def flag_url(self) -> str:
        return f"{self.evalgate_url.rstrip('/')}/v1/flags/{urllib.parse.quote(self.flag_key, safe='')}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        def opt(name: str) -> Optional[str]:
            value = env.get(name, "").strip()
            return value or None

        def seconds(name: str, default: float) -> float:
            raw = opt(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number of seconds") from None
            if value < 0:
                raise ValueError(f"{name}={raw!r} is negative")
            return value

        tenant_from = opt("EVALGATE_TENANT_FROM")
        return cls(
            evalgate_url=opt("EVALGATE_URL") or cls.evalgate_url,
            flag_key=opt("EVALGATE_FLAG") or cls.flag_key,
            routed_model=opt("EVALGATE_ROUTED_MODEL"),
            cache_seconds=seconds("EVALGATE_CACHE_SECONDS", cls.cache_seconds),
            timeout_seconds=seconds("EVALGATE_TIMEOUT_SECONDS", cls.timeout_seconds),
            token=opt("EVALGATE_TOKEN"),
            baseline_model=opt("EVALGATE_BASELINE_MODEL"),
            canary_model=opt("EVALGATE_CANARY_MODEL"),
            tenant_from=(
                tuple(s.strip() for s in tenant_from.split(",") if s.strip())
                if tenant_from
                else cls.tenant_from
            ),
        )


@dataclass(frozen=True)
class Decision:
    """Where one request goes and how it is tagged."""

    arm: str
    model: Optional[str]  # the model group to serve; None = leave the requested model
    flag_key: str
    rollout_id: Optional[str]
    tenant: Optional[str]
    generation: Optional[int]
    reason: str  # why: "split", "no_flag", "no_tenant", "no_canary_model"

    def tags(self) -> dict:
        return {
            "evalgate_arm": self.arm,
            "evalgate_flag": self.flag_key,
            "evalgate_rollout_id": self.rollout_id,
            "evalgate_tenant": self.tenant,
            "evalgate_generation": self.generation,
        }


def decide(flag: Optional[Flag], tenant: Optional[str], settings: Settings) -> Decision:
    """The arm and model group for a request from ``tenant`` under ``flag`` (None = unknown)."""
    baseline_model = (flag.baseline_model if flag else None) or settings.baseline_model
    canary_model = (flag.canary_model if flag else None) or settings.canary_model

    def baseline(reason: str) -> Decision:
        return Decision(
            arm=BASELINE,
            model=baseline_model,
            flag_key=flag.flag_key if flag else settings.flag_key,
            rollout_id=flag.rollout_id if flag else None,
            tenant=tenant,
            generation=flag.generation if flag else None,
            reason=reason,
        )

    if flag is None:
        return baseline("no_flag")
    if tenant is None:
        return baseline("no_tenant")
    arm = choose_arm(flag.effective_salt, tenant, flag.basis_points, flag.always, flag.never)
    if arm == BASELINE:
        return baseline("split")
    if canary_model is None:
        return baseline("no_canary_model")
    return Decision(
        arm=CANARY,
        model=canary_model,
        flag_key=flag.flag_key,
        rollout_id=flag.rollout_id,
        tenant=tenant,
        generation=flag.generation,
        reason="split",
    )


def tenant_of(data: Mapping[str, Any], sources: Sequence[str], key: Any = None) -> Optional[str]:
    """The request's tenant: the first non-empty source of ``sources`` (see EVALGATE_TENANT_FROM)."""
    metadata = data.get("metadata") if isinstance(data.get("metadata"), Mapping) else {}
    for source in sources:
        kind, _, name = source.partition(".")
        value: Any = None
        if kind == "user":
            value = data.get("user")
        elif kind == "metadata":
            value = metadata.get(name)
        elif kind == "header":
            headers = metadata.get("headers")
            if isinstance(headers, Mapping):
                wanted = name.lower()
                value = next((v for k, v in headers.items() if str(k).lower() == wanted), None)
        elif kind == "key" and key is not None:
            value = getattr(key, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value:
            return value
    return None


def route_request(
    data: dict, flag: Optional[Flag], settings: Settings, key: Any = None
) -> Optional[Decision]:
    """Route one proxy request in place: rewrite ``data["model"]`` and tag its metadata.

    Returns the decision, or None when the request is not for the routed alias: its model is left
    alone and any ``evalgate_*`` tags the client sent are removed, so only the hook attributes.
    """
    if data.get("model") != settings.alias:
        strip_tags(data)
        return None
    decision = decide(flag, tenant_of(data, settings.tenant_from, key), settings)
    if decision.model is not None:
        data["model"] = decision.model
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        metadata = data["metadata"] = {}
    tags = decision.tags()
    metadata.update(tags)
    requester = metadata.get("requester_metadata")
    if not isinstance(requester, dict):
        requester = metadata["requester_metadata"] = {}
    requester.update(tags)
    return decision


def strip_tags(data: dict) -> None:
    """Remove client-sent ``evalgate_*`` tags from the request metadata and its snapshot."""
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return
    for target in (metadata, metadata.get("requester_metadata")):
        if isinstance(target, dict):
            for tag in TAG_KEYS:
                target.pop(tag, None)


# --------------------------------------------------------------------------------------------
# The flag cache, stdlib HTTP
# --------------------------------------------------------------------------------------------


class FlagNotFound(Exception):
    """evalgate answered 404: it knows no such flag."""


def fetch_flag(settings: Settings) -> Flag:
    """``GET /v1/flags/{key}`` once (blocking). Raises FlagNotFound on 404, another error otherwise."""
    request = urllib.request.Request(settings.flag_url, headers={"Accept": "application/json"})
    if settings.token:
        request.add_header("Authorization", f"Bearer {settings.token}")
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout_seconds) as response:
            body = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        error.close()  # the error carries the open response
        if error.code == 404:
            raise FlagNotFound(f"evalgate has no flag `{settings.flag_key}`") from None
        raise
    return Flag.from_json(body)


@dataclass
class FlagCache:
    """The last known flag, fetched again once it is older than ``settings.cache_seconds``.

    ``get`` (blocking) and ``aget`` (async, the fetch runs in a thread) return the flag to route
    by, or None when none is known. A failed fetch keeps the last known flag; a 404 clears it.
    ``fetch`` and ``clock`` are injectable for tests.
    """

    settings: Settings
    fetch: Callable[[Settings], Flag] = fetch_flag
    clock: Callable[[], float] = time.monotonic
    flag: Optional[Flag] = None
    fetched_at: Optional[float] = None  # when the last fetch attempt finished (clock time)
    fetches: int = 0
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _alock: Optional[asyncio.Lock] = field(default=None, repr=False)

    def _fresh(self) -> bool:
        return self.fetched_at is not None and self.clock() - self.fetched_at < self.settings.cache_seconds

    def get(self) -> Optional[Flag]:
        if self._fresh():
            return self.flag
        with self._lock:
            if not self._fresh():
                self._refresh()
            return self.flag

    async def aget(self) -> Optional[Flag]:
        if self._fresh():
            return self.flag
        if self._alock is None:
            self._alock = asyncio.Lock()
        async with self._alock:
            if not self._fresh():
                await asyncio.to_thread(self._refresh_locked)
        return self.flag

    def _refresh_locked(self) -> None:
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        """One fetch attempt; updates ``flag`` and ``fetched_at``. Never raises."""
        self.fetches += 1
        try:
            new = self.fetch(self.settings)
        except FlagNotFound as error:
            self.failures += 1
            if self.flag is not None or self.failures == 1:
                log.warning("evalgate_router: %s; routing every request to the baseline", error)
            self.flag = None
        except Exception as error:  # noqa: BLE001 (any failure keeps the last known flag)
            self.failures += 1
            if self.flag is None:
                log.warning(
                    "evalgate_router: fetching %s failed (%s); no flag known yet, routing every "
                    "request to the baseline",
                    self.settings.flag_url,
                    error,
                )
            else:
                log.warning(
                    "evalgate_router: fetching %s failed (%s); keeping generation %s at %s bp",
                    self.settings.flag_url,
                    error,
                    self.flag.generation,
                    self.flag.basis_points,
                )
        else:
            old = self.flag
            if old is None or old.generation != new.generation:
                log.warning(
                    "evalgate_router: flag %s generation %s -> %s: %s bp, baseline %s, canary %s, "
                    "rollout %s, phase %s",
                    new.flag_key,
                    old.generation if old else None,
                    new.generation,
                    new.basis_points,
                    new.baseline_model,
                    new.canary_model,
                    new.rollout_id,
                    new.phase,
                )
                self.flag = new
            elif old != new:
                # Same generation, different content: evalgate bumps the generation on every
                # change, so this is unexpected; trust the newest answer anyway.
                self.flag = new
        finally:
            self.fetched_at = self.clock()


# --------------------------------------------------------------------------------------------
# LiteLLM glue
# --------------------------------------------------------------------------------------------

try:  # the proxy has LiteLLM; the routing tests do not need it
    from litellm.integrations.custom_logger import CustomLogger as _HookBase
except ImportError:  # pragma: no cover - exercised by the stdlib tests
    _HookBase = object


class EvalgateRouter(_HookBase):  # type: ignore[misc, valid-type]
    """LiteLLM proxy hook: routes the alias by evalgate's flag and tags the request."""

    def __init__(self, settings: Optional[Settings] = None, cache: Optional[FlagCache] = None):
        if _HookBase is not object:
            super().__init__()
        self.settings = settings or Settings.from_env()
        self.cache = cache or FlagCache(self.settings)

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        """Called by the proxy before routing; returns the (modified) request body."""
        if not isinstance(data, dict):
            return data
        if data.get("model") != self.settings.alias:
            strip_tags(data)
            return data
        flag = await self.cache.aget()
        route_request(data, flag, self.settings, key=user_api_key_dict)
        return data

    async def async_post_call_response_headers_hook(
        self, data, user_api_key_dict, response, request_headers=None, litellm_call_info=None
    ):
        """Echo the decision as response headers (``x-evalgate-arm``, ``x-evalgate-generation``)."""
        metadata = data.get("metadata") if isinstance(data, dict) else None
        if not isinstance(metadata, dict) or metadata.get("evalgate_flag") != self.settings.flag_key:
            return None
        arm = metadata.get("evalgate_arm")
        if arm not in (BASELINE, CANARY):
            return None
        headers = {"x-evalgate-arm": arm}
        if metadata.get("evalgate_generation") is not None:
            headers["x-evalgate-generation"] = str(metadata["evalgate_generation"])
        return headers


proxy_handler_instance = EvalgateRouter()
