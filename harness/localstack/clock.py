"""Stack clocks: one clock per stack, on which everything a stack waits for happens, and which skips ahead
whenever none of the stack's code runs.

A scenario is a discrete-event simulation around real code. A stack's clock is the wall clock plus an
offset. While any code of the stack runs (an invocation, a cold start, LocalStack handing an event, a
message or a datapoint on), the clock runs with the wall clock. When none does, the harness may move it
(`advance`) to the next wake-up: a timer (a Lambda retry falling due, an alarm evaluation that can change
a state) or the end of a wait (an invocation's Timeout, an injected delay). Real computation is never
skipped: `advance` refuses while the stack is `busy`.

What counts as the stack's code running is counted here, by tokens (`begin`/`end`) that the patches of
`harness.localstack.patches` hold around each piece of work of a stack: an invocation running, an event
queued or being handled, a Lambda call being served, an SNS delivery, a metric being recorded. A token
names its function (or topic) and, when it serves one invocation, that invocation's request ID. A wait
that `suspend`s (an injected fault blocked on the clock) takes its invocation's tokens out of the count
until the wait ends, or until any wait of that invocation falls due (its Timeout): then the invocation
runs again, and the count says so before the clock moves any further.

The offset only grows while the stack is idle, so every moment the stack records in wall time is on one
side of each step of the offset's history, which `history` gives (`harness.wire.StackTime` converts).

Standard library and `harness.wire` (the time arithmetic it shares with the harness): the LocalStack-specific
parts are in the modules that patch it. Names belong to a
stack when they are registered with it (`register_name`, at deploy) or start with its prefix and a dash.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.wire import StackTime

LOG = logging.getLogger(__name__)

_LOCK = threading.RLock()
_CHANGED = threading.Condition(_LOCK)
"""Notified when a clock moves, a timer is added or a token ends: waiters and the scheduler look again."""


@dataclass
class _Stack:
    prefix: str
    offset: float = 0.0
    history: list[tuple[float, float]] = field(default_factory=list)
    """(wall moment, offset from then on), oldest first."""
    advancing: threading.Lock = field(default_factory=threading.Lock)


_STACKS: dict[str, _Stack] = {}
_NAMES: dict[str, str] = {}
"""Physical name (function, topic, queue, alarm) -> the prefix of the stack that deployed it."""
_DEPLOYING = threading.local()


# -- which stack a name belongs to ----------------------------------------------------------------------

def belongs(name: str, prefix: str) -> bool:
    """Whether `name` carries the stack's prefix, as the harness names what it deploys."""
    return name == prefix or name.startswith(prefix + "-")


def register(prefix: str) -> None:
    """A stack the harness is about to deploy: its names run on its own clock from now on."""
    with _LOCK:
        _STACKS.setdefault(prefix, _Stack(prefix))


def register_name(name: str, prefix: str) -> None:
    """A resource of the stack `prefix` whose name may not carry the prefix (CloudFormation generated it)."""
    with _LOCK:
        if prefix in _STACKS and name:
            _NAMES[name] = prefix


def is_registered(prefix: str) -> bool:
    with _LOCK:
        return prefix in _STACKS


def forget(prefix: str) -> None:
    """The stack is gone: its clock, names and timers go too."""
    with _CHANGED:
        _STACKS.pop(prefix, None)
        for name in [name for name, owned in _NAMES.items() if owned == prefix]:
            del _NAMES[name]
        for timer in _TIMERS.pop(prefix, []):
            timer.cancelled = True
        _CHANGED.notify_all()


@contextlib.contextmanager
def deploying(prefix: str | None) -> Iterator[None]:
    """Within it, in this thread, a name of no known stack belongs to `prefix` (CloudFormation creating the
    stack's resources: an alarm is scheduled before its name can be registered)."""
    previous = getattr(_DEPLOYING, "prefix", None)
    _DEPLOYING.prefix = prefix
    try:
        yield
    finally:
        _DEPLOYING.prefix = previous


def owner(name: str) -> str | None:
    """The registered stack `name` belongs to, or None (then it runs on the wall clock)."""
    with _LOCK:
        if name in _NAMES:
            return _NAMES[name]
        found = [prefix for prefix in _STACKS if belongs(name, prefix)]
    if found:
        return max(found, key=len)
    deploying = getattr(_DEPLOYING, "prefix", None)
    return deploying if deploying is not None and is_registered(deploying) else None


