"""An event-loop lag trace of a Python program: the longest callbacks, what ran in them, and GC pauses.

Run a program under it (the benches run `ceremony serve` this way with `--trace`):

    python -m bench.loop_trace OUT.json -m web.cli serve --no-demo --data D --port P

What it records, written to OUT.json when the program exits (SIGTERM lets `serve` exit):

- every event-loop callback (asyncio `Handle._run`: a task step, a protocol's `data_received`,
  a timer) longer than `LONG_MS`, with what it was (the task's coroutine, or the callback) and
  where the main thread was while it ran: a watchdog thread samples the main thread's stack
  every `SAMPLE_MS` once a callback has run half of `LONG_MS`, so a long callback names the code
  that made it long, not just the task it belonged to;
- a histogram of all callback durations, and the total time spent in long ones;
- every garbage collection, its generation and pause (`gc.callbacks`), and for every fifth
  young one, what it walked by type (counted before its pause is timed).

Signals: SIGUSR2 starts the trace over (the bench sends it once the server serves, so that
start-up is not counted); SIGUSR1 runs one full collection, timed, with what it walked.

A diagnostic, not part of the product: it wraps asyncio's private `Handle._run`, which is
what every callback of the default loop goes through (CPython 3.11-3.13).
"""

from __future__ import annotations

import asyncio.events
import atexit
import gc
import json
import runpy
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

