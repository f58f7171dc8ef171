"""Check uploaded files in a separate process with a time and a memory limit.

Parsing, validating and test-rendering an uploaded questionnaire or content pack is bounded
in the parsers and the template sandbox already; this is the wall behind those bounds. Each
check runs in a process forked from a small forkserver (so it starts in milliseconds and shares
nothing with the service's threads), limited to ``memory_mb`` more address space than it
started with and to ``cpu_seconds`` of processor time, and killed after ``timeout`` seconds
of wall-clock time whatever it is doing (a busy machine stretches wall time, not work).
The service's event loop only waits on a pipe, from a thread, so no upload can slow anything
else down.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import signal
import threading
from collections.abc import Callable, Collection
from multiprocessing.connection import Connection
from typing import Any, TypeVar, cast

from backend.followups.content import ContentPack, load_content
from backend.questionnaire import DefinitionError, DefinitionIssue, QuestionnaireDefinition
from backend.questionnaire import load_definition as _load_definition
from backend.questionnaire.loader import parse_definition_text

T = TypeVar("T")

#: Processor seconds one check may use.
DEFAULT_CPU_SECONDS = 2
#: Wall-clock seconds one check may take, process start included: the last resort.
DEFAULT_TIMEOUT = 10.0
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
    cpu_seconds: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    _limit_memory(extra_bytes)
    used = resource.getrusage(resource.RUSAGE_SELF)
    budget = int(used.ru_utime + used.ru_stime) + cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (budget, budget + 1))  # SIGXCPU, then SIGKILL
    try:
        outcome: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except DefinitionError as exc:
        outcome = ("rejected", exc.issues)
    except MemoryError:
        outcome = ("memory", None)
    except RecursionError:
        outcome = ("rejected", [DefinitionIssue((), None, "the file is nested too deeply")])
    used = resource.getrusage(resource.RUSAGE_SELF)
    try:
        conn.send((*outcome, used.ru_utime + used.ru_stime))
    except MemoryError:
        conn.send(("memory", None, 0.0))
    finally:
        conn.close()


def _issue(message: str) -> list[DefinitionIssue]:
    return [DefinitionIssue((), None, message)]


class UploadChecker:
    """Run file checks in bounded child processes.

    Parameters
    ----------
    timeout
        Wall-clock seconds a check may take before its process is killed and the file
        rejected (the last resort behind ``cpu_seconds``).
    cpu_seconds
        Processor seconds a check may use.
    memory_mb
        Address space a check may add; past it the file is rejected as too big.
    concurrency
        Checks running at once.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        cpu_seconds: int = DEFAULT_CPU_SECONDS,
        memory_mb: int = DEFAULT_MEMORY_MB,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.timeout = timeout
        self.cpu_seconds = cpu_seconds
        #: Processor seconds the last check used (the checks' own cost, without waiting).
        self.last_cpu_seconds = 0.0
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
                args=(sender, self.memory_mb * 1024 * 1024, self.cpu_seconds, fn, args, kwargs),
                daemon=True,
            )
            process.start()
            sender.close()
            try:
                if not receiver.poll(self.timeout):
                    raise DefinitionError(
                        _issue(f"checking the file did not finish within {self.timeout:g} s"),
                        source,
                    )
                try:
                    kind, value, self.last_cpu_seconds = receiver.recv()
                except EOFError:  # the process died: out of processor time, memory, or killed
                    process.join()
                    if process.exitcode in (-signal.SIGXCPU, -signal.SIGKILL):
                        raise self._too_slow(source) from None
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

    def _too_slow(self, source: str | None) -> DefinitionError:
        return DefinitionError(
            _issue(
                f"checking the file took more than {self.cpu_seconds} s, the limit: make it "
                "smaller or its templates simpler"
            ),
            source,
        )

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
