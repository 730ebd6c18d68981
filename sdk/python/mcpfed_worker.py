"""Python tools for mcpfed: the worker side of the `python` transport.

A module of tools declares them with the `tool` decorator:

    from mcpfed_worker import tool, Image

    @tool
    def add(a: float, b: float) -> float:
        "Add two numbers."
        return a + b

mcpfed runs a pool of worker processes, each importing the module, and speaks to each
over its stdin and stdout in length-prefixed msgpack frames (docs/python-workers.md).
Synchronous tools run on a thread pool and asynchronous ones on the worker's asyncio loop,
so a worker serves several calls at once. What a tool prints goes to stderr (mcpfed's
log), never to the frames.

A tool returns a str (text), an Image, a dict or other JSON value (structuredContent, with
the same JSON as text), or a Result for full control. An exception becomes a tool error
(isError) carrying its message. A tool that takes a parameter named `ctx` gets a Context:
ctx.progress(done, total) reports progress to the client, ctx.cancelled says whether the
call was cancelled (an async tool is cancelled with asyncio's CancelledError instead).
"""

import asyncio
import base64
import concurrent.futures
import importlib.util
import inspect
import json
import os
import struct
import sys
import threading
import traceback
import typing

import msgpack

__all__ = ["tool", "Context", "Image", "Result", "tools", "serve"]

MAX_FRAME = 64 * 1024 * 1024

_registry = {}
_current = None   # the Worker serving


class Image:
    """An image result: raw bytes and their MIME type."""

    def __init__(self, data, mime_type="image/png"):
        self.data = bytes(data)
        self.mime_type = mime_type


class Result:
    """A result in full: content items (str or Image), structured JSON, and the error flag."""

    def __init__(self, content=None, structured=None, is_error=False):
        self.content = content if content is not None else []
        self.structured = structured
        self.is_error = is_error


class Context:
    """What a running call knows of itself: its progress and its cancellation."""

    def __init__(self, worker, call_id):
        self._worker = worker
        self._id = call_id
        self._cancel = threading.Event()

    @property
    def cancelled(self):
        return self._cancel.is_set()

    def progress(self, done, total=None, message=None):
        frame = {"t": "progress", "id": self._id, "progress": done}
        if total is not None:
            frame["total"] = total
        if message is not None:
            frame["message"] = str(message)
        self._worker.send(frame)


# --- declaring tools ---------------------------------------------------------------------

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object",
           list: "array", type(None): "null"}


def _schema_of(hint):
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, tuple, typing.List, typing.Sequence) or origin is getattr(typing, "Sequence", None):
        return {"type": "array", "items": _schema_of(args[0])} if args else {"type": "array"}
    if origin is dict:
        return {"type": "object"}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin is typing.Union or type(hint).__name__ == "UnionType":
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) == 1:
            return _schema_of(kinds[0])
        return {"anyOf": [_schema_of(a) for a in kinds]}
    return {}


def _derive_schema(fn):
    """An input schema from the function's parameters and their type hints."""
    hints = typing.get_type_hints(fn)
    props, required = {}, []
    for name, p in inspect.signature(fn).parameters.items():
        if name == "ctx" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        props[name] = _schema_of(hints.get(name, typing.Any))
        if p.default is inspect.Parameter.empty:
            required.append(name)
        elif p.default is None or isinstance(p.default, (str, int, float, bool)):
            props[name]["default"] = p.default
    schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


def tool(fn=None, *, name=None, description=None, schema=None, output_schema=None,
         idempotent=False, batch=False):
    """Declare a tool. schema: its input JSON Schema (default: from the type hints).
    idempotent: a call lost with its worker may run again on another. batch: the function
    takes a list of argument dicts (and ctx) and returns a list of as many results; calls
    arriving together reach it as one batch."""

    def declare(f):
        tname = name or f.__name__
        if schema is not None:
            input_schema = schema
        elif batch:
            input_schema = {"type": "object"}
        else:
            input_schema = _derive_schema(f)
        desc = description or inspect.getdoc(f) or tname
        d = {"name": tname, "description": desc, "inputSchema": input_schema}
        if output_schema is not None:
            d["outputSchema"] = output_schema
        if idempotent:
            d["annotations"] = {"idempotentHint": True}
        _registry[tname] = {"fn": f, "def": d, "idempotent": bool(idempotent), "batch": bool(batch),
                            "ctx": "ctx" in inspect.signature(f).parameters,
                            "is_async": inspect.iscoroutinefunction(f)}
        return f

    return declare(fn) if fn is not None else declare


def tools():
    """The tools declared so far: name -> definition (as tools/list shows it)."""
    return {k: v["def"] for k, v in _registry.items()}


# --- results -----------------------------------------------------------------------------

def _content_item(x):
    if isinstance(x, Image):
        return {"type": "image", "data": base64.b64encode(x.data).decode("ascii"), "mimeType": x.mime_type}
    return {"type": "text", "text": x if isinstance(x, str) else json.dumps(x)}


def to_result(value):
    """A CallToolResult for what a tool returned."""
    if isinstance(value, Result):
        r = {"content": [_content_item(x) for x in value.content]}
        if value.structured is not None:
            r["structuredContent"] = value.structured
        if value.is_error:
            r["isError"] = True
        return r
    if isinstance(value, (str, Image)):
        return {"content": [_content_item(value)]}
    structured = value if isinstance(value, dict) else {"result": value}
    return {"content": [{"type": "text", "text": json.dumps(value)}], "structuredContent": structured}


