import pytest
from mitmproxy.http import Headers

from addons.clients import client_ip, identify_client, lowered, slug

STAINLESS_JS = {
    "x-stainless-lang": "js",
    "x-stainless-package-version": "0.60.0",
    "x-stainless-os": "Linux",
    "x-stainless-arch": "x64",
    "x-stainless-runtime": "node",
    "x-stainless-runtime-version": "v22.11.0",
}
STAINLESS_PY = {
    "x-stainless-lang": "python",
    "x-stainless-os": "Linux",
    "x-stainless-arch": "x64",
    "x-stainless-runtime": "CPython",
    "x-stainless-runtime-version": "3.11.7",
    "x-stainless-async": "false",
}
CLAUDE_CODE = {
    "user-agent": "claude-cli/2.1.197 (external, sdk-cli)",
    "x-app": "cli",
    "X-Claude-Code-Session-Id": "5f0c2a9e-1b7d-4c3e-9a61-2d8f0e7b4c11",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
    "accept-encoding": "gzip, deflate, br, zstd",
    **STAINLESS_JS,
}
ANTHROPIC_PY = {
    "user-agent": "Anthropic/Python 0.125.0",
    "anthropic-version": "2023-06-01",
    "x-stainless-package-version": "0.125.0",
    **STAINLESS_PY,
}
ANTHROPIC_JS = {
    "user-agent": "Anthropic/JS 0.60.0",
    "anthropic-version": "2023-06-01",
    **STAINLESS_JS,
}
OPENAI_PY = {
    "user-agent": "OpenAI/Python 2.54.0",
    "x-stainless-package-version": "2.54.0",
    **STAINLESS_PY,
}
OPENAI_JS = {
    "user-agent": "OpenAI/JS 5.12.0",
    **STAINLESS_JS,
    "x-stainless-package-version": "5.12.0",
}
VSCODE_COPILOT = {
    "copilot-integration-id": "vscode-chat",
    "editor-version": "vscode/1.99.0",
    "editor-plugin-version": "copilot-chat/0.26.0",
    "user-agent": "GitHubCopilotChat/0.26.0",
    "x-github-api-version": "2025-04-01",
    "openai-intent": "conversation-panel",
}
JETBRAINS_COPILOT = {
    "copilot-integration-id": "jetbrains-chat",
    "editor-version": "JetBrains-IU/2024.3.1",
    "editor-plugin-version": "copilot-intellij/1.5.29",
    "user-agent": "GithubCopilot/1.5.29",
}
CODEX = {
    "originator": "codex_cli_rs",
    "user-agent": "codex_cli_rs/0.46.0 (Ubuntu 22.4.0; x86_64) xterm-256color",
    "session_id": "0199a5f2-4c1e-7d30-9b8e-3f1a2c4d5e6f",
    "openai-beta": "responses=experimental",
}
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)
CLINE_SYSTEM = "You are Cline, a highly skilled software engineer with extensive knowledge in..."


