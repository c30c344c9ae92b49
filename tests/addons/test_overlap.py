"""addons.overlap: the shared prefix and suffix of two byte strings, found by memcmp."""

import random

from addons.overlap import common_prefix, common_suffix


def test_common_prefix_and_suffix_agree_with_a_byte_by_byte_count():
    rng = random.Random(11)

    def some(n: int) -> bytes:
        return bytes(rng.choice(b"ab") for _ in range(rng.randint(0, n)))

    for _ in range(2_000):
        a = some(200)
        b = a[: rng.randint(0, len(a))] + some(40)
        same = 0
        while same < min(len(a), len(b)) and a[same] == b[same]:
            same += 1
        assert common_prefix(a, memoryview(b)) == same
        most = rng.randint(0, min(len(a), len(b)))
        end = 0
        while end < most and a[-1 - end] == b[-1 - end]:
            end += 1
        assert common_suffix(a, memoryview(b), most) == end