# -- reading a clock --------------------------------------------------------------------------------------

def offset_of(prefix: str | None) -> float:
    with _LOCK:
        stack = _STACKS.get(prefix) if prefix is not None else None
        return stack.offset if stack is not None else 0.0


def now_of(prefix: str | None) -> float:
    """The clock of stack `prefix` (the wall clock for None or a stack not registered), epoch seconds."""
    return time.time() + offset_of(prefix)


def now(name: str) -> float:
    """The clock of the stack `name` belongs to."""
    return now_of(owner(name))


def stack_time(prefix: str | None, wall: float) -> float:
    """Wall moment `wall` on the stack's clock (at the offset that held then)."""
    with _LOCK:
        stack = _STACKS.get(prefix) if prefix is not None else None
        steps = tuple(stack.history) if stack is not None else ()
    return StackTime(steps).at(wall)


def history(prefix: str) -> list[list[float]]:
    with _LOCK:
        stack = _STACKS.get(prefix)
        return [[wall, offset] for wall, offset in stack.history] if stack is not None else []


# -- what the stack is doing: tokens ------------------------------------------------------------------------

QUEUED_FOR_AT_MOST_S = 10.0
"""A queued event is picked up by its function's poller within milliseconds; one still unclaimed after this
long was consumed elsewhere (a deleted function) and is no longer counted."""
_WORDS = {
    "invoking": "call(s) of {name} being served",
    "running": "invocation(s) of {name} running",
    "queued": "event(s) for {name} queued",
    "handling": "event(s) of {name} being handled",
    "delivering": "message(s) of topic {name} being delivered",
    "recording": "metric(s) of {name} being recorded",
}


@dataclass
class _Token:
    kind: str
    name: str
    since: float
    request: str | None


_ACTIVITY: dict[int, _Token] = {}
_TOKENS = itertools.count()
_QUEUED: dict[str, int] = {}
"""Event-queue message ID -> its "queued" token, until the function's poller takes the message."""
_TAKEN_EARLY: OrderedDict[str, bool] = OrderedDict()
"""Message IDs the poller took before their sender had recorded them."""


def begin(kind: str, name: str, request: str | None = None) -> int:
    """Something of `name` (a function or topic) is now under way, for invocation `request` if one; `end`
    the token when it is over."""
    token = next(_TOKENS)
    with _LOCK:
        _ACTIVITY[token] = _Token(kind, name, time.monotonic(), request)
    return token


def wait_idle(prefix: str, timeout: float) -> None:
    """Block until none of the stack's code runs (`busy` says nothing), or `timeout` seconds have passed: the
    harness's next poll then comes as soon as the clock may move, not a poll interval later."""
    deadline = time.monotonic() + timeout
    with _CHANGED:
        while busy(prefix) and (left := deadline - time.monotonic()) > 0:
            _CHANGED.wait(left)


def notify() -> None:
    """Something a waiter may be waiting for happened (a result arrived, a process ended): look again."""
    with _CHANGED:
        _CHANGED.notify_all()


def end(token: int | None) -> None:
    if token is not None:
        with _CHANGED:
            _ACTIVITY.pop(token, None)
            _CHANGED.notify_all()


def event_queued(message_id: str, token: int) -> None:
    """The event counted by `token` (`begin("queued", function)` before it was sent) is on its function's
    event queue as `message_id`, until its poller takes it (which may already have happened)."""
    with _LOCK:
        if _TAKEN_EARLY.pop(message_id, None) is None:
            _QUEUED[message_id] = token
            return
    end(token)


def event_taken(message_id: str) -> None:
    """The function's poller took the event off its queue."""
    with _LOCK:
        token = _QUEUED.pop(message_id, None)
        if token is None:  # taken before its sender had the message ID back
            _TAKEN_EARLY[message_id] = True
            while len(_TAKEN_EARLY) > 4096:
                _TAKEN_EARLY.popitem(last=False)
    end(token)


def busy(prefix: str) -> list[str]:
    """Why the stack cannot have its clock moved now, in words; [] when none of its code runs."""
    moment = time.monotonic()
    counts: Counter[tuple[str, str]] = Counter()
    with _LOCK:
        suspended = {wait.request for wait in _WAITS if wait.suspends and not wait.lifted and wait.request}
        for token, activity in list(_ACTIVITY.items()):
            if activity.kind == "queued" and moment - activity.since > QUEUED_FOR_AT_MOST_S:
                del _ACTIVITY[token]  # consumed elsewhere: see QUEUED_FOR_AT_MOST_S
            elif activity.request not in suspended and owner(activity.name) == prefix:
                counts[(activity.kind, activity.name)] += 1
    order = list(_WORDS)
    return [f"{count} " + _WORDS[kind].format(name=name)
            for (kind, name), count in sorted(counts.items(), key=lambda item: (order.index(item[0][0]), item[0][1]))]


