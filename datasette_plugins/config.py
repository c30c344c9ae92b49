"""The plugin's settings, from Datasette's plugin configuration (`plugins.llm-inspector`).

```json
{"plugins": {"llm-inspector": {
    "redact": true, "redact_ipv4_prefix": 24, "redact_ipv6_prefix": 64,
    "token": {"$env": "LLM_INSPECTOR_UI_TOKEN"}, "database": "proxy",
    "suite_url": "http://127.0.0.1:8000"}}}
```

`suite_url` is where the proxy suite answers `/__proxy/api/rules` (its reverse listener); the
suite sets it when it starts Datasette, so that the Rules page also works on Datasette's port.

The token may also come from the environment variable `LLM_INSPECTOR_UI_TOKEN` alone, which is
how the suite passes it (so it never lands in a metadata file that `/-/metadata.json` shows).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datasette_plugins.redaction import Policy

PLUGIN = "llm-inspector"
TOKEN_ENV = "LLM_INSPECTOR_UI_TOKEN"


@dataclass(frozen=True, slots=True)
class InspectorConfig:
    redact: bool = True
    ipv4_prefix: int = 24
    ipv6_prefix: int = 64
    token: str | None = None
    database: str | None = None  # default: the first file database Datasette serves
    suite_url: str | None = None  # the proxy suite's reverse listener, for the rules API

    @property
    def policy(self) -> Policy:
        return Policy(self.redact, self.ipv4_prefix, self.ipv6_prefix)

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any] | None, env: Mapping[str, str] = os.environ
    ) -> InspectorConfig:
        """Validated settings; ValueError names the bad key."""
        raw = raw or {}
        redact = raw.get("redact", True)
        if not isinstance(redact, bool):
            raise ValueError(f"{PLUGIN}.redact must be true or false, got {redact!r}")
        v4 = _prefix(raw, "redact_ipv4_prefix", 24, 32)
        v6 = _prefix(raw, "redact_ipv6_prefix", 64, 128)
        token = env.get(TOKEN_ENV) or raw.get("token") or None
        if token is not None and not isinstance(token, str):
            raise ValueError(f"{PLUGIN}.token must be a string")
        database = raw.get("database") or None
        if database is not None and not isinstance(database, str):
            raise ValueError(f"{PLUGIN}.database must be a database name")
        suite_url = raw.get("suite_url") or None
        if suite_url is not None and (
            not isinstance(suite_url, str) or not suite_url.startswith(("http://", "https://"))
        ):
            raise ValueError(f"{PLUGIN}.suite_url must be an http(s) URL, got {suite_url!r}")
        return cls(redact, v4, v6, token, database, suite_url)

    @classmethod
    def from_datasette(cls, datasette) -> InspectorConfig:
        return cls.from_dict(datasette.plugin_config(PLUGIN))


def _prefix(raw: Mapping[str, Any], key: str, default: int, bits: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= bits:
        raise ValueError(f"{PLUGIN}.{key} must be an integer from 0 to {bits}, got {value!r}")
    return value


def metadata(
    database: str,
    *,
    redact: bool = True,
    ipv4_prefix: int = 24,
    ipv6_prefix: int = 64,
    title: str = "llm-inspector",
    suite_url: str | None = None,
) -> dict[str, Any]:
    """The Datasette metadata the suite serves its database with: plugin settings and the
    canned queries. The token is not in it (see the module docstring)."""
    from datasette_plugins.queries import CANNED_QUERIES

    settings = {
        "redact": redact,
        "redact_ipv4_prefix": ipv4_prefix,
        "redact_ipv6_prefix": ipv6_prefix,
        "database": database,
    }
    if suite_url:
        settings["suite_url"] = suite_url
    # Validate here too, so that the suite refuses bad [ui] values before starting Datasette.
    InspectorConfig.from_dict(settings, env={})
    return {
        "title": title,
        "plugins": {PLUGIN: settings},
        "databases": {
            database: {
                "queries": {
                    name: {
                        "title": query["title"],
                        "description": query["description"],
                        "sql": query["sql"],
                    }
                    for name, query in CANNED_QUERIES.items()
                }
            }
        },
    }