@pytest.mark.parametrize(
    "headers, system, expected",
    [
        # Claude Code, by any of its signals, before everything else
        (
            CLAUDE_CODE,
            "x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=sdk-cli;",
            "claude-code",
        ),
        (CLAUDE_CODE, "", "claude-code"),
        ({"User-Agent": "claude-cli/2.0.14 (external, cli)"}, "", "claude-code"),
        ({"x-app": "cli", **ANTHROPIC_JS}, "", "claude-code"),
        ({"user-agent": "Bun/1.4.0", "X-Claude-Code-Session-Id": "abc"}, "", "claude-code"),
        (
            ANTHROPIC_JS,
            "x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=cli;",
            "claude-code",
        ),
        (ANTHROPIC_PY, "cc_entrypoint=sdk-py", "claude-code"),
        (VSCODE_COPILOT, "cc_entrypoint=cli", "claude-code"),
        (ANTHROPIC_JS, "You are Claude Code, Anthropic's official CLI for Claude.", "claude-code"),
        # OpenAI Codex CLI
        (CODEX, "You are a coding agent running in the Codex CLI", "codex-cli"),
        ({"originator": "codex_exec", "user-agent": "codex_exec/0.46.0"}, "", "codex-cli"),
        ({"user-agent": "codex_cli_rs/0.147.0"}, "", "codex-cli"),
        # explicit client names
        ({"X-Client-Name": "My Cool App!", **OPENAI_PY}, "", "my-cool-app"),
        ({"x-application-name": "Batch_Job.v2", **OPENAI_PY}, "", "batch_job.v2"),
        (
            {"X-Title": "LangChain", "HTTP-Referer": "https://github.com/langchain-ai"},
            "",
            "langchain",
        ),
        ({"x-client-name": "!!!", "user-agent": "curl/8.5.0"}, "", "curl"),
        # Hermes Agent by its identity
        (
            OPENAI_PY,
            "You are Hermes Agent, an intelligent AI assistant created by Nous Research.",
            "hermes",
        ),
        # GitHub Copilot
        (VSCODE_COPILOT, "You are an AI programming assistant.", "vscode-copilot"),
        (
            {**VSCODE_COPILOT, "editor-version": "", "x-vscode-machineid": "ab12"},
            "",
            "vscode-copilot",
        ),
        (JETBRAINS_COPILOT, "", "jetbrains-copilot"),
        (
            {
                "copilot-integration-id": "copilot-language-server",
                "editor-version": "Neovim/0.10.2",
            },
            "",
            "neovim-copilot",
        ),
        ({"x-onbehalf-extension-id": "github.copilot/1.2"}, "", "github-copilot"),
        ({"user-agent": "GitHubCopilotChat/0.26.0"}, "", "github-copilot"),
        # editors
        ({"editor-version": "vscode/1.99.0", "user-agent": "node"}, "", "vscode"),
        (
            {
                "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Cursor/0.48.6 "
                + CHROME[-40:]
            },
            "",
            "cursor",
        ),
        ({"user-agent": "Continue/1.0.20"}, "", "continue.dev"),
        ({"user-agent": "Zed/0.180.2 (linux; x86_64)"}, "", "zed"),
        # system-prompt fingerprints beat the SDK the app is built on
        (ANTHROPIC_JS, CLINE_SYSTEM, "cline"),
        (OPENAI_JS, "You are Roo, a highly skilled software engineer", "roo-code"),
        (OPENAI_PY, "Act as an expert software developer.\nAlways use best practices", "aider"),
        (OPENAI_JS, "You are Cascade, a powerful agentic AI coding assistant", "windsurf"),
        (OPENAI_PY, "You are OpenHands agent, a helpful AI assistant", "openhands"),
        (OPENAI_PY, "You are a general-purpose AI agent called goose", "goose"),
        (OPENAI_PY, "x" * 5000 + " you are cline", "openai-python"),  # past the fingerprint window
        # SDKs
        (ANTHROPIC_PY, "You are a helpful assistant.", "anthropic-python"),
        (ANTHROPIC_JS, "", "anthropic-node"),
        (
            {**ANTHROPIC_PY, "x-stainless-lang": "go", "user-agent": "Anthropic/Go 1.2.0"},
            "",
            "anthropic-sdk",
        ),
        (OPENAI_PY, "", "openai-python"),
        (OPENAI_JS, "", "openai-node"),
        ({"openai-organization": "org-1", "x-stainless-lang": "kotlin"}, "", "openai-sdk"),
        (
            {
                "user-agent": "google-genai-sdk/1.49.0 gl-python/3.11.7",
                "x-goog-api-client": "google-genai-sdk/1.49.0 gl-python/3.11.7",
            },
            "",
            "google-genai",
        ),
        ({"x-goog-api-client": "genai-py/0.8.3 gl-python/3.11.7"}, "", "google-genai"),
        ({"user-agent": "ollama-python/0.6.3 (x86_64 linux) Python/3.11.7"}, "", "ollama-python"),
        ({"user-agent": "ollama-js/0.5.14 (x64 linux Node.js/v22.11.0)"}, "", "ollama-js"),
        ({"user-agent": "ollama/0.6.3 (amd64 linux) Go/go1.24.1"}, "", "ollama-cli"),
        # frameworks
        ({"user-agent": "DefaultLangchainUserAgent"}, "", "langchain"),
        ({"user-agent": "langchain-openai/0.3.9", **STAINLESS_PY}, "", "langchain"),
        ({"user-agent": "llama-index/0.12.0"}, "", "llamaindex"),
        # plain HTTP clients: a bare anthropic-version header is what curl sends too
        ({"user-agent": "curl/8.5.0", "anthropic-version": "2023-06-01"}, "", "curl"),
        ({"user-agent": "python-httpx/0.28.1"}, "", "httpx"),
        ({"user-agent": "python-requests/2.32.3"}, "", "requests"),
        ({"user-agent": "Wget/1.21.4"}, "", "wget"),
        ({"user-agent": "HTTPie/3.2.4"}, "", "httpie"),
        ({"user-agent": "PostmanRuntime/7.43.0"}, "", "postman"),
        # browsers
        ({"user-agent": CHROME}, "", "browser-chrome"),
        ({"user-agent": CHROME + " Edg/131.0.2903.86"}, "", "browser-edge"),
        ({"user-agent": FIREFOX}, "", "browser-firefox"),
        ({"user-agent": SAFARI}, "", "browser-safari"),
        ({"user-agent": "Mozilla/5.0 (compatible; SomeBot)"}, "", "browser-other"),
        # a generic Name/Version user-agent, else unknown
        ({"user-agent": "Bun/1.4.0"}, "", "bun"),
        ({"user-agent": "MyTool/2.3 (linux)"}, "", "mytool"),
        ({"user-agent": "Python/3.11 aiohttp/3.9.5"}, "", "aiohttp"),
        ({"user-agent": "python/3.11"}, "", "unknown"),
        ({"user-agent": "ab/1.0"}, "", "unknown"),
        ({}, "", "unknown"),
        ({}, "You are a helpful assistant.", "unknown"),
    ],
)
def test_identify_client(headers, system, expected):
    assert identify_client(headers, system) == expected


