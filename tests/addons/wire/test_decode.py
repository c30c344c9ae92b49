import zlib

import brotli
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from addons.wire import anthropic
from addons.wire.decode import Decoder
from tests.addons.wire.streams import ANTHROPIC_EVENTS, cuts, every, split, sse

# Each event is one write of a streaming server, which flushes its compressor after every event.
EVENTS = [sse([e]) for e in ANTHROPIC_EVENTS]
PLAIN = b"".join(EVENTS)


def _zlib(wbits: int):
    def encode(events: list[bytes]) -> list[bytes]:
        z = zlib.compressobj(wbits=wbits)
        out = [z.compress(e) + z.flush(zlib.Z_SYNC_FLUSH) for e in events]
        out[-1] += z.flush()
        return out

    return encode


def _brotli(events: list[bytes]) -> list[bytes]:
    c = brotli.Compressor()
    out = [c.process(e) + c.flush() for e in events]
    out[-1] += c.finish()
    return out


def _zstd(events: list[bytes]) -> list[bytes]:
    z = zstandard.ZstdCompressor().compressobj()
    out = [z.compress(e) + z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK) for e in events]
    out[-1] += z.flush()
    return out


def _zstd_frames(events: list[bytes]) -> list[bytes]:
    c = zstandard.ZstdCompressor()
    return [c.compress(e) for e in events]  # one whole frame per event


def _gzip_members(events: list[bytes]) -> list[bytes]:
    out = []
    for e in events:
        z = zlib.compressobj(wbits=31)
        out.append(z.compress(e) + z.flush())
    return out


def _identity(events: list[bytes]) -> list[bytes]:
    return list(events)


def _gzip_then_br(events: list[bytes]) -> list[bytes]:
    # "gzip, br": gzip was applied first, br second; each layer flushed per event
    z = zlib.compressobj(wbits=31)
    c = brotli.Compressor()
    out = []
    for i, e in enumerate(events):
        inner = z.compress(e) + z.flush(zlib.Z_SYNC_FLUSH if i < len(events) - 1 else zlib.Z_FINISH)
        out.append(c.process(inner) + (c.flush() if i < len(events) - 1 else c.finish()))
    return out


CODECS = [
    (None, _identity),
    ("", _identity),
    ("identity", _identity),
    ("gzip", _zlib(31)),
    ("x-gzip", _zlib(31)),
    ("GZip", _zlib(31)),
    ("gzip", _gzip_members),
    ("deflate", _zlib(15)),
    ("deflate", _zlib(-15)),
    ("br", _brotli),
    ("zstd", _zstd),
    ("zstd", _zstd_frames),
    ("gzip, br", _gzip_then_br),
    ("identity, zstd", _zstd),
]
IDS = [f"{h}-{f.__name__}" for h, f in CODECS]


def decode_all(header: str | None, chunks: list[bytes]) -> tuple[bytes, Decoder]:
    d = Decoder.for_encoding(header)
    out = b"".join(d.feed(c) for c in chunks) + d.flush()
    return out, d


@pytest.mark.parametrize("header, encode", CODECS, ids=IDS)
@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_decodes_any_chunking(header, encode, size):
    body = b"".join(encode(EVENTS))
    out, d = decode_all(header, every(body, size))
    assert d.failed is None
    assert out == PLAIN


@pytest.mark.parametrize("header, encode", CODECS, ids=IDS)
def test_each_flushed_event_is_available_at_once(header, encode):
    """What a server flushed is decodable before the next write: nothing is held back."""
    d = Decoder.for_encoding(header)
    got = b""
    for plain, written in zip(EVENTS, encode(EVENTS), strict=True):
        for byte in every(written, 1):
            got += d.feed(byte)
        assert got.endswith(plain)
    assert got + d.flush() == PLAIN
    assert d.failed is None


@pytest.mark.parametrize("header, encode", CODECS, ids=IDS)
@given(points=cuts)
def test_random_chunkings(header, encode, points):
    body = b"".join(encode(EVENTS))
    assert decode_all(header, split(body, points))[0] == PLAIN


@pytest.mark.parametrize("header, encode", CODECS[3:], ids=IDS[3:])
def test_decoded_stream_accumulates(header, encode):
    d = Decoder.for_encoding(header)
    acc = anthropic.StreamAccumulator()
    for chunk in every(b"".join(encode(EVENTS)), 5):
        acc.feed(d.feed(chunk))
    acc.feed(d.flush())
    resp = acc.finish()
    assert (resp.usage.input, resp.usage.output, resp.usage.cache_read) == (12, 89, 17210)
    assert resp.text == "I'll list the files in the répertoire ✓"


@pytest.mark.parametrize(
    "header, body, reason",
    [
        ("gzip", b"this is not gzip at all", "gzip:"),
        ("br", b"\xff\xff\xff\xff not brotli", "br:"),
        ("zstd", b"garbage garbage garbage", "zstd:"),
        ("deflate", b"\x78\x9c\xff\xff\xff\xff\xff", "deflate:"),
        ("compress", b"anything", "unsupported content-encoding: compress"),
        ("gzip, snappy", b"anything", "unsupported content-encoding: snappy"),
        ("gzip", zlib.compress(b"x", wbits=31)[:12] + b"\x00garbage\xff" * 4, "gzip:"),
        ("zstd", _zstd_frames([b"ok"])[0] + b"not a frame", "zstd:"),
    ],
)
def test_corrupt_input_sets_failed_and_yields_nothing_more(header, body, reason):
    d = Decoder.for_encoding(header)
    for chunk in every(body, 3):
        d.feed(chunk)
    d.flush()
    assert d.failed is not None and d.failed.startswith(reason)
    assert d.feed(zlib.compress(b"more")) == b""
    assert d.flush() == b""


@pytest.mark.parametrize("header, encode", CODECS[3:], ids=IDS[3:])
def test_truncated_stream_gives_what_arrived(header, encode):
    written = encode(EVENTS)
    body = b"".join(written[:3])
    out, d = decode_all(header, every(body, 11))
    assert d.failed is None
    assert out == b"".join(EVENTS[:3])


@pytest.mark.parametrize("header", ["gzip", "deflate", "br", "zstd", "gzip, br", "identity"])
@given(data=st.binary(max_size=300), points=cuts)
def test_never_raises(header, data, points):
    d = Decoder.for_encoding(header)
    for chunk in split(data, points):
        assert isinstance(d.feed(chunk), bytes)
    assert isinstance(d.flush(), bytes)
