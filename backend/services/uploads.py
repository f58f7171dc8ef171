"""Check uploaded files in a separate process with a time and a memory limit.

Parsing, validating and test-rendering an uploaded questionnaire or content pack is bounded
in the parsers and the template sandbox already; this is the wall behind those bounds. Each
check runs in a process forked from a small forkserver (so it starts in milliseconds and shares
nothing with the service's threads), limited to ``memory_mb`` more address space than it
started with and killed after ``timeout`` seconds. The service's event loop only waits on a
pipe, from a thread, so no upload can slow anything else down.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import threading
from collections.abc import Callable, Collection
from multiprocessing.connection import Connection
from typing import Any, TypeVar, cast

from backend.followups.content import ContentPack, load_content
from backend.questionnaire import DefinitionError, DefinitionIssue, QuestionnaireDefinition
from backend.questionnaire import load_definition as _load_definition
from backend.questionnaire.loader import parse_definition_text

T = TypeVar("T")

#: Wall-clock seconds one check may take, process start included.
DEFAULT_TIMEOUT = 1.5
#: Address space (MB) a check may add to what its process starts with.
DEFAULT_MEMORY_MB = 100
#: Checks running at once; more wait their turn (off the event loop).
DEFAULT_CONCURRENCY = 2

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([__name__])


def _address_space() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _limit_memory(extra_bytes: int) -> None:
    current = _address_space()
    if current is None:  # not Linux: the time limit still holds
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = current + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _child(
    conn: Connection,
    extra_bytes: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    _limit_memory(extra_bytes)
    try:
        outcome: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except DefinitionError as exc:
        outcome = ("rejected", exc.issues)
    except MemoryError:
        outcome = ("memory", None)
    except RecursionError:
        outcome = ("rejected", [DefinitionIssue((), None, "the file is nested too deeply")])
    try:
        conn.send(outcome)
    except MemoryError:
        conn.send(("memory", None))
    finally:
        conn.close()


def _issue(message: str) -> list[DefinitionIssue]:
    return [DefinitionIssue((), None, message)]


class UploadChecker:
    """Run file checks in bounded child processes.

    Parameters
    ----------
    timeout
        Seconds a check may take before its process is killed and the file rejected.
    memory_mb
        Address space a check may add; past it the file is rejected as too big.
    concurrency
        Checks running at once.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        memory_mb: int = DEFAULT_MEMORY_MB,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)

    def start(self) -> None:
        """Start the forkserver now, so the first upload does not wait for it."""
        self.run(len, "warm up")

    def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Call ``fn(*args, **kwargs)`` in a bounded process; blocks the calling thread.

        A ``source`` keyword argument (the file name) is passed on and names the file in a
        rejection.

        Raises
        ------
        DefinitionError
            What ``fn`` raised, or a rejection because the check ran out of time or memory.
        """
        source = kwargs.get("source")
        with self._slots:
            receiver, sender = _CONTEXT.Pipe(duplex=False)
            process = _CONTEXT.Process(
                target=_child,
                args=(sender, self.memory_mb * 1024 * 1024, fn, args, kwargs),
                daemon=True,
            )
            process.start()
            sender.close()
            try:
                if not receiver.poll(self.timeout):
                    raise DefinitionError(
                        _issue(
                            f"checking the file took longer than {self.timeout:g} s, the "
                            "limit: make it smaller or its templates simpler"
                        ),
                        source,
                    )
                try:
                    kind, value = receiver.recv()
                except EOFError:  # the process died: out of memory in C code, or killed
                    kind, value = "memory", None
            finally:
                receiver.close()
                if process.is_alive():
                    process.kill()
                process.join()
                process.close()
        if kind == "ok":
            return cast(T, value)
        if kind == "memory":
            raise DefinitionError(
                _issue(
                    f"checking the file needed more than {self.memory_mb} MB of memory, the "
                    "limit: make it smaller"
                ),
                source,
            )
        raise DefinitionError(value, source)

    async def check(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Like :meth:`run`, awaited from the event loop without blocking it."""
        return await asyncio.to_thread(self.run, fn, *args, **kwargs)

    async def definition(self, text: str, *, source: str, fmt: str) -> QuestionnaireDefinition:
        """Parse and validate a questionnaire definition in a bounded process."""
        return await self.check(_load_definition, text, source=source, fmt=fmt)

    async def content(
        self, text: str, *, source: str, fmt: str, dimensions: Collection[str] | None
    ) -> ContentPack:
        """Parse, validate and test-render a content pack in a bounded process."""
        return await self.check(load_content, text, source=source, fmt=fmt, dimensions=dimensions)

    async def content_questionnaire(self, text: str, *, source: str, fmt: str) -> str | None:
        """Return the questionnaire key a content pack names, read by the bounded parser."""
        return await self.check(_questionnaire_key, text, source=source, fmt=fmt)


def _questionnaire_key(text: str, *, source: str, fmt: str) -> str | None:
    try:
        data, _ = parse_definition_text(text, fmt=fmt)
    except DefinitionError:
        return None  # the full check reports it with its line
    key = data.get("questionnaire") if isinstance(data, dict) else None
    return key if isinstance(key, str) else None
