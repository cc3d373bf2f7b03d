"""The one limits layer every target goes through: concurrency, rate, retries, timeouts.

``Target.send`` hands each request to a ``Limiter`` which

1. waits for a concurrency slot (``max_concurrency``, an ``asyncio.Semaphore``);
2. waits for a rate slot (``rpm``): requests are spaced at least ``60 / rpm`` seconds apart — a
   generic cell-rate algorithm with no burst allowance, so 64 tasks that start together still
   reach the server one interval apart, never as a burst past the limit;
3. runs the request under a per-request timeout (``timeout_s``);
4. on a transient failure (429, 5xx, timeout, refused or dropped connection) retries up to
   ``max_retries`` times, waiting ``Retry-After`` when the server sent one (and pausing the whole
   target that long, since a 429 is about the client, not the request) or else exponential backoff
   with full jitter (a uniform wait in ``[0, min(backoff_max_s, backoff_s * 2**n)]``, the variant
   that spreads retrying clients best; see M. Brooker, "Exponential Backoff And Jitter", AWS
   Architecture Blog, 2015);
5. never raises into the run: a request that still fails comes back as ``Response(error=...)``,
   with the number of retries in ``Response.retries`` and every secret redacted from the message;
6. redacts the target's secrets — whole, or any long prefix or suffix of one, see
   :func:`redact_secrets` — from error messages (before they are cut to length) and from answers
   (a target that echoes its key), noting on the response when an answer was changed. A request
   answered after retries records the time of all its tries, not the last one's.

Only ``asyncio.CancelledError`` (Ctrl-C, shutdown) propagates, so a run can stop cleanly.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from dataclasses import asdict, dataclass
from typing import Any, Awaitable, Callable, Iterable

import httpx

from ..core.messages import Response

REDACTED = "***REDACTED***"

# A secret is redacted where it appears whole, and so is any run of at least this many of its first
# (or last) characters: text cut at a length limit — an error body, a preview — can end inside a
# key, and 18 of its 20 characters are as good as the key. Eight characters of a random key are
# ~48 bits: they do not occur in other text by chance.
MIN_SECRET_PART = 8

# Error messages are stored at most this long, cut AFTER redaction (a cut first could split a key).
MAX_ERROR_CHARS = 2000


def redact_secrets(text: str, secrets: Iterable[str], *, min_part: int = MIN_SECRET_PART) -> str:
    """``text`` with every secret, and every long prefix or suffix of one, replaced by ``REDACTED``.

    Args:
        text: what will be stored, shown or logged (an error message, an answer).
        secrets: the values to remove (API keys, header values); values under 4 characters are
            ignored (they would match everywhere).
        min_part: the shortest prefix/suffix of a longer secret that is still redacted.

    Returns:
        The redacted text (``text`` itself when there was nothing to redact).
    """
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
        if len(secret) > min_part:
            text = _redact_prefixes(text, secret, min_part)
            text = _redact_suffixes(text, secret, min_part)
    return text


def _redact_prefixes(text: str, secret: str, min_part: int) -> str:
    head = secret[:min_part]
    out: list[str] = []
    pos = 0
    while (i := text.find(head, pos)) >= 0:
        j, k = i + min_part, min_part
        while j < len(text) and k < len(secret) and text[j] == secret[k]:
            j, k = j + 1, k + 1
        out += [text[pos:i], REDACTED]
        pos = j
    return "".join(out) + text[pos:] if out else text


def _redact_suffixes(text: str, secret: str, min_part: int) -> str:
    tail = secret[-min_part:]
    out: list[str] = []
    pos = 0
    while (i := text.find(tail, pos)) >= 0:
        end = i + min_part
        start, k = i, len(secret) - min_part - 1
        while start > pos and k >= 0 and text[start - 1] == secret[k]:
            start, k = start - 1, k - 1
        out += [text[pos:start], REDACTED]
        pos = end
    return "".join(out) + text[pos:] if out else text


class TargetError(Exception):
    """A request failed in a way retrying will not fix (bad request, auth, malformed answer)."""


class TransientError(TargetError):
    """A request failed in a way that may pass on retry (429, 5xx, timeout, dropped connection).

    Args:
        message: what happened (one line; secrets are redacted by the limiter).
        retry_after: seconds the server asked us to wait, if it said.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110 §10.2.3).

    Returns ``None`` when the header is absent or unreadable; never a negative number.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def status_error(status: int, detail: str, retry_after_header: str | None = None) -> TargetError:
    """The right error for an HTTP status: transient for 408/409/425/429/5xx, permanent otherwise."""
    msg = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    if status in (408, 409, 425, 429) or status >= 500:
        return TransientError(msg, parse_retry_after(retry_after_header))
    return TargetError(msg)


