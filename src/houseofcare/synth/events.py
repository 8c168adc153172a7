"""Vectorised event-time helpers: turn per-person rates or recall intervals into event rows.

Each helper returns ``(person, day)`` arrays — one element per event — built with
``np.repeat``, never a Python loop over people or events.
"""

from __future__ import annotations

import numpy as np


def poisson_events(
    rng: np.random.Generator, rate_per_day: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Events of a homogeneous Poisson process per person on ``[start, end)`` (days, float)."""
    length = np.clip(end - start, 0, None)
    counts = rng.poisson(rate_per_day * length)
    person = np.repeat(np.arange(counts.size), counts)
    day = start[person] + rng.random(person.size) * length[person]
    return person, day


def periodic_events(
    rng: np.random.Generator,
    interval: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    jitter: float = 0.15,
) -> tuple[np.ndarray, np.ndarray]:
    """Recurring events every ``interval`` days (± ``jitter`` of it) on ``[start, end)``.

    The first event falls at a random phase within the first interval, as a recall date does for
    a person whose review cycle began before the history window.
    """
    interval = np.broadcast_to(np.asarray(interval, dtype=np.float64), start.shape)
    first = start + rng.random(start.size) * interval
    counts = np.where(end > first, np.floor((end - first) / interval).astype(np.int64) + 1, 0)
    person = np.repeat(np.arange(counts.size), counts)
    offsets = np.cumsum(counts) - counts
    k = np.arange(person.size) - offsets[person]
    noise = (rng.random(person.size) - 0.5) * 2 * jitter * interval[person]
    day = first[person] + k * interval[person] + noise
    keep = (day >= start[person]) & (day < end[person])
    return person[keep], day[keep]


def rank_within(person: np.ndarray) -> np.ndarray:
    """0-based position of each row among the rows of the same person (rows sorted by person)."""
    if person.size == 0:
        return person.copy()
    starts = np.r_[0, np.flatnonzero(np.diff(person)) + 1]
    lengths = np.diff(np.r_[starts, person.size])
    return np.arange(person.size) - np.repeat(starts, lengths)


def choose(rng: np.random.Generator, probabilities: np.ndarray, size: int) -> np.ndarray:
    """Index draws from one categorical distribution."""
    cdf = np.cumsum(probabilities)
    cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(size), side="right").clip(0, len(cdf) - 1)
