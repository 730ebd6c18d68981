"""Unit tests of sdk/python/mcpfed_worker.py: schemas from type hints, results, and a
worker served over pipes in frames as mcpfed speaks to it (calls, batches, errors,
progress, cancellation). Run: python3 -m unittest discover -s t/python (make check runs
t/python-worker.sh)."""

import asyncio
import os
import struct
import sys
import threading
import time
import typing
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "sdk", "python"))

import msgpack  # noqa: E402

import mcpfed_worker as mw  # noqa: E402


def frame(obj):
    body = msgpack.packb(obj, use_bin_type=True)
    return struct.pack(">I", len(body)) + body


class Schema(unittest.TestCase):
    def test_from_type_hints(self):
        def f(a: int, b: float, names: list[str], mode: typing.Literal["x", "y"] = "x",
              opt: typing.Optional[bool] = None, ctx=None):
            pass

        self.assertEqual(mw._derive_schema(f), {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "number"},
                           "names": {"type": "array", "items": {"type": "string"}},
                           "mode": {"enum": ["x", "y"], "default": "x"},
                           "opt": {"type": "boolean", "default": None}},
            "required": ["a", "b", "names"]})

    def test_results(self):
        self.assertEqual(mw.to_result("hi"), {"content": [{"type": "text", "text": "hi"}]})
        self.assertEqual(mw.to_result({"a": 1}), {"content": [{"type": "text", "text": '{"a": 1}'}],
                                                  "structuredContent": {"a": 1}})
        self.assertEqual(mw.to_result([1, 2])["structuredContent"], {"result": [1, 2]})
        img = mw.to_result(mw.Image(b"\x01\x02", "image/gif"))
        self.assertEqual(img, {"content": [{"type": "image", "data": "AQI=", "mimeType": "image/gif"}]})
        self.assertEqual(mw.error_result(KeyError()), {"content": [{"type": "text", "text": "KeyError"}],
                                                         "isError": True})


@mw.tool(name="ut_add")
def _add(a: int, b: int = 2) -> int:
    return a + b


@mw.tool(name="ut_fail")
def _fail():
    raise RuntimeError("no luck")


@mw.tool(name="ut_progress")
def _progress(n: int, ctx=None):
    for i in range(n):
        ctx.progress(i + 1, n)
    return "counted"


@mw.tool(name="ut_wait")
async def _wait(ctx=None):
    await asyncio.sleep(30)


@mw.tool(name="ut_spin")
def _spin(ctx=None):
    while not ctx.cancelled:
        time.sleep(0.005)
    return "saw it"


@mw.tool(name="ut_double", batch=True, idempotent=True)
def _double(items):
    return [{"v": it["x"] * 2} for it in items]


class Served(unittest.TestCase):
    def setUp(self):
        self.to_w_r, self.to_w_w = os.pipe()
        self.from_w_r, self.from_w_w = os.pipe()
        self.worker = mw.Worker(self.to_w_r, self.from_w_w)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.worker.main()), daemon=True)
        self.thread.start()
        self.buf = b""

    def tearDown(self):
        os.close(self.to_w_w)   # end of input ends the worker
        self.thread.join(5)
        self.assertFalse(self.thread.is_alive())
        for fd in (self.to_w_r, self.from_w_r, self.from_w_w):
            os.close(fd)

    def send(self, obj):
        os.write(self.to_w_w, frame(obj))

    def read(self):
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack(">I", self.buf[:4])
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return msgpack.unpackb(body, raw=False)
            self.buf += os.read(self.from_w_r, 65536)

    def test_hello_calls_batches_errors(self):
        hello = self.read()
        self.assertEqual(hello["t"], "hello")
        tools = {t["def"]["name"]: t for t in hello["tools"]}
        self.assertEqual(tools["ut_add"]["def"]["inputSchema"]["required"], ["a"])
        self.assertTrue(tools["ut_double"]["batch"] and tools["ut_double"]["idempotent"])
        self.send({"t": "call", "id": 1, "tool": "ut_add", "args": {"a": 40}})
        self.assertEqual(self.read(), {"t": "result", "id": 1, "result": mw.to_result(42)})
        self.send({"t": "call", "id": 2, "tool": "ut_fail", "args": {}})
        self.assertEqual(self.read(), {"t": "error", "id": 2, "message": "no luck"})
        self.send({"t": "call", "id": 3, "tool": "nope", "args": {}})
        self.assertEqual(self.read(), {"t": "error", "id": 3, "message": "no tool named 'nope'"})
        self.send({"t": "batch", "id": 4, "tool": "ut_double", "items": [{"x": 1}, {"x": 5}]})
        f = self.read()
        self.assertEqual([r["structuredContent"] for r in f["results"]], [{"v": 2}, {"v": 10}])
        self.send({"t": "call", "id": 5, "tool": "ut_double", "args": {"x": 1}})
        self.assertEqual(self.read()["message"], "tool 'ut_double' is a batch tool")

    def test_progress_and_cancellation(self):
        self.read()
        self.send({"t": "call", "id": 1, "tool": "ut_progress", "args": {"n": 2}})
        got = [self.read() for _ in range(3)]
        self.assertEqual(got[:2], [{"t": "progress", "id": 1, "progress": 1, "total": 2},
                                   {"t": "progress", "id": 1, "progress": 2, "total": 2}])
        self.assertEqual(got[2]["t"], "result")
        # async: cancelled by asyncio; sync: sees ctx.cancelled and ends on its own
        self.send({"t": "call", "id": 2, "tool": "ut_wait", "args": {}})
        self.send({"t": "call", "id": 3, "tool": "ut_spin", "args": {}})
        time.sleep(0.05)
        self.send({"t": "cancel", "id": 2})
        self.send({"t": "cancel", "id": 3})
        got = {f["id"]: f for f in (self.read(), self.read())}
        self.assertEqual(got[2], {"t": "error", "id": 2, "message": "cancelled"})
        self.assertEqual(got[3]["result"], mw.to_result("saw it"))


if __name__ == "__main__":
    unittest.main()
