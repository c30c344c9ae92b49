"""`static/js/rules-tools.js`, run in the browser: the editor's parser, its validator (which must
say what the proxy says) and its diff."""

from __future__ import annotations

import json

import pytest

from rules.registry import schema, validate
from tests.ui.server import make_datasette, serve
from tests.ui.wiring import backend_plugins


@pytest.fixture(scope="module")
def module_url():
    with backend_plugins(real=False), serve(make_datasette(None)) as url:
        yield url + "-/inspector/static/js/rules-tools.js"


@pytest.fixture
def js(page, module_url):
    page.goto(module_url)

    def call(function: str, *args):
        return page.evaluate(
            "async ([url, fn, args]) => (await import(url))[fn](...args)",
            [module_url, function, list(args)],
        )

    return call


DOCUMENTS = [
    {},
    {"loop_detector": {"max_repeats": 5, "action": "warn"}},
    [],
    "rules",
    {"nope": {}, "loop_detector": {"colour": "red", "max_repeats": 1}},
    {"loop_detector": {"enabled": "yes", "window": 2.5, "action": "explode"}},
    {"loop_detector": {"max_repeats": 4.0}},
    {"loop_detector": []},
    {"model_router": {"aliases": {"a": 1}, "rules": [{"if": {}}]}},
    {"model_router": {"rules": [{"if": {"from_model": 3}, "then": "x"}]}},
    {"model_router": {"rules": [{"if": {"from_model": []}, "then": "x"}]}},
    {"model_router": {"rules": [{"if": {"prompt_chars_lt": -1, "size": 1}, "upstream": ""}]}},
    {"model_router": {"rules": "first"}},
    {"ollama_options": {"defaults": {"num_ctx": "big"}, "per_model": {"m": {"x": 1}}}},
    {"context_overflow_guard": {"headroom_ratio": 2, "chars_per_token": 0, "action": "bump"}},
    {"tool_pruner": {"max_prune_ratio": -0.5, "always_keep": ["Read", 3]}},
    {"tool_args_autofix": {"defaults": {"Bash": {"timeout": 1}}, "action": "loud"}},
]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: json.dumps(d)[:60])
def test_the_editor_says_what_the_proxy_says(js, document):
    expected = [{"path": e.path, "message": e.message} for e in validate(document)]
    assert js("validate", schema(), document) == expected


def test_every_pointer_has_its_line_and_syntax_errors_say_where(js, page, module_url):
    text = json.dumps(
        {"loop_detector": {"max_repeats": 1}, "a/b": {"x~y": [1, {"z": True}]}}, indent=2
    )
    lines = page.evaluate(
        "async ([url, text]) => [...(await import(url)).parse(text).lines]", [module_url, text]
    )
    assert dict(lines) == {
        "/": 1,
        "/loop_detector": 2,
        "/loop_detector/max_repeats": 3,
        "/a~1b": 5,
        "/a~1b/x~0y": 6,
        "/a~1b/x~0y/0": 7,
        "/a~1b/x~0y/1": 8,
        "/a~1b/x~0y/1/z": 9,
    }
    for text, line, column, message in [
        ('{\n  "a": 1,\n}', 3, 1, "trailing comma"),
        ('{\n  "a": 1\n  "b": 2\n}', 3, 3, "expected ',' or '}'"),
        ("{\n  'a': 1\n}", 2, 3, "property name in double quotes"),
        ('{"a": tru}', 1, 7, "unexpected 't'"),
        ('{"a": 1} x', 1, 10, "after the document"),
        ('{"a": "b', 1, 7, "unterminated string"),
        ("", 1, 1, "a value is missing"),
    ]:
        error = page.evaluate(
            """async ([url, text]) => {
                try { (await import(url)).parse(text); return null; }
                catch (e) { return [e.line, e.column, e.message]; }
            }""",
            [module_url, text],
        )
        assert error is not None and error[:2] == [line, column] and message in error[2], (
            text,
            error,
        )
    duplicates = page.evaluate(
        "async ([url, text]) => (await import(url)).parse(text).duplicates",
        [module_url, '{"a": {"b": 1,\n "b": 2}}'],
    )
    assert duplicates == [{"path": "/a/b", "line": 2, "key": "b"}]


def test_line_diff_and_hunks(js):
    old = "\n".join(
        ["{", '  "a": 1,', '  "b": 2,'] + [f'  "k{i}": {i},' for i in range(10)] + ["}"]
    )
    new = old.replace('"a": 1', '"a": 5').replace('  "k9": 9,', '  "k9": 9,\n  "z": 0,')
    ops = js("lineDiff", old, new)
    assert [(o["op"], o["text"]) for o in ops if o["op"] != " "] == [
        ("-", '  "a": 1,'),
        ("+", '  "a": 5,'),
        ("+", '  "z": 0,'),
    ]
    assert len([o for o in ops if o["op"] in " -"]) == len(old.split("\n"))
    shown = js("hunks", ops, 1)
    assert [o["op"] for o in shown] == [" ", "-", "+", " ", "…", " ", "+", " "]
    assert shown[4]["count"] == 9  # k0..k8
    assert js("lineDiff", "x", "x") == [{"op": " ", "text": "x", "a": 1, "b": 1}]