@dataclass(frozen=True)
class Limits:
    """Limits of one target. Every target takes these as keyword arguments of the same names.

    Args:
        max_concurrency: requests in flight at once (also sizes HTTP connection pools).
        rpm: requests per minute (``None``: unlimited); retries count, as the server sees them.
        max_retries: retries after the first try for transient failures (0 disables retrying).
        timeout_s: per-try timeout in seconds (``None``: none).
        backoff_s: base of the exponential backoff.
        backoff_max_s: cap of one backoff wait.
        retry_after_max_s: a ``Retry-After`` longer than this gives up instead of waiting.
    """

    max_concurrency: int = 16
    rpm: float | None = None
    max_retries: int = 3
    timeout_s: float | None = 60.0
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 300.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_concurrency, int) or self.max_concurrency < 1:
            raise ValueError(f"max_concurrency: expected an integer >= 1, got {self.max_concurrency!r}")
        if self.rpm is not None and not (isinstance(self.rpm, (int, float)) and self.rpm > 0):
            raise ValueError(f"rpm: expected a number > 0 or null, got {self.rpm!r}")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries: expected an integer >= 0, got {self.max_retries!r}")
        if self.timeout_s is not None and not (isinstance(self.timeout_s, (int, float)) and self.timeout_s > 0):
            raise ValueError(f"timeout_s: expected a number of seconds > 0 or null, got {self.timeout_s!r}")
        for f in ("backoff_s", "backoff_max_s", "retry_after_max_s"):
            v = getattr(self, f)
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"{f}: expected a number of seconds >= 0, got {v!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


MIN_LATE_S = 0.05
"""A rate slot woken later than this (or half a slot interval, if longer) is not used."""

MAX_STALE = 20
"""Fresh slots taken for one request before a late one is used anyway (a hopelessly slow process
still makes progress)."""


class RateLimiter:
    """Requests-per-minute as evenly spaced slots (GCRA without burst): slot ``k`` is at
    ``start + k * 60 / rpm`` or later. ``pause_until`` pushes every later slot back (Retry-After)."""

    def __init__(self, rpm: float | None) -> None:
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0  # loop-clock time of the next free slot

    async def acquire(self) -> None:
        late_ok = max(self.interval / 2, MIN_LATE_S)
        for _ in range(MAX_STALE):
            slot = await self._reserve()
            wait = slot - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
                wait = slot - self._clock()
            if -wait <= late_ok:
                return
            # The slot came too late, or the sleep ended too late (a stalled event loop, a starved
            # process, a shared budget's slow first answer): every caller whose slot passed
            # meanwhile goes now, and sending them all would be a burst of the slots missed. That
            # slot goes unused (the server sees fewer requests, never more) and a fresh one is
            # taken; after MAX_STALE the request goes anyway.

    def _clock(self) -> float:
        """The clock slots are times on (the event loop's)."""
        return asyncio.get_running_loop().time()

    async def _reserve(self) -> float:
        """Take the next free slot; returns its time on :meth:`_clock`."""
        now = self._clock()
        slot = max(now, self._next)
        # Reserved without awaiting anything: asyncio runs this without interleaving, so no two
        # callers can take the same slot however many arrive at once.
        self._next = slot + self.interval
        return slot

    def pause_until(self, when: float) -> None:
        """No request starts before loop time ``when``."""
        self._next = max(self._next, when)