# -- timers -----------------------------------------------------------------------------------------------

@dataclass(order=True)
class Timer:
    due: float
    seq: int
    prefix: str | None = field(compare=False)
    kind: str = field(compare=False)
    what: str = field(compare=False)
    callback: Callable[[], dict[str, Any] | None] = field(compare=False, repr=False)
    cancelled: bool = field(default=False, compare=False)

    def describe(self) -> dict[str, Any]:
        return {"due": self.due, "kind": self.kind, "what": self.what}


_TIMERS: dict[str | None, list[Timer]] = {}
_SEQ = itertools.count()
_SCHEDULER: threading.Thread | None = None


def schedule(name: str, due: float, callback: Callable[[], dict[str, Any] | None], *, kind: str,
             what: str) -> Timer:
    """Call `callback` when the clock of `name`'s stack reaches `due`: in real time by the clock's thread, or
    at once by an `advance` that reaches it. A name of no stack is timed on the wall clock."""
    return schedule_on(owner(name), due, callback, kind=kind, what=what)


def schedule_on(prefix: str | None, due: float, callback: Callable[[], dict[str, Any] | None], *, kind: str,
                what: str) -> Timer:
    global _SCHEDULER
    timer = Timer(due, next(_SEQ), prefix, kind, what, callback)
    with _CHANGED:
        heapq.heappush(_TIMERS.setdefault(prefix, []), timer)
        if _SCHEDULER is None or not _SCHEDULER.is_alive():
            _SCHEDULER = threading.Thread(target=_run_timers, name="harness-stack-clock", daemon=True)
            _SCHEDULER.start()
        _CHANGED.notify_all()
    return timer


def cancel(timer: Timer | None) -> None:
    if timer is not None:
        with _LOCK:
            timer.cancelled = True


def _pop_due(prefix: str | None, moment: float) -> list[Timer]:
    """The timers of `prefix` due by `moment` (its clock), taken off; call with the lock held."""
    heap = _TIMERS.get(prefix, [])
    due = []
    while heap and (heap[0].cancelled or heap[0].due <= moment):
        timer = heapq.heappop(heap)
        if not timer.cancelled:
            due.append(timer)
    return due


def _fire(timer: Timer) -> dict[str, Any] | None:
    try:
        return timer.callback()
    except Exception:  # noqa: BLE001 - a timer's failure is its owner's to report; the clock goes on
        LOG.exception("harness: the stack clock's timer %s failed", timer.what)
        return None


def _run_timers() -> None:
    """Fire timers as their clocks reach them in real time (a clock that is not being advanced runs with the
    wall clock)."""
    while True:
        with _CHANGED:
            due: list[Timer] = []
            sleep = 1.0
            for prefix in list(_TIMERS):
                moment = now_of(prefix)
                due += _pop_due(prefix, moment)
                heap = _TIMERS.get(prefix)
                if heap:
                    sleep = min(sleep, heap[0].due - moment)
            if not due:
                _CHANGED.wait(max(0.001, sleep))
                continue
        for timer in due:
            _fire(timer)


def pending(prefix: str) -> list[dict[str, Any]]:
    """The stack's wake-ups, earliest first: its timers and the ends of its waits."""
    with _LOCK:
        timers = [timer.describe() for timer in _TIMERS.get(prefix, []) if not timer.cancelled]
        waits = [{"due": wait.due, "kind": "wait", "what": wait.what} for wait in _WAITS
                 if wait.prefix == prefix and not wait.woken]
    return sorted(timers + waits, key=lambda entry: entry["due"])


# -- waits ------------------------------------------------------------------------------------------------

@dataclass(eq=False)
class _Wait:
    prefix: str | None
    due: float
    request: str | None
    suspends: bool
    what: str
    woken: bool = False
    lifted: bool = False


_WAITS: set[_Wait] = set()


def _wake(wait: _Wait) -> None:
    """The wait fell due: its invocation counts as running again, all its suspensions lifted (lock held)."""
    wait.woken = True
    for other in _WAITS:
        if wait.request is not None and other.request == wait.request:
            other.lifted = True
    wait.lifted = True


