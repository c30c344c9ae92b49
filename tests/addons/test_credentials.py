import pytest

from addons.credentials import fingerprint, scrub_headers, scrub_path

KEY = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789-WXYZ"


def test_fingerprint_keeps_last_four_and_a_hash_prefix_only():
    fp = fingerprint(KEY)
    assert fp.startswith("fp:") and fp.endswith("…WXYZ")
    assert KEY[:-4] not in fp
    assert fingerprint(KEY) == fp
    assert fingerprint(KEY + "1") != fp


def test_bearer_scheme_is_kept_visible():
    assert fingerprint(f"Bearer {KEY}").startswith("Bearer fp:")


def test_short_values_show_no_tail():
    assert fingerprint("dummy").endswith("…")


@pytest.mark.parametrize(
    "name",
    [
        "x-api-key",
        "Authorization",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "X-Custom-Api-Key",
        "x-auth-token",
        "openai-secret",
    ],
)
def test_secret_headers_are_fingerprinted(name):
    out = scrub_headers([(name.encode(), KEY.encode())])
    assert KEY not in out[name.lower()]
    assert out[name.lower()].startswith("fp:")


def test_plain_headers_are_kept_and_names_lowercased():
    out = scrub_headers([(b"User-Agent", b"curl/8.5.0"), (b"Accept", b"a"), (b"accept", b"b")])
    assert out == {"user-agent": "curl/8.5.0", "accept": "a, b"}


def test_query_string_keys_are_fingerprinted():
    path = f"/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key={KEY}"
    out = scrub_path(path)
    assert KEY not in out and "alt=sse" in out and "WXYZ" in out
    assert scrub_path("/v1/messages?beta=true") == "/v1/messages?beta=true"
