"""Tools for the python provider's tests (t/integration/python-*.mjs): results of every
kind, failures of every kind, progress, cancellation and batches."""

import asyncio
import itertools
import os
import time

import mcpfed_worker
from mcpfed_worker import Image, Result, tool

_invocations = itertools.count(1)
_leak = []


@tool
def pid() -> int:
    "The worker's process id."
    return os.getpid()


@tool
def add(a: float, b: float = 1.0) -> float:
    "a + b"
    return a + b


@tool
def text(s: str) -> str:
    "s, as text"
    return s


@tool
def picture() -> Image:
    "A 1x1 PNG."
    return Image(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                               "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"))


@tool
def mixed() -> Result:
    "Text and structured JSON of its own."
    return Result(content=["one", "two"], structured={"n": 2})


@tool(schema={"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]})
def boom(message):
    "Raises ValueError(message)."
    raise ValueError(message)


@tool
def crash(status: int = 3):
    "Ends the worker at once."
    os._exit(status)


@tool(idempotent=True)
def crash_once(marker: str) -> str:
    "Ends the worker the first time (marker absent); answers the next time."
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(4)
    return f"served by {os.getpid()}"


@tool
def hang() -> str:
    "Sleeps and never looks at its cancellation."
    time.sleep(3600)
    return "woke"


@tool
def leak(mb_per_step: int = 20) -> str:
    "Allocates memory until the worker is killed."
    while True:
        _leak.append(bytearray(mb_per_step * 1024 * 1024))
        time.sleep(0.02)


@tool
def garbage() -> str:
    "Writes bytes that are no frame where the frames go."
    os.write(mcpfed_worker._current.wfd, b"\xff\xff\xff\xffnot a frame at all")
    time.sleep(5)
    return "unreachable"


@tool
def count(n: int, ctx=None) -> int:
    "Counts to n, reporting progress at each step."
    for i in range(n):
        ctx.progress(i + 1, n, f"step {i + 1}")
        time.sleep(0.01)
    return n


@tool
def wait_cancel(marker: str, ctx=None) -> str:
    "Waits, in a thread, until it is cancelled; then writes marker."
    ctx.progress(0, 1, "waiting")
    deadline = time.time() + 30
    while not ctx.cancelled and time.time() < deadline:
        time.sleep(0.01)
    with open(marker, "w") as f:
        f.write("cancelled" if ctx.cancelled else "not cancelled")
    return "done"


@tool
async def await_cancel(marker: str, ctx=None) -> str:
    "Waits on asyncio until it is cancelled; then writes marker."
    ctx.progress(0, 1, "waiting")
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        with open(marker, "w") as f:
            f.write("cancelled")
        raise
    return "done"


@tool
async def nap(seconds: float) -> float:
    "Sleeps (asyncio) and answers how long."
    await asyncio.sleep(seconds)
    return seconds


@tool(batch=True, schema={"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]})
def square(items):
    "x squared; calls arriving together are served in one invocation."
    inv = next(_invocations)
    return [{"y": it["x"] * it["x"], "invocation": inv, "size": len(items)} if it["x"] >= 0
            else ValueError(f"negative: {it['x']}") for it in items]
