"""How much two byte strings share at their start or end, found at memcmp speed.

Agents resend their conversation every turn, so a body mostly repeats one seen just before.
The hand-over to the recorder (`worker.RecentBodies`) sends only what lies between the longest
prefix and suffix a body shares with one it sent lately. (The body loader compares element
ends instead: `wire.loader._shared_elements`.)
"""

from __future__ import annotations


def common_prefix(a: bytes, b: memoryview) -> int:
    """How many leading bytes `a` and `b` share: a binary search of memcmps, each over the
    bytes not yet known to match (`startswith` stops at the first byte that differs, and a
    memoryview slice copies nothing); the whole of the shorter first, as a resent body is."""
    lo, hi = 0, min(len(a), len(b))
    probe = hi
    while lo < hi:
        if a.startswith(b[lo:probe], lo):
            lo = probe
        else:
            hi = probe - 1
        probe = (lo + hi + 1) // 2
    return lo


def common_suffix(a: bytes, b: memoryview, most: int) -> int:
    """How many trailing bytes `a` and `b` share, at most `most`; as `common_prefix`."""
    lo, hi, end, a_end = 0, most, len(b), len(a)
    probe = hi
    while lo < hi:
        if a.endswith(b[end - probe : end - lo], 0, a_end - lo):
            lo = probe
        else:
            hi = probe - 1
        probe = (lo + hi + 1) // 2
    return lo
