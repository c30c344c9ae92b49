from types import SimpleNamespace

import pytest
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import tflow, tutils

from addons import config
from addons.routing import ROUTE, Router, is_llm_host, label_for_host, upstream_for_path


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "mitm.toml"
    path.write_text(
        '[upstreams]\nanthropic = "http://127.0.0.1:9001"\nopenai = "https://openrouter.ai/api"\n'
        'ollama = "http://gpu:11434"\ngemini = "http://127.0.0.1:9004"\n'
    )
    return config.load(path, env={})


def reverse_flow(path: str, method: str = "POST"):
    client = tflow.tclient_conn()
    client.proxy_mode = ProxyMode.parse("reverse:http://127.0.0.1:9001@127.0.0.1:8000")
    req = tutils.treq(method=method.encode(), path=path.encode(), host="127.0.0.1", port=8000)
    req.headers["host"] = "127.0.0.1:9001"  # mitmproxy's reverse mode sets it to the spec target
    return tflow.tflow(client_conn=client, req=req)


@pytest.mark.parametrize(
    "path, upstream",
    [
        ("/v1/messages?beta=true", "anthropic"),
        ("/v1/messages/count_tokens", "anthropic"),
        ("/v1/complete", "anthropic"),
        ("/v1/chat/completions", "openai"),
        ("/v1/completions", "openai"),
        ("/v1/embeddings", "openai"),
        ("/v1/models", "openai"),
        ("/v1/responses", "openai"),
        ("/api/chat", "ollama"),
        ("/api/tags", "ollama"),
        ("/v1beta/models/gemini-2.5-flash:generateContent", "gemini"),
        ("/", "anthropic"),
        ("/something/else", "anthropic"),
    ],
)
def test_paths_route_to_their_api(path, upstream):
    assert upstream_for_path(path, "anthropic") == upstream


def test_reverse_request_is_pointed_at_the_upstream_keeping_path_and_query(cfg):
    router = Router(SimpleNamespace(config=cfg))
    flow = reverse_flow("/v1/chat/completions?x=1&y=%20")
    router.requestheaders(flow)
    req = flow.request
    assert (req.scheme, req.host, req.port) == ("https", "openrouter.ai", 443)
    assert req.path == "/api/v1/chat/completions?x=1&y=%20"
    assert req.host_header == "openrouter.ai"
    assert flow.metadata[ROUTE].upstream == "openai"
    assert flow.metadata[ROUTE].listener == "reverse"


@pytest.mark.parametrize(
    "host, port, host_header",
    [
        ("127.0.0.1", 9001, "127.0.0.1:9001"),  # already there: mitmproxy's reverse target
        ("127.0.0.1", 8000, "127.0.0.1:8000"),  # the listener's own address
        ("127.0.0.1", 9001, "proxy.local:8000"),  # keep_host_header: the client's Host
    ],
)
def test_the_default_upstream_gets_its_own_host_header_whatever_came_in(
    cfg, host, port, host_header
):
    router = Router(SimpleNamespace(config=cfg))
    flow = reverse_flow("/v1/messages")
    flow.request.host, flow.request.port = host, port
    flow.request.headers["host"] = host_header
    router.requestheaders(flow)
    req = flow.request
    assert (req.scheme, req.host, req.port, req.host_header) == (
        "http",
        "127.0.0.1",
        9001,
        "127.0.0.1:9001",
    )


def test_reverse_ollama_route(cfg):
    router = Router(SimpleNamespace(config=cfg))
    flow = reverse_flow("/api/chat")
    router.requestheaders(flow)
    assert (flow.request.host, flow.request.port, flow.request.path) == ("gpu", 11434, "/api/chat")


def test_suite_paths_are_never_forwarded(cfg):
    router = Router(SimpleNamespace(config=cfg))
    flow = reverse_flow("/__proxy/api/health", "GET")
    router.requestheaders(flow)
    assert ROUTE not in flow.metadata
    assert flow.request.port == 8000


def test_regular_mode_records_llm_hosts_only(cfg):
    router = Router(SimpleNamespace(config=cfg))
    llm = tflow.tflow(req=tutils.treq(host="api.anthropic.com", port=443, path=b"/v1/messages"))
    llm.client_conn.proxy_mode = ProxyMode.parse("regular")
    other = tflow.tflow(req=tutils.treq(host="example.com", port=443, path=b"/"))
    other.client_conn.proxy_mode = ProxyMode.parse("regular")
    router.requestheaders(llm)
    router.requestheaders(other)
    assert llm.metadata[ROUTE].upstream == "anthropic"
    assert llm.request.host == "api.anthropic.com"
    assert ROUTE not in other.metadata


def test_host_matching(cfg):
    assert is_llm_host("API.OpenAI.com", cfg)
    assert is_llm_host("gpu", cfg)
    assert not is_llm_host("github.com", cfg)
    assert label_for_host("openrouter.ai", cfg) == "openai"  # a configured upstream names it
    assert label_for_host("generativelanguage.googleapis.com", cfg) == "gemini"
