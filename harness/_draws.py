"""Bootstrap draws and grouped sums: the vectorised engine under `harness.agreement`.

A statistic sees B resamples of the items at once: the drawn indices and how often each
item was drawn. Draws are seeded, the same for any chunking, and cached for the last two
(items, resamples, seed) triples, so every figure of one report shares its resamples.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Draws:
    """Some bootstrap resamples: item indices (B, n) and how often each item was drawn.

    Cluster resamples (`clustered`) draw groups of items, so each resample holds a different
    number of items: `idx` is then a sequence of B index arrays.
    """

    idx: np.ndarray | Sequence[np.ndarray]
    counts: np.ndarray

    @classmethod
    def identity(cls, n_items: int) -> Draws:
        """The sample itself (every item once): the point estimate."""
        return cls(np.arange(n_items)[None, :], np.ones((1, n_items)))

    @classmethod
    def of(cls, idx: np.ndarray) -> Draws:
        b, n_items = idx.shape
        flat = (idx + n_items * np.arange(b)[:, None]).ravel()
        counts = np.bincount(flat, minlength=b * n_items).reshape(b, n_items)
        return cls(idx, counts.astype(float))


def cluster_codes(clusters: Sequence[object]) -> tuple[np.ndarray, int]:
    """Each row's cluster as 0..k-1 in order of first appearance, and k."""
    first: dict[object, int] = {}
    codes = np.array([first.setdefault(c, len(first)) for c in clusters], dtype=np.intp)
    return codes, len(first)


def clustered(
    clusters: np.ndarray, n_clusters: int, n_resamples: int, seed: int
) -> Iterator[Draws]:
    """Resamples of whole clusters (an item's several responses go together): `clusters`
    gives each row its cluster 0..n_clusters-1; a row is drawn as often as its cluster."""
    for draws in resamples(n_clusters, n_resamples, seed):
        counts = draws.counts[:, clusters]
        yield Draws(_DrawnRows(counts), counts)


class _DrawnRows(Sequence[np.ndarray]):
    """Each resample's drawn rows, built only when a statistic loops over them (the
    vectorised ones read `counts` alone)."""

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = counts

    def __len__(self) -> int:
        return int(self.counts.shape[0])

    def __getitem__(self, b: int) -> np.ndarray:  # type: ignore[override]
        if not -len(self) <= b < len(self):
            raise IndexError(b)
        return np.repeat(np.arange(self.counts.shape[1]), self.counts[b].astype(int))


JACKKNIFE_GROUPS = 500
"""Leave-one-out estimates at most: more units are left out in this many groups."""


def jackknife(
    n_items: int, clusters: np.ndarray | None = None, n_clusters: int = 0
) -> Iterator[Draws]:
    """Leave-one-out draws for a jackknife: each unit (an item, or a cluster of rows) left
    out once; above JACKKNIFE_GROUPS units, groups of them (unit k in group k mod G), which
    keeps the acceleration of a BCa interval (influences add up within a group)."""
    units = n_clusters if clusters is not None else n_items
    groups = min(units, JACKKNIFE_GROUPS)
    membership = np.arange(units) % groups
    block = max(1, _CELLS // max(1, n_items))
    for start in range(0, groups, block):
        left_out = np.arange(start, min(groups, start + block))
        counts = (membership[None, :] != left_out[:, None]).astype(float)
        if clusters is not None:
            counts = counts[:, clusters]
        yield Draws(_DrawnRows(counts), counts)


_CELLS = 2_000_000
"""Resample cells (B x n) per chunk; all statistics of one figure set reuse cached draws."""


def resamples(n_items: int, n_resamples: int, seed: int) -> tuple[Draws, ...] | list[Draws]:
    """`n_resamples` seeded draws of `n_items` items, in chunks (cached when small)."""
    if n_items * n_resamples <= _CELLS:
        return _cached_resamples(n_items, n_resamples, seed)
    return _draw(n_items, n_resamples, seed)


@functools.lru_cache(maxsize=2)
def _cached_resamples(n_items: int, n_resamples: int, seed: int) -> tuple[Draws, ...]:
    return tuple(_draw(n_items, n_resamples, seed))


def _draw(n_items: int, n_resamples: int, seed: int) -> list[Draws]:
    """Seeded item draws in chunks of at most `_CELLS` cells (the same for any chunking)."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _CELLS // max(1, n_items) // 8)
    return [
        Draws.of(rng.integers(0, n_items, size=(min(chunk, n_resamples - start), n_items)))
        for start in range(0, n_resamples, chunk)
    ]


class Groups:
    """Columns grouped by a label, sorted once, summed per group for any weights."""

    def __init__(self, groups: np.ndarray, n_groups: int) -> None:
        self.n_groups = n_groups
        self.order = np.argsort(groups, kind="stable")
        ordered = groups[self.order]
        self.starts = (
            np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if groups.size else ordered
        )
        self.labels = ordered[self.starts] if groups.size else ordered

    def sum(self, weights: np.ndarray) -> np.ndarray:
        """(B, n) weights summed per group of each column -> (B, n_groups)."""
        out = np.zeros((weights.shape[0], self.n_groups))
        if self.order.size:
            out[:, self.labels] = np.add.reduceat(weights[:, self.order], self.starts, axis=1)
        return out


def divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den != 0, num / np.where(den != 0, den, 1), np.nan)
    return np.asarray(out, dtype=float)
