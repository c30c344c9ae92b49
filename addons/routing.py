"""Where each request goes: reverse-mode path routing and HTTPS_PROXY host selection.

Failure policy: a request this addon cannot place is forwarded to the default upstream and
recorded; it never drops traffic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mitmproxy import http, tls
from mitmproxy.proxy.mode_specs import ReverseMode

from addons.config import Config, Upstream

log = logging.getLogger(__name__)

ROUTE = "inspector.route"

# Reverse-mode path prefixes, most specific first.
PATH_ROUTES: tuple[tuple[str, str], ...] = (
    ("/v1/messages", "anthropic"),
    ("/v1/complete", "anthropic"),
    ("/v1beta/", "gemini"),
    ("/api/", "ollama"),
    ("/v1/", "openai"),
)

HOST_LABELS: dict[str, str] = {
    "api.anthropic.com": "anthropic",
    "api.openai.com": "openai",
    "generativelanguage.googleapis.com": "gemini",
    "openrouter.ai": "openrouter",
}


@dataclass(frozen=True, slots=True)
class Route:
    listener: str  # "reverse" | "regular"
    upstream: str  # label, e.g. "anthropic"
    url: str  # base URL the request went to


def upstream_for_path(path: str, default: str) -> str:
    for prefix, name in PATH_ROUTES:
        if path.startswith(prefix):
            return name
    return default


def label_for_host(host: str, config: Config) -> str:
    host = host.lower()
    for upstream in config.upstreams.values():
        if upstream.host.lower() == host:
            return upstream.name
    if host in HOST_LABELS:
        return HOST_LABELS[host]
    for known, label in HOST_LABELS.items():
        if host.endswith("." + known):
            return label
    return host


def is_llm_host(host: str, config: Config) -> bool:
    host = host.lower().rstrip(".")
    return host in config.intercept_hosts or any(
        host.endswith("." + h) for h in config.intercept_hosts
    )


def point_at(request: http.Request, upstream: Upstream) -> None:
    """Send a reverse-mode request to `upstream`, keeping its path and query untouched."""
    hostport = upstream.hostport
    if (
        request.host != upstream.host
        or request.port != upstream.port
        or request.scheme != upstream.scheme
        or request.headers.get("host", hostport) != hostport
        or request.authority not in ("", hostport)
    ):  # else mitmproxy's reverse mode already points it there (the default upstream)
        request.scheme = upstream.scheme
        request.host = upstream.host
        request.port = upstream.port
    if upstream.prefix:
        request.path = upstream.prefix + request.path


class Router:
    def __init__(self, suite) -> None:
        self.suite = suite

    @property
    def config(self) -> Config:
        return self.suite.config

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or ROUTE in flow.metadata:
            return
        mode = flow.client_conn.proxy_mode
        if isinstance(mode, ReverseMode):
            path = flow.request.path
            if path.startswith("/__proxy"):
                return  # answered by the suite itself, never forwarded
            name = upstream_for_path(path, self.config.default_route)
            upstream = self.config.upstreams[name]
            point_at(flow.request, upstream)
            flow.metadata[ROUTE] = Route("reverse", name, upstream.url)
        elif is_llm_host(flow.request.host, self.config):
            label = label_for_host(flow.request.host, self.config)
            base = f"{flow.request.scheme}://{flow.request.pretty_host}"
            flow.metadata[ROUTE] = Route(mode.type_name, label, base)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        """In HTTPS_PROXY mode decrypt only LLM API hosts; tunnel everything else untouched."""
        if isinstance(data.context.client.proxy_mode, ReverseMode):
            return
        host = data.client_hello.sni or (
            data.context.server.address[0] if data.context.server.address else ""
        )
        if not is_llm_host(host, self.config):
            data.ignore_connection = True