@pytest.mark.parametrize(
    "tool_names, expected",
    [
        (["terminal", "read_file", "skill_view", "skills_list", "session_search"], "hermes"),
        (["terminal", "read_file", "write_file", "patch", "todo", "memory"], "openai-python"),
        (["skill_view", "todo"], "openai-python"),
        (["Bash", "Read", "Edit", "Task"], "openai-python"),
    ],
)
def test_identify_client_by_tools(tool_names, expected):
    assert identify_client(OPENAI_PY, "", tool_names) == expected


def test_header_names_are_case_insensitive_for_any_mapping():
    mixed = {"User-Agent": "OpenAI/Python 2.54.0", "X-Stainless-Lang": "python"}
    assert identify_client(mixed) == "openai-python"
    assert identify_client(Headers(**{"X-App": "cli"})) == "claude-code"
    assert identify_client(Headers(user_agent="curl/8.5.0")) == "curl"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("My Cool App!", "my-cool-app"),
        ("  --Leading & trailing--  ", "leading-trailing"),
        ("a" * 60, "a" * 40),
        ("Über Tool", "ber-tool"),
        ("!!!", ""),
    ],
)
def test_slug(value, expected):
    assert slug(value) == expected


@pytest.mark.parametrize(
    "headers, peer, expected",
    [
        ({}, "10.0.2.7", "10.0.2.7"),
        ({}, "::ffff:10.0.2.7", "10.0.2.7"),
        ({}, "::1", "::1"),
        ({"X-Forwarded-For": "203.0.113.9, 10.0.0.1"}, "127.0.0.1", "203.0.113.9"),
        ({"x-forwarded-for": " ::FFFF:198.51.100.4 "}, "127.0.0.1", "198.51.100.4"),
        ({"X-Real-IP": "198.51.100.7"}, "127.0.0.1", "198.51.100.7"),
        ({"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "198.51.100.7"}, "::1", "203.0.113.9"),
        ({"X-Forwarded-For": "", "X-Real-IP": "2001:db8::5"}, "::1", "2001:db8::5"),
    ],
)
def test_client_ip(headers, peer, expected):
    assert client_ip(headers, peer) == expected


def test_client_ip_reads_mitmproxy_headers():
    assert client_ip(Headers(x_forwarded_for="203.0.113.9"), "127.0.0.1") == "203.0.113.9"


def test_repeated_mitmproxy_headers_read_as_one_joined_value():
    """As mitmproxy's own `Headers.items()` gives them: the first X-Forwarded-For hop wins."""
    headers = Headers(
        [
            (b"X-Forwarded-For", b"198.51.100.7"),
            (b"x-forwarded-for", b"10.0.0.1"),
            (b"X-App", b"cli"),
        ]
    )
    assert client_ip(headers, "127.0.0.1") == "198.51.100.7"
    assert identify_client(headers) == "claude-code"


def test_headers_lowered_once_answer_as_the_headers_do():
    """A caller asking several helpers lowers the headers once; each helper takes them as
    they are, and answers as it would from the headers themselves."""
    headers = Headers(
        [(b"X-Forwarded-For", b"198.51.100.7"), (b"x-forwarded-for", b"10.0.0.1")],
        user_agent="OpenAI/Python 2.54.0",
        x_stainless_lang="python",
    )
    once = lowered(headers)
    assert once == {
        "x-forwarded-for": "198.51.100.7, 10.0.0.1",
        "user-agent": "OpenAI/Python 2.54.0",
        "x-stainless-lang": "python",
    }
    assert lowered(once) is once
    assert lowered({"User-Agent": "curl/8.5.0"}) == {"user-agent": "curl/8.5.0"}
    assert client_ip(once, "127.0.0.1") == client_ip(headers, "127.0.0.1") == "198.51.100.7"
    assert identify_client(once) == identify_client(headers) == "openai-python"


@pytest.mark.parametrize(
    "parts, expected",
    [
        (["billing: cc_version=2.1; cc_entrypoint=cli;", "p" * 30_000], "claude-code"),
        (["p" * 30_000, "You are Claude Code, Anthropic's official CLI."], "claude-code"),
        (["p" * 10, "You are Cline, a software engineer.", "p" * 9000], "cline"),
        (["p" * 4082, "you are cline"], "cline"),  # 4083 + 13 characters: the 4 KB window
        (["p" * 4083, "you are cline"], "unknown"),  # one character past it
        (["p" * 2000, "", "Hermes Agent by Nous Research", "p" * 5000], "hermes"),
        ([], "unknown"),
    ],
)
def test_a_system_prompt_given_by_its_parts_identifies_as_its_text(parts, expected):
    joined = "\n".join(parts)
    assert identify_client({}, parts) == identify_client({}, joined) == expected