def wait_until(name: str, due: float, *, request: str | None = None, suspend: bool = False,
               stop: Callable[[], bool] | None = None, what: str = "", poll_s: float = 0.05) -> bool:
    """Block until the clock of `name`'s stack reaches `due` (True), or `stop()` says so (False; it is asked
    with the clock's lock held, so it must be quick, like `Event.is_set`).

    With `suspend`, invocation `request` does not count as running meanwhile: the stack may go idle, and its
    clock move on to this wait's end or to an earlier wake-up."""
    prefix = owner(name)
    wait = _Wait(prefix, due, request, suspend, what or f"{name} waits")
    with _CHANGED:
        _WAITS.add(wait)
        _CHANGED.notify_all()
    try:
        with _CHANGED:
            while True:
                if stop is not None and stop():
                    return False
                remaining = due - now_of(prefix)
                if wait.woken or remaining <= 0:
                    _wake(wait)
                    return True
                _CHANGED.wait(min(poll_s, remaining))
    finally:
        with _CHANGED:
            _WAITS.discard(wait)
            _CHANGED.notify_all()


def sleep(name: str, seconds: float, *, request: str | None = None, stop: Callable[[], bool] | None = None) -> bool:
    """`seconds` on the clock of `name`'s stack, during which invocation `request` is not running code."""
    return wait_until(name, now(name) + seconds, request=request, suspend=True, stop=stop,
                      what=f"{name} waits {seconds:g} s")


# -- moving a clock ------------------------------------------------------------------------------------------

class Busy(Exception):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class UnknownStack(Exception):
    pass


def _move(stack: _Stack, moment: float) -> None:
    """Set the stack's clock to `moment` if that is ahead of it (lock held): a clock never goes back."""
    wall = time.time()
    if moment - wall > stack.offset:
        stack.offset = moment - wall
        stack.history.append((wall, stack.offset))
        _CHANGED.notify_all()


def _next_wakeup(prefix: str) -> float | None:
    timers = [timer.due for timer in _TIMERS.get(prefix, []) if not timer.cancelled]
    waits = [wait.due for wait in _WAITS if wait.prefix == prefix and not wait.woken]
    return min(timers + waits, default=None)


MAX_STEPS = 100_000
"""Wake-ups one advance goes through at most: a timer that keeps scheduling itself at the same moment must not
hold the clock forever."""


def advance(prefix: str, until: float, *, stop_at_change: bool = False) -> dict[str, Any]:
    """Move the clock of the idle stack `prefix` from wake-up to wake-up, firing what falls due, until it
    reaches `until` (epoch seconds on its clock), its code runs again (`busy`), or, with `stop_at_change`, a
    timer reports a change (an alarm state). Raises `Busy` if the stack is not idle to begin with."""
    with _LOCK:
        stack = _STACKS.get(prefix)
    if stack is None:
        raise UnknownStack(prefix)
    with stack.advancing:
        reasons = busy(prefix)
        if reasons:
            raise Busy(reasons)
        fired: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        for _ in range(MAX_STEPS):
            with _CHANGED:
                wakeup = _next_wakeup(prefix)
                if wakeup is None or wakeup > until:
                    _move(stack, until)
                    break
                _move(stack, wakeup)
                moment = now_of(prefix)
                due = _pop_due(prefix, moment)
                for wait in [wait for wait in _WAITS if wait.prefix == prefix and wait.due <= moment]:
                    _wake(wait)
                    fired.append({"due": wait.due, "kind": "wait", "what": wait.what})
                _CHANGED.notify_all()
            for timer in due:
                fired.append(timer.describe())
                change = _fire(timer)
                if change:
                    changes.append(change)
            if busy(prefix) or (stop_at_change and changes):
                break
        else:
            LOG.warning("harness: advancing %s stopped after %d wake-ups short of %s", prefix, MAX_STEPS, until)
        return {"now": now_of(prefix), "offset": stack.offset, "fired": fired, "changes": changes,
                "busy": busy(prefix)}


def state(prefix: str) -> dict[str, Any]:
    """The clock of `prefix` as `harness.wire.ClockState` has it (but for `waiting`, the taps' part)."""
    activity = busy(prefix)
    return {"now": now_of(prefix), "offset": offset_of(prefix), "history": history(prefix), "busy": activity,
            "timers": pending(prefix)}
