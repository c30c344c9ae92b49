import importlib

import pytest
from jsonschema import Draft202012Validator

from rules import registry
from rules.base import PHASE_ORDER, Phase, RuleSpec
from rules.engine import Engine
from rules.registry import BY_ID, RULES, ConfigError, InvalidConfig, effective, validate


def test_rules_in_running_order():
    assert [r.id for r in RULES] == [
        "model_router",
        "protocol_bridge",
        "ollama_options",
        "tool_pruner",
        "context_overflow_guard",
        "loop_detector",
        "tool_failure_breaker",
        "tool_args_autofix",
        "schema_validator",
        "hallucinated_tool",
    ]
    ranks = [PHASE_ORDER.index(r.phase) for r in RULES]
    assert ranks == sorted(ranks)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_module_is_its_documentation(rule):
    module = importlib.import_module(f"rules.{rule.id}")
    assert module.RULE is rule and module.ID == rule.id
    doc = module.__doc__ or ""
    assert doc.startswith(f"{rule.id}: ")
    words = {Phase.TRANSFORM: "transform", Phase.PREFLIGHT: "pre-flight"}
    assert f"Phase: {words.get(rule.phase, 'post-flight')}" in doc
    assert rule.summary == doc.splitlines()[0]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_options_schema_is_closed_and_defaults_validate(rule):
    schema = rule.options_schema
    assert schema["additionalProperties"] is False
    Draft202012Validator.check_schema(schema)
    assert list(Draft202012Validator(schema).iter_errors(rule.defaults)) == []
    assert rule.defaults == {k: p["default"] for k, p in schema["properties"].items()}


def test_document_schema():
    schema = registry.schema()
    Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {r.id for r in RULES}
    assert validate(registry.defaults()) == []


@pytest.mark.parametrize(
    "payload, expected",
    [
        ({}, []),
        ({"loop_detector": {}}, []),
        (
            {
                "loop_detector": {"enabled": False, "max_repeats": 6},
                "model_router": {
                    "enabled": True,
                    "aliases": {"gpt-4o": "qwen2.5-coder:32b"},
                    "rules": [
                        {
                            "if": {"from_model_prefix": ["claude-haiku"], "has_tools": False},
                            "then": "llama3.2:3b",
                        },
                        {"if": {"from_client_prefix": "10.0."}, "upstream": "lmstudio"},
                    ],
                },
                "ollama_options": {
                    "enabled": True,
                    "defaults": {"num_ctx": 16384},
                    "num_ctx_max": 65536,
                },
                "context_overflow_guard": {"enabled": True, "action": "trim", "headroom_ratio": 1},
                "tool_args_autofix": {"enabled": True, "defaults": {"*": {"description": ""}}},
            },
            [],
        ),
        # the root must be an object (reference: "rules config must be a JSON object")
        ([], [("/", "rules config must be a JSON object")]),
        ("rules", [("/", "rules config must be a JSON object")]),
        # unknown rule, unknown option
        ({"loop_detektor": {}}, [("/loop_detektor", "unknown rule 'loop_detektor'")]),
        (
            {"loop_detector": {"max_repeat": 3}},
            [("/loop_detector/max_repeat", "unknown option 'max_repeat'")],
        ),
        # wrong type
        (
            {"loop_detector": {"max_repeats": "4"}},
            [("/loop_detector/max_repeats", "'4' is not of type 'integer'")],
        ),
        (
            {"loop_detector": {"enabled": "yes"}},
            [("/loop_detector/enabled", "'yes' is not of type 'boolean'")],
        ),
        ({"loop_detector": True}, [("/loop_detector", "True is not of type 'object'")]),
        (
            {"loop_detector": {"max_repeats": 4.5}},
            [("/loop_detector/max_repeats", "4.5 is not of type 'integer'")],
        ),
        # out of range
        (
            {"loop_detector": {"max_repeats": 1}},
            [("/loop_detector/max_repeats", "1 is less than the minimum of 2")],
        ),
        (
            {"context_overflow_guard": {"headroom_ratio": 0.1}},
            [
                (
                    "/context_overflow_guard/headroom_ratio",
                    "0.1 is less than or equal to the minimum of 0.1",
                )
            ],
        ),
        (
            {"tool_pruner": {"max_prune_ratio": 1.5}},
            [("/tool_pruner/max_prune_ratio", "1.5 is greater than the maximum of 1")],
        ),
        (
            {"ollama_options": {"num_ctx_max": 0}},
            [("/ollama_options/num_ctx_max", "0 is less than the minimum of 1")],
        ),
        # not one of the allowed values
        (
            {"context_overflow_guard": {"action": "shrink"}},
            [
                (
                    "/context_overflow_guard/action",
                    "'shrink' is not one of ['warn', 'block', 'bump', 'trim']",
                )
            ],
        ),
        # deep inside
        (
            {"model_router": {"rules": [{"if": {"from_model": 5}, "then": "x"}]}},
            [("/model_router/rules/0/if/from_model", "5 is not of type 'string' or 'array'")],
        ),
        (
            {"model_router": {"rules": [{"if": {"from_modle": "a"}, "then": "x"}]}},
            [("/model_router/rules/0/if/from_modle", "unknown key 'from_modle'")],
        ),
        (
            {"model_router": {"rules": [{"if": {}}]}},
            [("/model_router/rules/0", "needs 'then' or 'upstream'")],
        ),
        (
            {"model_router": {"aliases": {"a": 1}}},
            [("/model_router/aliases/a", "1 is not of type 'string'")],
        ),
        (
            {"ollama_options": {"rules": [{"if": {}}]}},
            [("/ollama_options/rules/0", "'set' is a required property")],
        ),
        # every error, sorted by path; a pointer escapes '/' and '~'
        (
            {"a/b~": {}, "loop_detector": {"window": 0, "nudge_at": -1}},
            [
                ("/a~1b~0", "unknown rule 'a/b~'"),
                ("/loop_detector/nudge_at", "-1 is less than the minimum of 0"),
                ("/loop_detector/window", "0 is less than the minimum of 1"),
            ],
        ),
    ],
)
def test_validate(payload, expected):
    assert [(e.path, e.message) for e in validate(payload)] == expected


