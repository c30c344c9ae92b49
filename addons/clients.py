"""Which client application sent a request, and from which address.

`identify_client` walks an ordered list of signals and returns the first label that matches
(AI_Proxy reference §4, with corrections from the field notes):

1. `claude-code`: user-agent `claude-cli/` (or containing `claude-code`/`claudecode`), header
   `x-app: cli` or `x-claude-code-session-id`, or a system prompt carrying `cc_entrypoint=` (any
   entry point: `cli`, `sdk-cli`, `sdk-py`, ...) or Claude Code's own opening line.
   `codex-cli`: header `originator: codex_*` or a user-agent starting with `codex`.
2. An explicit name: `x-client-name`, `x-client-app`, `x-app-id`, `x-application-name`, then the
   OpenRouter-style `x-title`, as a slug.
3. Hermes Agent: three or more of its distinctive tool names, or its identity ("hermes agent",
   "nous research") in the system prompt's first 4 KB.
4. GitHub Copilot: `vscode-copilot`, `jetbrains-copilot`, `neovim-copilot`, `github-copilot`.
5. Editors by header or user-agent: `vscode`, `cursor`, `continue.dev`, `cline`, `aider`, `zed`.
6. System-prompt fingerprints (`you are cline` -> `cline`, ...) in the prompt's first 4 KB.
7. Frameworks that name themselves in the user-agent (`langchain`, `llamaindex`), then SDKs by
   their headers: Stainless-built `anthropic-python|node|sdk` and `openai-python|node|sdk`
   (`x-stainless-lang`, `anthropic-version`, `OpenAI/Python` user-agents), `google-genai`
   (`x-goog-api-client`).
8. Other user-agent substrings: `ollama-python`, `ollama-js`, `ollama-cli`, `lm-studio`, `httpx`,
   `requests`, `curl`, `wget`, ...
9. Browsers: `browser-firefox`, `browser-edge`, `browser-chrome`, `browser-safari`, `browser-other`.
10. A generic `Name/1.2` user-agent: the slug of its name.
11. `unknown`.

Header names are matched case-insensitively for any mapping. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

UNKNOWN = "unknown"

_EXPLICIT_NAME_HEADERS = (
    "x-client-name",
    "x-client-app",
    "x-app-id",
    "x-application-name",
    "x-title",
)

# Tools only Hermes Agent (Nous Research) offers together; generic names such as `read_file`,
# `terminal` or `todo` are left out so that other agents do not reach the threshold.
_HERMES_TOOLS = frozenset(
    {
        "skill_view",
        "skills_list",
        "skill_manage",
        "session_search",
        "delegate_task",
        "vision_analyze",
        "text_to_speech",
        "image_generate",
        "mixture_of_agents",
        "cronjob",
        "clarify",
        "send_message",
        "web_extract",
        "browser_navigate",
        "browser_snapshot",
        "execute_code",
    }
)
_HERMES_MIN_TOOLS = 3

_SYSTEM_FINGERPRINTS = (
    ("you are hermes agent", "hermes"),
    ("security reviewer for an ai coding agent", "hermes-safety"),
    ("extract significant facts from text", "hindsight-extract"),
    ("you are a memory consolidation system", "hindsight-consolidate"),
    ("generate a short, descriptive title", "title-generator"),
    ("you are pair programming with a user", "cursor"),
    ("you are cline", "cline"),
    ("you are roo,", "roo-code"),
    ("you are kilo code", "kilo-code"),
    ("you are cascade", "windsurf"),
    ("codeium engineering team", "windsurf"),
    ("you are bolt", "bolt.new"),
    ("search/replace block", "aider"),
    ("act as an expert software developer", "aider"),
    ("you are openhands", "openhands"),
    ("ai agent called goose", "goose"),
    ("running in the codex cli", "codex-cli"),
    ("you are amazon q", "amazon-q"),
    ("you are github copilot", "github-copilot"),
)

# Checked in order against the lower-cased user-agent.
_UA_SUBSTRINGS = (
    ("openai-python", "openai-python"),
    ("openai/", "openai-sdk"),
    ("anthropic-python", "anthropic-python"),
    ("anthropic/", "anthropic-sdk"),
    ("ollama-python", "ollama-python"),
    ("ollama-js", "ollama-js"),
    ("ollama", "ollama-cli"),
    ("lm-studio", "lm-studio"),
    ("lmstudio", "lm-studio"),
    ("axios/", "axios"),
    ("python-httpx", "httpx"),
    ("httpx/", "httpx"),
    ("python-requests", "requests"),
    ("node-fetch", "node-fetch"),
    ("aiohttp", "aiohttp"),
    ("curl/", "curl"),
    ("wget/", "wget"),
    ("postman", "postman"),
    ("insomnia", "insomnia"),
    ("httpie", "httpie"),
)

_FRAMEWORK_UA = (
    ("langchain", "langchain"),
    ("llamaindex", "llamaindex"),
    ("llama-index", "llamaindex"),
    ("llama_index", "llamaindex"),
)

_GENERIC_UA = re.compile(r"([a-z][a-z0-9._-]*)/v?\d")
_GENERIC_UA_EXCLUDED = frozenset(
    {"python", "client", "http", "app", "test", "mozilla", "user-agent"}
)
_FINGERPRINT_WINDOW = 4096
_CLAUDE_CODE_LINE = "You are Claude Code, Anthropic's official CLI"
_SLUG_JUNK = re.compile(r"[^a-z0-9._-]+")
_NODE_LANGS = frozenset({"js", "node", "typescript", "deno", "bun"})
_IPV4_MAPPED = "::ffff:"


def identify_client(
    headers: Mapping[str, str], system: str | Sequence[str] = "", tool_names: Sequence[str] = ()
) -> str:
    """The client application's label (see the module docstring for the order of signals).

    `system` is the system prompt, whole or as its blocks' texts (`Request.system_parts`): a
    30 KB prompt is then searched where it lies instead of first being copied into one text.
    """
    h = lowered(headers)
    parts = (system,) if isinstance(system, str) else system
    ua = h.get("user-agent", "").lower()

    if (
        "claude-cli/" in ua
        or "claude-code" in ua
        or "claudecode" in ua
        or h.get("x-app", "").strip().lower() == "cli"
        or "x-claude-code-session-id" in h
        or any("cc_entrypoint=" in p or _CLAUDE_CODE_LINE in p for p in parts)
    ):
        return "claude-code"
    if h.get("originator", "").lower().startswith("codex") or ua.startswith("codex"):
        return "codex-cli"

    for name in _EXPLICIT_NAME_HEADERS:
        value = h.get(name)
        if value and (label := slug(value)):
            return label

    # Identity statements open a system prompt; searching all of a 30 KB prompt for every
    # fingerprint would cost a hundred microseconds on each request that gets this far.
    sys_low = _head(parts, _FINGERPRINT_WINDOW).lower()
    if (tool_names and _count_hermes_tools(tool_names) >= _HERMES_MIN_TOOLS) or (
        "hermes agent" in sys_low or "nous research" in sys_low
    ):
        return "hermes"

    if label := _copilot(h, ua):
        return label
    if label := _editor(h, ua):
        return label

    if sys_low:
        for needle, label in _SYSTEM_FINGERPRINTS:
            if needle in sys_low:
                return label

    for needle, label in _FRAMEWORK_UA:
        if needle in ua:
            return label
    if label := _sdk(h, ua):
        return label

    for needle, label in _UA_SUBSTRINGS:
        if needle in ua:
            return label

    if label := _browser(ua):
        return label

    if m := _GENERIC_UA.match(ua):
        name = slug(m.group(1))
        if len(name) >= 3 and name not in _GENERIC_UA_EXCLUDED:
            return name
    return UNKNOWN


def client_ip(headers: Mapping[str, str], peer_ip: str) -> str:
    """The originating client's address: first X-Forwarded-For entry, else X-Real-IP, else the
    socket peer; an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is given as plain IPv4."""
    h = lowered(headers)
    candidate = h.get("x-forwarded-for", "").split(",", 1)[0].strip()
    if not candidate:
        candidate = h.get("x-real-ip", "").strip()
    if not candidate:
        candidate = peer_ip.strip()
    if candidate[:7].lower() == _IPV4_MAPPED and "." in candidate:
        return candidate[7:]
    return candidate


def slug(value: str) -> str:
    """Lower-case, runs of anything but `[a-z0-9._-]` as one `-`, at most 40 characters."""
    return _SLUG_JUNK.sub("-", value.lower())[:40].strip("-")


def _head(parts: Sequence[str], limit: int) -> str:
    """The first `limit` characters of `"\n".join(parts)`, joining no more than they need."""
    head: list[str] = []
    size = 0
    for part in parts:
        if size >= limit:
            break
        head.append(part[: limit - size])
        size += len(part) + 1
    return "\n".join(head)[:limit]


class Lowered(dict):
    """Header names lower-cased (`lowered`, `credentials.scrub_headers`): the helpers here take
    one as it is."""


def lowered(headers: Mapping[str, str]) -> Lowered:
    """Lower-cased names; repeated headers joined with ", " (as mitmproxy's `Headers` does).
    A caller that asks more than one helper here about the same headers lowers them once."""
    if type(headers) is Lowered:
        return headers
    fields = getattr(headers, "fields", None)
    if fields is None:
        return Lowered((k.lower(), v) for k, v in headers.items())
    # mitmproxy's Headers: read its raw fields once (its items() looks every name up again).
    out = Lowered()
    for raw_name, raw_value in fields:
        name = raw_name.decode("utf-8", "surrogateescape").lower()
        value = raw_value.decode("utf-8", "surrogateescape")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _count_hermes_tools(tool_names: Iterable[str]) -> int:
    return len(_HERMES_TOOLS.intersection(tool_names))


def _copilot(h: dict[str, str], ua: str) -> str | None:
    on_behalf = h.get("x-onbehalf-extension-id", "").lower()
    if not (
        "copilot-integration-id" in h or "github.copilot" in on_behalf or "githubcopilotchat" in ua
    ):
        return None
    editor = h.get("editor-version", "").lower()
    if (
        "vscode" in editor
        or "x-vscode-user-agent-library-version" in h
        or "x-vscode-machineid" in h
        or "github.copilot-chat" in on_behalf
    ):
        return "vscode-copilot"
    if "jetbrains" in editor or "intellij" in editor:
        return "jetbrains-copilot"
    if "neovim" in editor or "nvim" in editor:
        return "neovim-copilot"
    return "github-copilot"


def _editor(h: dict[str, str], ua: str) -> str | None:
    editor = h.get("editor-version", "").lower()
    if (
        "x-vscode-user-agent-library-version" in h
        or "x-vscode-machineid" in h
        or "vscode" in editor
        or "visual studio code" in ua
    ):
        return "vscode"
    if "cursor" in ua or "cursor" in editor:
        return "cursor"
    if "continue" in ua:
        return "continue.dev"
    for name in ("cline", "aider", "zed"):
        if name in ua:
            return name
    return None


def _sdk(h: dict[str, str], ua: str) -> str | None:
    lang = h.get("x-stainless-lang", "").lower()
    package = h.get("x-stainless-package-version", "").lower()
    if "anthropic-version" in h or "anthropic" in package or ua.startswith("anthropic/"):
        vendor = "anthropic"
    elif "openai-organization" in h or "openai" in package or ua.startswith("openai/"):
        vendor = "openai"
    else:
        goog = h.get("x-goog-api-client", "").lower()
        if "genai-py" in goog or "google-genai-sdk" in goog or "google-genai-sdk" in ua:
            return "google-genai"
        return None
    if lang == "python" or ua.startswith(f"{vendor}/python"):
        return f"{vendor}-python"
    if lang in _NODE_LANGS or ua.startswith(f"{vendor}/js"):
        return f"{vendor}-node"
    if lang or ua.startswith(f"{vendor}/"):
        return f"{vendor}-sdk"
    # A bare `anthropic-version` header is what curl and hand-written clients send too: let the
    # user-agent steps decide.
    return None


def _browser(ua: str) -> str | None:
    if "firefox/" in ua and "mozilla" in ua:
        return "browser-firefox"
    if "edg/" in ua:
        return "browser-edge"
    if "chrome/" in ua and "safari/" in ua:
        return "browser-chrome"
    if "safari/" in ua and "version/" in ua:
        return "browser-safari"
    if ua.startswith("mozilla/"):
        return "browser-other"
    return None
