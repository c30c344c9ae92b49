"""The suite's shared runtime: options, configuration, and the recorder process.

The other addons hold a reference to one Suite and read what they need from it, so that the
configuration is loaded and validated exactly once, in `configure`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from mitmproxy import ctx, exceptions
from mitmproxy.addonmanager import Loader

from addons import config as configuration
from addons import replies
from addons.threads import SharedThreader
from addons.worker import Worker

log = logging.getLogger(__name__)

DEFAULT_CONFDIR = "~/.mitmproxy"


class Suite:
    def __init__(self) -> None:
        try:
            self.config: configuration.Config = configuration.load()
        except configuration.ConfigError:
            self.config = None  # type: ignore[assignment]  # configure() reports it properly
        self.worker: Worker | None = None
        self.capture = None  # set by main.py
        self.gate = None  # set by main.py
        self.threader = SharedThreader()
        self.started_at = time.time()

    @property
    def quiet(self) -> bool:
        return ctx.options.inspector_quiet or self.config.quiet

    @property
    def db_path(self) -> Path:
        return Path(ctx.options.inspector_db) if ctx.options.inspector_db else self.config.db_path

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "inspector_config",
            str,
            "",
            "Path of the suite's TOML configuration (default: mitm.toml beside addons/).",
        )
        loader.add_option(
            "inspector_db",
            str,
            "",
            "SQLite file to record into (default: storage.db in the configuration).",
        )
        loader.add_option(
            "inspector_quiet",
            bool,
            False,
            "Do not print the live log of LLM exchanges.",
        )

    def configure(self, updated: set[str]) -> None:
        if "inspector_config" in updated:
            path = Path(ctx.options.inspector_config) if ctx.options.inspector_config else None
            try:
                self.config = configuration.load(path)
            except configuration.ConfigError as e:
                raise exceptions.OptionsError(f"inspector_config: {e}") from e
            self.apply_mitmproxy_options()

    def apply_mitmproxy_options(self) -> None:
        """Listeners and proxy behaviour from mitm.toml, unless given on the command line."""
        cfg = self.config
        updates: dict[str, object] = {
            # Connect upstream only once the request is routed, so that a failure can be
            # answered in the client's dialect (eager mode closes the client connection).
            "connection_strategy": "lazy",
            # Bodies over the limit stream through instead of being buffered in memory.
            "stream_large_bodies": str(cfg.max_body_bytes),
        }
        if list(ctx.options.mode) == ["regular"]:
            modes = []
            if cfg.reverse:
                host, port = cfg.reverse
                default = cfg.upstreams[cfg.default_route]
                modes.append(f"reverse:{default.url}@{format_host(host)}:{port}")
            if cfg.regular:
                host, port = cfg.regular
                modes.append(f"regular@{format_host(host)}:{port}")
            updates["mode"] = modes or ["regular@127.0.0.1:8080"]
        if ctx.options.confdir == DEFAULT_CONFDIR:
            updates["confdir"] = str(configuration.ROOT / "certs")
        if "flow_detail" in ctx.options and not self.quiet:
            updates["flow_detail"] = 0  # our console prints the exchanges instead
        ctx.options.update(**updates)

    def running(self) -> None:
        if self.worker is None:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self.worker = Worker(
                self.db_path,
                busy_timeout_ms=self.config.busy_timeout_ms,
                quiet=self.quiet,
                max_keep=self.config.max_body_bytes,
            )
            self.worker.start()
        replies.install()
        log.info("recording LLM exchanges to %s", self.db_path)

    def assign_thread(self, headers, request):
        return self.threader.assign(headers, request)

    def done(self) -> None:
        if self.worker is not None:
            self.worker.stop()


def format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
