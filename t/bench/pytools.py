"""The tools of t/bench/python-tools.sh: echo answers at once (the pool's own cost per
call), work spends about a millisecond of CPU in Python."""

from mcpfed_worker import tool


@tool
def echo(n: int) -> int:
    "n, at once."
    return n


@tool
def work(n: int) -> int:
    "A sum over 20000 numbers."
    return sum(i * i for i in range(20000)) + n
