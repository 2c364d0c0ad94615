"""Several backends behind one: least-busy dispatch, health checks, retry before the first token.

Every member serves the same model (the same vocabulary and templates). A request goes to the
healthy member with the fewest generations in flight relative to its slots; a member that fails
before producing anything is marked unhealthy and the request tries the next one; a failure after
output started is the caller's (a stream ends with an error). Each member runs at most `slots`
generations at once; past every member's capacity requests wait, and past `max_queue` waiting
ones the pool refuses at once (`Overloaded`). Health checks bring a member back when it answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterable, Iterator, Optional, Sequence

import anyio

from .backend import Backend, Parts
from .engine import GenEvent
from .remote import BackendError

log = logging.getLogger(__name__)


class Overloaded(RuntimeError):
    """Every backend is busy and the queue of waiting requests is full."""


@dataclass(eq=False)
class Member:
    backend: Backend
    slots: int
    in_flight: int = 0
    healthy: bool = True
    failures: int = 0
    cancelled: int = 0  # generations ended because their consumer left (a client gone)
    last_error: str = ""
    checked: float = field(default_factory=time.monotonic)

    @property
    def load(self) -> float:
        return self.in_flight / self.slots

    def describe(self) -> dict[str, Any]:
        return {
            "backend": repr(self.backend),
            "healthy": self.healthy,
            "in_flight": self.in_flight,
            "slots": self.slots,
            "failures": self.failures,
            "cancelled": self.cancelled,
            "last_error": self.last_error or None,
        }


class PoolBackend(Backend):
    """A Backend over members that serve the same model."""

    def __init__(self, backends: Sequence[Backend], *, max_queue: int = 64, health_interval: float = 5.0):
        if not backends:
            raise ValueError("a pool needs at least one backend")
        first = backends[0]
        self.members = [Member(b, max(1, int(getattr(b, "slots", 1)))) for b in backends]
        self.name = first.name
        self.chat_templates = first.chat_templates
        self.bos_token = first.bos_token
        self.eos_token = first.eos_token
        self.control_texts = first.control_texts
        self.slots = sum(m.slots for m in self.members)
        self.max_queue = max_queue
        self.health_interval = health_interval
        self.waiting = 0
        self._changed: Optional[asyncio.Condition] = None

    # -- synchronous Backend methods: any healthy member will do --------------------------

    def _ranked(self) -> list[Member]:
        """Healthy members first, the least busy first among them."""
        return sorted(self.members, key=lambda m: (not m.healthy, m.load))

    def single_token(self, text: str) -> Optional[int]:
        return self._call(lambda b: b.single_token(text))

    def check_grammar(self, gbnf: str) -> None:
        self._call(lambda b: b.check_grammar(gbnf))

    def tokenize(self, parts: Parts) -> list[int]:
        return self._call(lambda b: b.tokenize(parts))

    def specialize(self, gbnf: str) -> str:
        return self._call(lambda b: b.specialize(gbnf))

    def control_texts_for(self, templates: Iterable[str], markers: Iterable[str]) -> frozenset[str]:
        # the members serve one model: any of them can say which texts are its control tokens
        return self.members[0].backend.control_texts_for(templates, markers)

    def _call(self, job: Any) -> Any:
        error: Optional[BackendError] = None
        for member in self._ranked():
            try:
                return job(member.backend)
            except BackendError as exc:
                error = exc
                self._failed(member, exc)
        raise error or BackendError("no backend")

    def generate(self, prompt_tokens: list[int], **options: Any) -> Iterator[GenEvent]:
        for member in self._ranked():
            events = member.backend.generate(prompt_tokens, **options)
            try:
                first = next(events)
            except BackendError as exc:
                if not exc.retryable:
                    raise
                self._failed(member, exc)
                continue
            return _chain(first, events)
        raise BackendError("every backend failed")

    # -- dispatch ---------------------------------------------------------------------------

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    def _pick(self, tried: set[int]) -> Optional[Member]:
        free = [m for m in self.members if m.healthy and m.in_flight < m.slots and id(m) not in tried]
        return min(free, key=lambda m: m.load) if free else None

    def _any_left(self, tried: set[int]) -> bool:
        return any(m.healthy and id(m) not in tried for m in self.members)

    async def _acquire(self, tried: set[int]) -> Member:
        changed = self._condition()
        async with changed:
            member = self._pick(tried)
            if member is None:
                if not self._any_left(tried):
                    raise BackendError("no healthy backend is left to try")
                if self.waiting >= self.max_queue:
                    raise Overloaded(f"all {self.slots} slots are busy and {self.waiting} requests are waiting")
                self.waiting += 1
                try:
                    while member is None:
                        await changed.wait()
                        if not self._any_left(tried):
                            raise BackendError("no healthy backend is left to try")
                        member = self._pick(tried)
                finally:
                    self.waiting -= 1
            member.in_flight += 1
            return member

    async def _release(self, member: Member) -> None:
        changed = self._condition()
        async with changed:
            member.in_flight -= 1
            changed.notify_all()

    def _failed(self, member: Member, exc: BaseException) -> None:
        member.healthy = False
        member.failures += 1
        member.last_error = str(exc)
        log.warning("backend %r failed (%s): out of rotation until its health check passes", member.backend, exc)

    async def agenerate(self, prompt_tokens: list[int], **options: Any) -> AsyncIterator[GenEvent]:
        tried: set[int] = set()
        while True:
            member = await self._acquire(tried)
            tried.add(id(member))
            started = finished = False
            events = member.backend.agenerate(prompt_tokens, **options)
            try:
                async for event in events:
                    started = True
                    finished = bool(event.finish_reason)
                    yield event
                return
            except BackendError as exc:
                if started or not exc.retryable:
                    raise
                self._failed(member, exc)
            except (GeneratorExit, asyncio.CancelledError):
                member.cancelled += not finished
                raise
            finally:
                with anyio.CancelScope(shield=True):  # a cancelled request still gives its slot back
                    await events.aclose()
                    await self._release(member)

    # -- health -----------------------------------------------------------------------------

    async def check_health(self) -> None:
        """Ask every member (unhealthy ones come back when they answer)."""
        for member in self.members:
            probe = getattr(member.backend, "ahealthy", None)
            if probe is None:
                continue
            ok = await probe()
            member.checked = time.monotonic()
            if ok and not member.healthy:
                log.info("backend %r is healthy again", member.backend)
            if not ok and member.healthy:
                self._failed(member, BackendError("health check failed"))
            member.healthy = ok
        async with self._condition():
            self._condition().notify_all()

    async def health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval)
            try:
                await self.check_health()
            except Exception:  # never let the loop die
                log.exception("health check failed")

    def status(self) -> list[dict[str, Any]]:
        return [m.describe() for m in self.members]

    def close(self) -> None:
        for member in self.members:
            member.backend.close()


def _chain(first: GenEvent, rest: Iterator[GenEvent]) -> Iterator[GenEvent]:
    yield first
    yield from rest
