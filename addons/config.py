"""The suite's configuration: `mitm.toml`, with environment overrides, validated once at load."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mitmproxy.net.http.url import hostport

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = ROOT / "mitm.toml"

UPSTREAM_ENV = {
    "anthropic": "ANTHROPIC_URL",
    "openai": "OPENAI_URL",
    "ollama": "OLLAMA_URL",
    "gemini": "GEMINI_URL",
}

DEFAULT_UPSTREAMS = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com",
    "ollama": "http://127.0.0.1:11434",
    "gemini": "https://generativelanguage.googleapis.com",
}

DEFAULT_INTERCEPT = (
    "api.anthropic.com",
    "api.openai.com",
    "generativelanguage.googleapis.com",
    "openrouter.ai",
    "api.githubcopilot.com",
    "api.individual.githubcopilot.com",
    "api.business.githubcopilot.com",
    "api.mistral.ai",
    "api.groq.com",
    "api.deepseek.com",
    "api.together.xyz",
    "api.fireworks.ai",
    "api.x.ai",
)


class ConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    scheme: str
    host: str
    port: int
    prefix: str  # path prefix of the base URL, "" or "/something" without a trailing slash

    @classmethod
    def parse(cls, name: str, url: str) -> Upstream:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"upstreams.{name}: {url!r} is not an http(s) URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as e:
            raise ConfigError(f"upstreams.{name}: {url!r}: {e}") from e
        return cls(name, parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    def __post_init__(self) -> None:
        # Worked out once: the router compares every request with them.
        default = 443 if self.scheme == "https" else 80
        port = "" if self.port == default else f":{self.port}"
        netloc = (f"[{self.host}]" if ":" in self.host else self.host) + port
        object.__setattr__(self, "url", f"{self.scheme}://{netloc}{self.prefix}")
        object.__setattr__(self, "hostport", hostport(self.scheme, self.host, self.port))

    url: str = field(init=False, compare=False)  # the base URL
    hostport: str = field(init=False, compare=False)  # the Host header mitmproxy would write


@dataclass(frozen=True, slots=True)
class Config:
    reverse: tuple[str, int] | None
    regular: tuple[str, int] | None
    upstreams: dict[str, Upstream]
    default_route: str
    intercept_hosts: frozenset[str]
    db_path: Path
    busy_timeout_ms: int
    max_body_bytes: int
    upstream_response_s: float
    stream_idle_s: float
    quiet: bool
    rules_file: Path | None = None
    source: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_listen(key: str, value: Any) -> tuple[str, int] | None:
    if value in (None, "", False):
        return None
    if not isinstance(value, str):
        raise ConfigError(f'listen.{key}: expected "HOST:PORT", got {value!r}')
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f'listen.{key}: expected "HOST:PORT", got {value!r}')
    return (host.strip("[]") or "127.0.0.1", int(port))


def load(path: Path | None = None, env: Mapping[str, str] = os.environ) -> Config:
    """Read the TOML file (missing file = all defaults) and apply the environment on top."""
    path = path or DEFAULT_PATH
    doc: dict[str, Any] = {}
    if path.exists():
        try:
            doc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: {e}") from e
    elif path != DEFAULT_PATH:
        raise ConfigError(f"{path}: no such file")

    def section(name: str) -> dict[str, Any]:
        value = doc.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table")
        return value

    listen = section("listen")
    urls = DEFAULT_UPSTREAMS | section("upstreams")
    for name, var in UPSTREAM_ENV.items():
        if env.get(var):
            urls[name] = env[var]
    upstreams = {name: Upstream.parse(name, str(url)) for name, url in urls.items()}

    default_route = section("routes").get("default", "anthropic")
    if default_route not in upstreams:
        raise ConfigError(f"routes.default: {default_route!r} is not one of {sorted(upstreams)}")

    hosts = section("intercept").get("hosts", list(DEFAULT_INTERCEPT))
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise ConfigError("intercept.hosts must be a list of host names")
    # Hosts of configured upstreams are LLM APIs too, whatever the list says.
    intercept = {h.lower() for h in hosts} | {u.host.lower() for u in upstreams.values()}

    base = path.parent if path.exists() else ROOT
    db = env.get("LLM_INSPECTOR_DB") or section("storage").get("db", "data/proxy.db")
    db_path = Path(db) if Path(db).is_absolute() else base / db

    rules = section("rules").get("file", "rules.json")
    rules_file = None if not rules else (Path(rules) if Path(rules).is_absolute() else base / rules)

    capture, timeouts = section("capture"), section("timeouts")
    try:
        busy_timeout_ms = int(section("storage").get("busy_timeout_ms", 5000))
        max_body = int(capture.get("max_body_bytes", 16 * 1024 * 1024))
        response_s = float(timeouts.get("upstream_response_s", 600))
        idle_s = float(timeouts.get("stream_idle_s", 300))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"[storage]/[capture]/[timeouts]: {e}") from e
    if max_body < 1024 or response_s <= 0 or idle_s <= 0:
        raise ConfigError("max_body_bytes must be >= 1024 and timeouts > 0")

    return Config(
        reverse=parse_listen("reverse", listen.get("reverse", "127.0.0.1:8000")),
        regular=parse_listen("regular", listen.get("regular", "127.0.0.1:8080")),
        upstreams=upstreams,
        default_route=default_route,
        intercept_hosts=frozenset(intercept),
        db_path=db_path,
        busy_timeout_ms=busy_timeout_ms,
        max_body_bytes=max_body,
        upstream_response_s=response_s,
        stream_idle_s=idle_s,
        quiet=bool(section("console").get("quiet", False)),
        rules_file=rules_file,
        extra={"ui": section("ui")},  # read by addons/ui.py and the rules API's token check
        source=path if path.exists() else None,
    )
