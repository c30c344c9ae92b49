"""The Claude Code CLI, offline, through the real suite against the fake Anthropic upstream."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.harness import ROOT

CLAUDE = ROOT / ".tools/node_modules/.bin/claude"


def run_claude(proxy, home: Path, *args: str) -> subprocess.CompletedProcess:
    assert CLAUDE.exists(), f"{CLAUDE} is missing: `make test` installs the Claude Code CLI"
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),  # its shell snapshots and sockets: not left in /tmp
        "ANTHROPIC_BASE_URL": proxy.url,
        "ANTHROPIC_API_KEY": "sk-ant-dummy-key-for-tests-0000",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    return subprocess.run(
        [str(CLAUDE), "-p", *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_claude_code_prompt_is_answered_and_recorded(proxy, upstream, tmp_path):
    done = run_claude(proxy, tmp_path / "home", "say hello to the inspector")
    assert done.returncode == 0, done.stderr
    assert "echo: say hello to the inspector" in done.stdout

    rows = proxy.wait_rows(where="dialect = 'anthropic' and state != 'pending'")
    main = [r for r in rows if r["prompt_preview"] and "say hello" in r["prompt_preview"]]
    assert main, rows
    row = main[-1]
    assert row["client_app"] == "claude-code"
    assert row["is_stream"] == 1 and row["state"] == "complete" and row["status"] == 200
    assert row["session_id"] and row["conversation_id"]
    assert row["output_tokens"] and row["ttft_ms"] is not None
    assert json.loads(row["response_headers"]).get("content-encoding") in ("zstd", "br", "gzip")
    assert "sk-ant-dummy" not in row["request_headers"]
    # Claude Code hides a broken stream by retrying without streaming: make sure it did not.
    posts = [r for r in upstream.requests if r.path == "/v1/messages"]
    assert all(r.json().get("stream") for r in posts), "a non-streaming retry means a broken stream"


def test_claude_code_tool_loop_is_threaded(proxy, upstream, tmp_path):
    done = run_claude(proxy, tmp_path / "home", "use tool Bash now", "--allowedTools", "Bash")
    assert done.returncode == 0, done.stderr
    assert "tool said: fake-tool-ran" in done.stdout

    rows = proxy.wait_rows(2, where="dialect = 'anthropic' and tools_offered like '%Bash%'")
    first, second = rows[-2], rows[-1]
    assert json.loads(first["tool_calls"])[0]["name"] == "Bash"
    assert first["stop_reason"] == "tool_use"
    assert second["conversation_id"] == first["conversation_id"]
    assert second["turn_index"] == first["turn_index"] + 1
    assert second["session_id"] == first["session_id"]
