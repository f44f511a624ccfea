"""A counter-based random source: ``hash(key, counter)`` with the splitmix64 finaliser.

Every random draw of the simulated market is addressed by (seed, symbol, stream, counter), so
a value never depends on which values were drawn before it, or in which order requests came.
Vectorised over numpy ``uint64`` arrays (wrap-around arithmetic; numpy does not warn on array
overflow, only on scalar overflow, so only arrays ever meet the constants here).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["derive_key", "hash_u64", "mix64", "uniform"]

_MASK: Final = (1 << 64) - 1
_GOLDEN: Final = 0x9E3779B97F4A7C15
_M1: Final = np.uint64(0xBF58476D1CE4E5B9)
_M2: Final = np.uint64(0x94D049BB133111EB)
_GOLD: Final = np.uint64(_GOLDEN)
_S30: Final = np.uint64(30)
_S27: Final = np.uint64(27)
_S31: Final = np.uint64(31)
_S11: Final = np.uint64(11)

U64 = npt.NDArray[np.uint64]


def mix64(x: int) -> int:
    """splitmix64 finaliser on a Python int (exact, no numpy)."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def derive_key(*parts: int) -> int:
    """A 64-bit key from a tuple of ints (seed, symbol index, stream, day, ...)."""
    key = 0x243F6A8885A308D3
    for part in parts:
        key = mix64(key ^ mix64((part & _MASK) + _GOLDEN))
    return key


def hash_u64(key: int | U64, counters: npt.NDArray[np.integer]) -> U64:
    """``mix64(key + (counter + 1) * golden)`` for every counter, as ``uint64``.

    ``key`` may be a column of keys (shape ``(rows, 1)``): the result is then one row of
    hashes per key over the same counters.
    """
    x = counters.astype(np.uint64) + np.uint64(1)
    x *= _GOLD
    if isinstance(key, int):
        x += np.uint64(key & _MASK)
    else:
        x = x + key
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def uniform(h: U64) -> npt.NDArray[np.float64]:
    """Uniform floats in [0, 1) from the top 53 bits (exact conversion)."""
    return (h >> _S11).astype(np.float64) * (1.0 / 9007199254740992.0)
