"""A sum tree over preallocated arrays: priorities at the leaves, every internal node the sum of its
children, so that drawing leaf i with probability p_i / sum(p) takes one descent from the top.

Schaul et al. (2016) use a binary tree; here the number of children per node, ``fanout``, is a
parameter (2 is the binary tree), and the top of the tree is a row of up to ``TOP`` nodes rather than a
single root: the descent starts with one cumulative sum and one ``searchsorted`` over that row. The
work is vectorized over a batch of indices or draws, with a Python loop over the tree's depth only.
With NumPy's per-call cost a shallow tree is the fast one: for 100,000 leaves, fanout 32 gives a top
row of 3,125 nodes over the leaves, one level to descend, against 17 for a binary tree (a top row of at
most 1,024 nodes, two levels, measured 1.3x slower).
"""
from __future__ import annotations

import math

import numpy as np


TOP = 4096
"""The most nodes in the top row (at least ``fanout``): a cumulative sum over it costs about one call."""


class SumTree:
    """Priorities of ``capacity`` slots (any capacity: the leaf level is padded with zeros).

    Args:
        capacity: number of leaves that hold priorities.
        fanout: children per internal node (>= 2).
    """

    def __init__(self, capacity: int, fanout: int = 32) -> None:
        if int(capacity) < 1 or int(fanout) < 2:
            raise ValueError(f"capacity must be >= 1 and fanout >= 2, got {capacity} and {fanout}")
        self.capacity, self.fanout = int(capacity), int(fanout)
        # levels[0] is the top row, levels[depth] the leaves; level d holds len(levels[0]) * fanout**d nodes
        self.levels = [np.zeros(n) for n in self.level_sizes(self.capacity, self.fanout)]
        self.depth = len(self.levels) - 1

    @staticmethod
    def level_sizes(capacity: int, fanout: int = 32) -> list[int]:
        """Nodes per level of a tree for ``capacity`` leaves, top row first: ``top * fanout**d`` on level d,
        with the fewest levels (at least one below the top) that keep ``top`` within ``max(TOP, fanout)``."""
        depth = 1
        while -(-capacity // fanout ** depth) > max(TOP, fanout):
            depth += 1
        top = -(-capacity // fanout ** depth)       # ceil: the leaf level is padded with zeros
        return [top * fanout ** d for d in range(depth + 1)]

    @property
    def leaves(self) -> np.ndarray:
        """The priorities, one per slot (a view; padding excluded)."""
        return self.levels[-1][: self.capacity]

    @property
    def total(self) -> float:
        """The sum of all priorities (of the top row)."""
        return float(self.levels[0].sum())

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:   # (B,), (B,)
        """Set the priorities of ``indices``, then recompute their ancestors from their children.

        Ancestors are recomputed, never incremented, so no rounding drift accumulates. An index given
        twice gets one of its values (prioritized replay gives a repeated transition one priority).
        """
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.capacity):
            raise IndexError(f"indices must be in [0, {self.capacity}), got {idx.min()}..{idx.max()}")
        p = np.asarray(priorities, dtype=np.float64)
        if p.size and not (p.min() >= 0 and p.max() < np.inf):    # NaN fails the first test
            raise ValueError("priorities must be finite and >= 0")
        self.levels[-1][idx] = p
        k = self.fanout
        for d in range(self.depth - 1, -1, -1):   # node = sum of its k children, bottom-up
            idx = idx // k
            self.levels[d][idx] = self.levels[d + 1].reshape(-1, k)[idx].sum(axis=1)

    def set(self, index: int, priority: float) -> None:
        """``update`` for one slot, with Python scalars (the per-transition path: ~4x fewer NumPy calls)."""
        if not 0 <= index < self.capacity:
            raise IndexError(f"index must be in [0, {self.capacity}), got {index}")
        if not (math.isfinite(priority) and priority >= 0):
            raise ValueError("priorities must be finite and >= 0")
        self.levels[-1][index] = priority
        k = self.fanout
        for d in range(self.depth - 1, -1, -1):
            index //= k
            self.levels[d][index] = self.levels[d + 1][index * k:(index + 1) * k].sum()

    def find(self, values: np.ndarray) -> np.ndarray:   # (B,) in [0, total) -> (B,) leaf indices
        """For each value u, the leaf i with sum(p[:i]) <= u < sum(p[:i+1]): leaf i is found with
        probability p_i / total when u is uniform on [0, total). A leaf of priority 0 is never found."""
        u = np.array(values, dtype=np.float64)      # a copy: reduced level by level
        B, k = u.shape[0], self.fanout
        top = self.levels[0]
        cum = np.cumsum(top)                                  # (m,) over the top row
        pos = np.searchsorted(cum, u, side="right")           # (B,) first node whose cumulative sum passes u
        if pos.max() == top.shape[0]:                         # u at the very top (rounding): the last node
            pos[pos == top.shape[0]] = top.shape[0] - 1 - np.argmax(top[::-1] > 0)   # that has a priority
        u -= cum.take(pos) - top.take(pos)                    # the mass left of each chosen node
        np.maximum(u, 0.0, out=u)
        row_starts = np.arange(B) * k                       # flat index of each row's first child
        for d in range(1, self.depth + 1):
            children = self.levels[d].reshape(-1, k).take(pos, axis=0)   # (B, k) the sums below each node
            cum = np.cumsum(children, axis=1)                 # (B, k)
            j = np.count_nonzero(cum <= u[:, None], axis=1)   # (B,) first child whose cumulative sum passes u
            if j.max() == k:                                  # u at the very top (rounding): take the last
                over = j == k                                 # child that has a priority
                j[over] = k - 1 - np.argmax(children[over][:, ::-1] > 0, axis=1)
            cum -= children                                   # exclusive sums: the mass left of each child
            u -= cum.take(row_starts + j)
            np.maximum(u, 0.0, out=u)                         # rounding may take u just below 0: a zero-priority
                                                              # first child must not be found
            pos *= k
            pos += j
        return pos

    def state_dict(self) -> dict:
        """The leaf priorities (the rest is derived from them)."""
        return {"capacity": self.capacity, "fanout": self.fanout, "priorities": self.leaves.copy()}

    def load_state_dict(self, state: dict) -> None:
        """Restore from ``state_dict()``: the leaves, then every internal node recomputed bottom-up."""
        if int(state["capacity"]) != self.capacity or int(state["fanout"]) != self.fanout:
            raise ValueError(f"sum tree state is for capacity {state['capacity']} and fanout {state['fanout']}, "
                             f"this tree has {self.capacity} and {self.fanout}")
        self.levels[-1][:] = 0.0
        self.levels[-1][: self.capacity] = np.asarray(state["priorities"], dtype=np.float64)
        for d in range(self.depth - 1, -1, -1):
            self.levels[d][:] = self.levels[d + 1].reshape(-1, self.fanout).sum(axis=1)