def error_result(exc):
    msg = str(exc) or type(exc).__name__
    return {"content": [{"type": "text", "text": msg}], "isError": True}


# --- the worker ----------------------------------------------------------------------------

class Worker:
    def __init__(self, rfd=0, wfd=1, threads=None):
        self.rfd, self.wfd = rfd, wfd
        self.lock = threading.Lock()
        self.calls = {}   # id -> (Context, asyncio task)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads or 16)
        self.loop = None

    def send(self, frame):
        body = msgpack.packb(frame, use_bin_type=True)
        data = struct.pack(">I", len(body)) + body
        with self.lock:
            view = memoryview(data)
            while view:
                n = os.write(self.wfd, view)
                view = view[n:]

    def _read_exact(self, n):
        chunks, left = [], n
        while left:
            b = os.read(self.rfd, left)
            if not b:
                return None
            chunks.append(b)
            left -= len(b)
        return b"".join(chunks)

    def _reader(self):
        """On a thread: frames from stdin to the loop; end of input ends the worker."""
        while True:
            head = self._read_exact(4)
            if head is None:
                break
            (n,) = struct.unpack(">I", head)
            body = self._read_exact(n) if n <= MAX_FRAME else None
            if body is None:
                break
            try:
                frame = msgpack.unpackb(body, raw=False)
            except Exception:
                break
            self.loop.call_soon_threadsafe(self._dispatch, frame)
        self.loop.call_soon_threadsafe(self._stop.set)

    def _dispatch(self, f):
        if not isinstance(f, dict):
            return
        kind, cid = f.get("t"), f.get("id")
        if kind == "call":
            self._start(cid, f.get("tool"), f.get("args") or {}, False)
        elif kind == "batch":
            self._start(cid, f.get("tool"), f.get("items") or [], True)
        elif kind == "cancel" and cid in self.calls:
            ctx, task, in_thread = self.calls[cid]
            ctx._cancel.set()
            # a thread cannot be stopped from outside: the function sees ctx.cancelled, and
            # its call ends when the function does (or the worker is killed)
            if not in_thread:
                task.cancel()

    def _start(self, cid, name, args, batch):
        ctx = Context(self, cid)
        task = self.loop.create_task(self._run(cid, name, args, batch, ctx))
        t = _registry.get(name)
        self.calls[cid] = (ctx, task, bool(t) and not t["is_async"])

    async def _invoke(self, t, args, ctx):
        fn = t["fn"]
        if t["batch"]:
            call = (lambda: fn(args, ctx=ctx)) if t["ctx"] else (lambda: fn(args))
        else:
            kw = dict(args) if isinstance(args, dict) else {}
            if t["ctx"]:
                kw["ctx"] = ctx
            call = lambda: fn(**kw)
        if t["is_async"]:
            return await call()
        return await self.loop.run_in_executor(self.pool, call)

    async def _run(self, cid, name, args, batch, ctx):
        t = _registry.get(name)
        try:
            if t is None:
                raise LookupError(f"no tool named {name!r}")
            if t["batch"] != batch:
                raise TypeError(f"tool {name!r} is {'' if t['batch'] else 'not '}a batch tool")
            value = await self._invoke(t, args, ctx)
            if batch:
                if not isinstance(value, (list, tuple)) or len(value) != len(args):
                    raise TypeError(f"batch tool {name!r} returned {len(value) if isinstance(value, (list, tuple)) else 'no list'}"
                                    f" results for {len(args)} calls")
                frame = {"t": "result", "id": cid,
                         "results": [error_result(v) if isinstance(v, BaseException) else to_result(v) for v in value]}
            else:
                frame = {"t": "result", "id": cid, "result": to_result(value)}
        except asyncio.CancelledError:
            frame = {"t": "error", "id": cid, "message": "cancelled"}
        except Exception as e:   # a tool's failure is its caller's error, not the worker's
            frame = {"t": "error", "id": cid, "message": str(e) or type(e).__name__}
        self.calls.pop(cid, None)
        try:
            self.send(frame)
        except Exception as e:   # e.g. a result msgpack cannot carry
            self.send({"t": "error", "id": cid, "message": f"the result could not be sent: {e}"})

    async def main(self):
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.send({"t": "hello", "pid": os.getpid(),
                   "tools": [{"def": v["def"], "idempotent": v["idempotent"], "batch": v["batch"]}
                             for v in _registry.values()]})
        threading.Thread(target=self._reader, daemon=True).start()
        await self._stop.wait()


def load_module(path):
    """Import the tools module from its file."""
    path = os.path.abspath(path)
    sys.path.insert(0, os.path.dirname(path))
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise ImportError(f"cannot import {path}: not a Python source file")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def serve(module_path, rfd=0, wfd=1):
    """Import the module, say hello, and serve frames until stdin ends."""
    # the frames own stdout: what tools print, from Python or C, goes to stderr
    global _current
    out = os.dup(wfd)
    os.dup2(2, wfd)
    sys.stdout = sys.stderr
    worker = _current = Worker(rfd, out)
    try:
        load_module(module_path)
    except BaseException as e:   # SyntaxError, ImportError, SystemExit of the module...
        worker.send({"t": "error", "message": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
        return 1
    asyncio.run(worker.main())
    os._exit(0)   # threads still running a call do not hold the exit


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: mcpfed_worker.py MODULE.py", file=sys.stderr)
        sys.exit(2)
    sys.modules.setdefault("mcpfed_worker", sys.modules[__name__])
    sys.exit(serve(sys.argv[1]))
