"""Python tools for mcpfed using NumPy (Debian python3-numpy; etc/examples/python.lua).

`similarity` is a batch tool: calls that arrive within the provider's batch_window_ms reach
it together, as one list, and are computed as one matrix product instead of one at a time."""

import numpy as np

from mcpfed_worker import tool

ITEM = {
    "type": "object",
    "properties": {
        "query": {"type": "array", "items": {"type": "number"}, "description": "a vector"},
        "candidates": {"type": "array", "items": {"type": "array", "items": {"type": "number"}},
                       "description": "vectors of the same length as query"},
        "top": {"type": "integer", "minimum": 1, "default": 3},
    },
    "required": ["query", "candidates"],
}


def _unit(m):
    n = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.where(n == 0, 1, n)


@tool(batch=True, idempotent=True, schema=ITEM)
def similarity(items):
    """The candidates most similar to the query by cosine similarity, best first, with
    their indexes and scores."""
    out = []
    # calls with candidate sets of the same shape are stacked and computed at once
    groups = {}
    for i, it in enumerate(items):
        try:
            q = np.asarray(it["query"], dtype=float)
            c = np.asarray(it["candidates"], dtype=float)
            if q.ndim != 1 or c.ndim != 2 or c.shape[1] != q.shape[0]:
                raise ValueError(f"candidates must be vectors of length {q.shape[0]}")
        except (ValueError, TypeError) as e:
            out.append((i, e))
            continue
        groups.setdefault(c.shape, []).append((i, q, c, int(it.get("top", 3))))
    for group in groups.values():
        qs = _unit(np.stack([g[1] for g in group]))          # (n, d)
        cs = _unit(np.stack([g[2] for g in group]))          # (n, k, d)
        scores = np.einsum("nd,nkd->nk", qs, cs)             # one product for the batch
        for (i, _, _, top), row in zip(group, scores):
            best = np.argsort(-row)[:top]
            out.append((i, {"indexes": best.tolist(), "scores": row[best].round(6).tolist()}))
    return [r for _, r in sorted(out, key=lambda x: x[0])]


@tool(idempotent=True)
def describe(values: list[float]) -> dict:
    """Mean, standard deviation and percentiles (5, 25, 50, 75, 95) of a list of numbers."""
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        raise ValueError("values is empty")
    p = np.percentile(a, [5, 25, 50, 75, 95])
    return {"count": int(a.size), "mean": float(a.mean()), "std": float(a.std()),
            "percentiles": dict(zip(["p5", "p25", "p50", "p75", "p95"], p.round(6).tolist()))}


@tool(idempotent=True)
def solve(a: list[list[float]], b: list[float]) -> dict:
    """x such that a·x = b, for a square matrix a (least squares when it is singular)."""
    A, B = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or B.shape != (A.shape[0],):
        raise ValueError("a must be square and b as long as a")
    x, _, rank, _ = np.linalg.lstsq(A, B, rcond=None)
    return {"x": x.round(9).tolist(), "rank": int(rank)}