def test_engine_refuses_an_invalid_document_and_says_why():
    with pytest.raises(InvalidConfig) as info:
        Engine({"loop_detector": {"max_repeats": 1}, "nope": {}})
    assert info.value.errors == [
        ConfigError("/loop_detector/max_repeats", "1 is less than the minimum of 2"),
        ConfigError("/nope", "unknown rule 'nope'"),
    ]
    assert [e.to_dict() for e in info.value.errors][1] == {
        "path": "/nope",
        "message": "unknown rule 'nope'",
    }
    assert "/nope: unknown rule 'nope'" in str(info.value)


def test_effective_merges_each_rule_shallowly_over_its_defaults():
    doc = {"loop_detector": {"max_repeats": 6}, "ollama_options": {"defaults": {"num_ctx": 8192}}}
    eff = effective(doc)
    assert eff["loop_detector"] == {**BY_ID["loop_detector"].defaults, "max_repeats": 6}
    assert eff["ollama_options"]["defaults"] == {"num_ctx": 8192}  # replaced whole (§13.21)
    assert eff["ollama_options"]["per_model"] == {}
    assert eff["schema_validator"] == {
        "enabled": False,
        "action": "block",
        "strict_types": True,
        "reject_unknown_fields": False,
    }
    eff["ollama_options"]["defaults"]["x"] = 1
    assert doc["ollama_options"]["defaults"] == {"num_ctx": 8192}


def _noop(request, options, ctx):
    return None


@pytest.mark.parametrize(
    "payload, expected",
    [
        (
            [
                RuleSpec(
                    "a", Phase.PREFLIGHT, {"properties": {"enabled": {"default": True}}}, _noop
                ),
                RuleSpec(
                    "b", Phase.TRANSFORM, {"properties": {"enabled": {"default": True}}}, _noop
                ),
            ],
            "rule 'b' (transform) is out of phase order",
        ),
        (
            [RuleSpec("a", Phase.TRANSFORM, {"properties": {"enabled": {"default": True}}}, _noop)]
            * 2,
            "duplicate rule id 'a'",
        ),
        (
            [
                RuleSpec(
                    "a",
                    Phase.TRANSFORM,
                    {"properties": {"enabled": {"default": True}, "x": {}}},
                    _noop,
                )
            ],
            "rule 'a': every option needs a default, enabled included",
        ),
    ],
)
def test_check_rules(payload, expected):
    with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        registry.check_rules(payload)
