"""Python tools for mcpfed using only the standard library (etc/examples/python.lua).

Each function declared with @tool becomes a tool; its input schema comes from the type
hints, its description from the docstring."""

import datetime
import difflib
import json
import statistics

from mcpfed_worker import tool


@tool(idempotent=True)
def stats(numbers: list[float]) -> dict:
    """Summary statistics of a list of numbers: count, sum, min, max, mean, median,
    standard deviation (of the population) and quartiles."""
    if not numbers:
        raise ValueError("numbers is empty")
    xs = sorted(numbers)
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return {"count": len(xs), "sum": sum(xs), "min": xs[0], "max": xs[-1], "mean": statistics.fmean(xs),
            "median": statistics.median(xs), "stdev": statistics.pstdev(xs), "quartiles": q}


@tool(idempotent=True)
def diff(a: str, b: str, context: int = 3) -> str:
    """A unified diff of two texts, line by line ("" when they are equal)."""
    lines = difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True), "a", "b", n=context)
    return "".join(lines)


def _date(s):
    try:
        return datetime.date.fromisoformat(s)
    except ValueError:
        raise ValueError(f"not an ISO date (YYYY-MM-DD): {s!r}") from None


@tool(idempotent=True)
def date_add(date: str, days: int = 0, weeks: int = 0) -> dict:
    """A date (YYYY-MM-DD) plus days and weeks (negative to go back), with its weekday."""
    d = _date(date) + datetime.timedelta(days=days, weeks=weeks)
    return {"date": d.isoformat(), "weekday": d.strftime("%A")}


@tool(idempotent=True)
def date_diff(start: str, end: str) -> dict:
    """The days from start to end (YYYY-MM-DD), and how many of them are weekdays."""
    a, b = _date(start), _date(end)
    days = (b - a).days
    lo, hi = min(a, b), max(a, b)
    weekdays = sum(1 for i in range((hi - lo).days) if (lo + datetime.timedelta(days=i)).weekday() < 5)
    return {"days": days, "weeks": days / 7, "weekdays": weekdays if days >= 0 else -weekdays}


def _path_steps(path):
    """$.a.b[2].c or a.b.2.c as a list of keys and indexes."""
    steps = []
    for part in path.lstrip("$").replace("[", ".").replace("]", "").split("."):
        if part == "":
            continue
        steps.append(int(part) if part.lstrip("-").isdigit() else part)
    return steps


@tool(idempotent=True)
def json_query(document: str, path: str) -> dict:
    """The value at a path (like $.items[0].name, or * for every element) in a JSON
    document given as text."""
    try:
        values = [json.loads(document)]
    except json.JSONDecodeError as e:
        raise ValueError(f"the document is not JSON: {e}") from None
    for step in _path_steps(path):
        nxt = []
        for v in values:
            if step == "*":
                nxt.extend(v.values() if isinstance(v, dict) else v if isinstance(v, list) else [])
            elif isinstance(v, dict) and isinstance(step, str) and step in v:
                nxt.append(v[step])
            elif isinstance(v, list) and isinstance(step, int) and -len(v) <= step < len(v):
                nxt.append(v[step])
        values = nxt
    return {"path": path, "matches": values}