LONG_MS = 3.0  # a callback longer than this is recorded
SAMPLE_MS = 2.0  # the watchdog's sampling period while a long callback runs
KEPT = 20000  # long callbacks kept (the first ones)
YOUNG_EVERY = 5  # every 5th young collection has what it walks counted by type ...
YOUNG_KEPT = 100  # ... up to this many (counting costs a walk of its own, before the clock starts)
GC_KEPT = 20000  # collections kept, each with its generation, pause and time
BUCKETS_MS = (0.1, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
OUR_CODE = ("/signaling/", "/ceremony/", "/web/")


class Trace:
    def __init__(self) -> None:
        self.current_start = 0.0  # perf_counter when the running callback began; 0 when none runs
        self.current_id = 0
        self.samples: dict[int, Counter[str]] = {}  # callback id -> stack lines seen while it ran
        self.longest: list[tuple[float, float, str, list[str]]] = []  # ms, when (perf_counter), what, where
        self.histogram = Counter[str]()
        self.count = 0
        self.long_total = 0.0
        # Generation, pause ms, collected, when (perf_counter: on Linux one clock for every process).
        self.gc: list[tuple[int, float, int, float]] = []
        self._gc_start = 0.0
        self.forced: list[dict[str, Any]] = []  # full collections asked for with SIGUSR1
        self.heap: dict[str, Any] = {}  # the oldest generation at the first slow full collection
        self.young: list[dict[str, Any]] = []  # what sampled young collections walked
        self.young_seen = 0
        self.main = threading.main_thread().ident
        self.t0 = time.perf_counter()

    def reset(self) -> None:
        self.longest.clear()
        self.histogram.clear()
        self.gc.clear()
        self.heap = {}
        self.young.clear()
        self.young_seen = 0
        self.count, self.long_total, self.t0 = 0, 0.0, time.perf_counter()

    # ---- callbacks ----

    def ran(self, handle: asyncio.events.Handle, seconds: float, ident: int) -> None:
        ms = seconds * 1000
        self.count += 1
        self.histogram[_bucket(ms)] += 1
        samples = self.samples.pop(ident, None)
        if ms < LONG_MS:
            return
        self.long_total += ms
        if len(self.longest) < KEPT:
            where = [f"{n}x {line}" for line, n in samples.most_common(6)] if samples else []
            self.longest.append((ms, round(time.perf_counter(), 3), describe(handle), where))

    def watch(self) -> None:
        """The watchdog thread: sample the main thread's stack while a callback runs long."""
        while True:
            time.sleep(SAMPLE_MS / 1000)
            start, ident = self.current_start, self.current_id
            if not start or (time.perf_counter() - start) * 1000 < LONG_MS / 2:
                continue
            frame = sys._current_frames().get(self.main or 0)
            if frame is not None and ident == self.current_id:
                self.samples.setdefault(ident, Counter())[where_in(frame)] += 1

    # ---- garbage collection ----

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            if info["generation"] < 2:
                self.young_seen += 1
                if self.young_seen % YOUNG_EVERY == 0 and len(self.young) < YOUNG_KEPT:
                    self.young.append(young_collection(info["generation"]))
            self._gc_start = time.perf_counter()
        else:
            ms = (time.perf_counter() - self._gc_start) * 1000
            self.gc.append((info["generation"], ms, info["collected"], round(time.perf_counter(), 3)))
            if info["generation"] == 2 and ms > 50 and not self.heap:
                # What a slow full collection walked: once, it costs a walk of its own.
                objects = gc.get_objects(2)
                kinds = Counter(type(o).__qualname__ for o in objects)
                self.heap = {"objects": len(objects), "frozen": gc.get_freeze_count(), "pause_ms": round(ms, 1)}
                self.heap["types"] = dict(kinds.most_common(25))

    # ---- the report ----

    def report(self) -> dict[str, Any]:
        by_gen: dict[int, list[float]] = {}
        for generation, ms, _, _ in self.gc:
            by_gen.setdefault(generation, []).append(ms)
        return {
            "seconds": time.perf_counter() - self.t0,
            "callbacks": self.count,
            "long_ms_total": round(self.long_total, 1),
            "long_threshold_ms": LONG_MS,
            "histogram_ms": {b: self.histogram[b] for b in map(_label, (*BUCKETS_MS, float("inf")))},
            "gc": {
                str(g): {"count": len(v), "max_ms": round(max(v), 2), "total_ms": round(sum(v), 1)}
                for g, v in sorted(by_gen.items())
            },
            "slow_full_collection": self.heap,
            "young_collections": self.young,
            "forced_full_collections": self.forced,
            "gc_all": [(g, round(ms, 2), at) for g, ms, _, at in self.gc][:GC_KEPT],
            "longest": [
                {"ms": round(ms, 2), "at": at, "what": what, "where": where}
                for ms, at, what, where in sorted(self.longest, key=lambda entry: -entry[0])
            ],
        }


def young_collection(generation: int) -> dict[str, Any]:
    """What a young collection (generation 0 or 1) is about to walk: its objects, by type."""
    walked = [o for g in range(generation + 1) for o in gc.get_objects(g)]
    kinds = Counter(type(o).__qualname__ for o in walked)
    return {
        "generation": generation,
        "objects": len(walked),
        "types": dict(kinds.most_common(12)),
        "at": round(time.perf_counter(), 3),
    }


def timed_full_collection() -> dict[str, Any]:
    """gc.collect() timed, with the objects it had to walk (the oldest generation, before it)."""
    objects = [o for g in (0, 1, 2) for o in gc.get_objects(g)]
    # What a collection's traversal visits: every reference of every tracked object, by type.
    visits = Counter[str]()
    for o in objects:
        visits[type(o).__qualname__] += len(gc.get_referents(o))
    count = len(objects)
    largest = sorted(objects, key=lambda o: -len(gc.get_referents(o)))[:8]
    biggest = [f"{type(o).__qualname__} ({len(gc.get_referents(o))}): {_sample(o)}" for o in largest]
    del objects, largest
    start = time.perf_counter()
    collected = gc.collect()
    ms = (time.perf_counter() - start) * 1000
    return {
        "ms": round(ms, 2),
        "objects": count,
        "references": sum(visits.values()),
        "references_by_type": dict(visits.most_common(12)),
        "largest": biggest,
        "collected": collected,
        "frozen": gc.get_freeze_count(),
    }


def _sample(o: object) -> str:
    """What a container holds: the types of its first few references."""
    return ", ".join(sorted({type(r).__qualname__ for r in gc.get_referents(o)[:20]}))[:120]


def _label(upper: float) -> str:
    return f"<{upper:g}" if upper != float("inf") else ">=1000"


def _bucket(ms: float) -> str:
    for upper in BUCKETS_MS:
        if ms < upper:
            return _label(upper)
    return _label(float("inf"))


def describe(handle: asyncio.events.Handle) -> str:
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        if code is not None:
            return f"task {owner.get_name()}: {code.co_qualname} ({_short(code.co_filename)}:{code.co_firstlineno})"
        return f"task {owner.get_name()}"
    return repr(callback)[:200]


def where_in(frame: FrameType) -> str:
    """The innermost frames of our own code in a stack, and the innermost frame of all."""
    stack = traceback.extract_stack(frame)
    ours = [f for f in stack if any(part in f.filename for part in OUR_CODE) and "/.venv/" not in f.filename]
    inner = stack[-1]
    parts = [f"{_short(f.filename)}:{f.lineno} {f.name}" for f in ours[-2:]]
    parts.append(f"[{_short(inner.filename)}:{inner.lineno} {inner.name}]")
    return " > ".join(parts)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def install(out: Path) -> Trace:
    trace = Trace()
    original = asyncio.events.Handle._run
    counter = iter(range(1, 1 << 62))

    def _run(handle: asyncio.events.Handle) -> None:
        ident = next(counter)
        trace.current_id = ident
        start = trace.current_start = time.perf_counter()
        try:
            original(handle)
        finally:
            trace.current_start = 0.0
            trace.ran(handle, time.perf_counter() - start, ident)

    asyncio.events.Handle._run = _run  # type: ignore[method-assign,assignment]
    gc.callbacks.append(trace.on_gc)
    threading.Thread(target=trace.watch, name="loop-trace", daemon=True).start()
    atexit.register(lambda: out.write_text(json.dumps(trace.report(), indent=1)))
    # SIGUSR2 starts the trace over: the bench sends it once the server serves, so that start-up
    # (imports, replaying the log) is not counted.
    signal.signal(signal.SIGUSR2, lambda *_: trace.reset())
    # SIGUSR1: one full collection now, timed, with what it walked (the bench's idle-peer part).
    signal.signal(signal.SIGUSR1, lambda *_: trace.forced.append(timed_full_collection()))
    return trace


def summary(report: dict[str, Any], top: int = 12) -> str:
    """A few lines for a bench's output."""
    lines = [
        f"{report['callbacks']} callbacks in {report['seconds']:.0f} s; "
        f"{report['long_ms_total']:.0f} ms in callbacks over {report['long_threshold_ms']:g} ms",
        "callback durations: " + ", ".join(f"{k} ms: {v}" for k, v in report["histogram_ms"].items() if v),
        "GC by generation: "
        + "; ".join(
            f"gen {g}: {v['count']}x, max {v['max_ms']} ms, total {v['total_ms']} ms" for g, v in report["gc"].items()
        ),
        "longest callbacks:",
    ]
    for entry in report["longest"][:top]:
        lines.append(f"  {entry['ms']:8.1f} ms  {entry['what']}")
        lines.extend(f"               {w}" for w in entry["where"][:3])
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] != "-m":
        raise SystemExit("usage: python -m bench.loop_trace OUT.json -m MODULE [ARGS ...]")
    out, module = Path(sys.argv[1]), sys.argv[3]
    install(out)
    sys.argv = [module, *sys.argv[4:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