class Limiter:
    """Runs requests of one target under its ``Limits`` (see the module docstring).

    Args:
        limits: the limits.
        redact: applied to every error message before it is returned (removes API keys).
        rng: random source for jitter (tests pass a seeded one).
    """

    def __init__(self, limits: Limits, redact: Callable[[str], str] = lambda s: s,
                 rng: random.Random | None = None) -> None:
        self.limits = limits
        self.redact = redact
        self.rng = rng or random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sem: asyncio.Semaphore | None = None
        self._rate = RateLimiter(limits.rpm)
        self._rate_factory: Callable[[], RateLimiter] | None = None

    def share_rate(self, factory: Callable[[], RateLimiter]) -> None:
        """Take rate slots from ``factory()``'s limiter instead of this process's own: one ``rpm``
        budget for several processes (the Ray executor's cluster-wide limit, run/shared_limit.py)."""
        self._rate_factory = factory
        self._loop = None  # rebuilt under the running loop at the next request

    def _bind(self) -> asyncio.Semaphore:
        # asyncio primitives belong to one event loop; a target reused under a new loop
        # (check-target, then a run) gets fresh ones instead of a RuntimeError.
        loop = asyncio.get_running_loop()
        if self._sem is None or self._loop is not loop:
            self._loop = loop
            self._sem = asyncio.Semaphore(self.limits.max_concurrency)
            self._rate = self._rate_factory() if self._rate_factory is not None else RateLimiter(self.limits.rpm)
        return self._sem

    def backoff(self, retry: int) -> float:
        """Full-jitter wait before retry number ``retry`` (0-based)."""
        cap = min(self.limits.backoff_max_s, self.limits.backoff_s * (2 ** retry))
        return self.rng.uniform(0, cap)

    async def run(self, request: Callable[[], Awaitable[Response]]) -> Response:
        """Run ``request`` (a fresh coroutine per call) under the limits; always returns a Response."""
        sem = self._bind()
        lim = self.limits
        loop = asyncio.get_running_loop()
        t_start = time.perf_counter()
        t_first: float | None = None  # when the first try started: the clock of the whole request
        last_error = "no attempt made"
        retries = 0
        for attempt in range(lim.max_retries + 1):
            retries = attempt
            retry_after: float | None = None
            async with sem:
                await self._rate.acquire()
                t0 = time.perf_counter()
                if t_first is None:
                    t_first = t0
                try:
                    if lim.timeout_s is not None:
                        async with asyncio.timeout(lim.timeout_s):
                            resp = await request()
                    else:
                        resp = await request()
                except TransientError as exc:
                    last_error, retry_after = str(exc), exc.retry_after
                except TimeoutError:
                    last_error = f"timeout: no answer within {lim.timeout_s:g} s"
                except httpx.TimeoutException as exc:
                    last_error = f"timeout: {type(exc).__name__}"
                except (httpx.TransportError, ConnectionError) as exc:
                    last_error = f"connection error: {type(exc).__name__}: {exc}".rstrip(": ")
                except TargetError as exc:
                    return self._failed(str(exc), attempt, time.perf_counter() - t_first)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a target bug must not abort the run
                    return self._failed(f"{type(exc).__name__}: {exc}", attempt, time.perf_counter() - t_first)
                else:
                    resp.retries = attempt
                    if not resp.latency_s:
                        resp.latency_s = time.perf_counter() - t0
                    if attempt:
                        # What the request cost the run is every try and every wait between them,
                        # not the last try alone (which made a flaky target look fast).
                        last = resp.latency_s
                        resp.latency_s = time.perf_counter() - t_first
                        resp.notes.append(f"answered after {attempt} retries: {resp.latency_s:.3f} s in all, "
                                          f"the last try {last:.3f} s")
                    return self._scrubbed(resp)
            if attempt == lim.max_retries:
                break
            if retry_after is not None:
                if retry_after > lim.retry_after_max_s:
                    last_error += f" (server asked to retry after {retry_after:g} s > retry_after_max_s)"
                    break
                # A 429 speaks for the whole client: hold every request of this target, not just this one.
                self._rate.pause_until(loop.time() + retry_after)
                delay = retry_after
            else:
                delay = self.backoff(attempt)
            await asyncio.sleep(delay)
        suffix = f" (after {retries} retries)" if retries else ""
        return self._failed(last_error + suffix, retries, time.perf_counter() - (t_first or t_start))

    def _scrubbed(self, resp: Response) -> Response:
        """The answer with the target's own secrets redacted: a target (or an app around a model)
        that echoes its key must not put it in the store, a report or an export."""
        text = self.redact(resp.text)
        if text != resp.text:
            resp.text = text
            resp.notes.append("a secret of this target (API key or header value) appeared in the answer and "
                              f"was replaced by {REDACTED}")
        return resp

    def _failed(self, message: str, retries: int, latency: float) -> Response:
        # Redact the whole message first, then cut: a cut first could split a key in two and leave
        # the part before the cut unrecognised.
        one_line = " ".join(self.redact(message).split())
        return Response(error=one_line[:MAX_ERROR_CHARS] or "request failed", retries=retries, latency_s=latency)
