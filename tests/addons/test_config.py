from pathlib import Path

import pytest

from addons import config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mitm.toml"
    path.write_text(text)
    return path


def test_defaults_bind_loopback_and_route_to_public_apis(tmp_path):
    cfg = config.load(write(tmp_path, ""), env={})
    assert cfg.reverse == ("127.0.0.1", 8000)
    assert cfg.regular == ("127.0.0.1", 8080)
    assert cfg.upstreams["anthropic"].url == "https://api.anthropic.com"
    assert cfg.upstreams["ollama"].url == "http://127.0.0.1:11434"
    assert cfg.db_path == tmp_path / "data/proxy.db"


def test_environment_overrides_upstreams_and_db(tmp_path):
    env = {"OLLAMA_URL": "http://gpu-box:11434/", "LLM_INSPECTOR_DB": "/tmp/x.db"}
    cfg = config.load(write(tmp_path, '[upstreams]\nollama = "http://other:1"\n'), env=env)
    assert cfg.upstreams["ollama"].host == "gpu-box"
    assert cfg.upstreams["ollama"].prefix == ""
    assert cfg.db_path == Path("/tmp/x.db")


def test_base_url_path_prefix_is_kept(tmp_path):
    cfg = config.load(
        write(tmp_path, '[upstreams]\nopenai = "https://openrouter.ai/api/"\n'), env={}
    )
    up = cfg.upstreams["openai"]
    assert (up.scheme, up.host, up.port, up.prefix) == ("https", "openrouter.ai", 443, "/api")
    assert up.url == "https://openrouter.ai/api"


def test_upstream_hosts_are_always_intercepted(tmp_path):
    cfg = config.load(
        write(tmp_path, '[upstreams]\nopenai = "http://vllm.lan:8000"\n[intercept]\nhosts = []\n'),
        env={},
    )
    assert "vllm.lan" in cfg.intercept_hosts


def test_regular_listener_can_be_turned_off(tmp_path):
    cfg = config.load(write(tmp_path, '[listen]\nregular = ""\n'), env={})
    assert cfg.regular is None


@pytest.mark.parametrize(
    "text, message",
    [
        ('[listen]\nreverse = "8000"\n', "listen.reverse"),
        ('[upstreams]\nanthropic = "ftp://x"\n', "upstreams.anthropic"),
        ('[routes]\ndefault = "nowhere"\n', "routes.default"),
        ('[intercept]\nhosts = "api.openai.com"\n', "intercept.hosts"),
        ("[listen\n", "mitm.toml"),
        ('[timeouts]\nupstream_response_s = "soon"\n', "[timeouts]"),
    ],
)
def test_bad_config_is_refused_with_the_key_named(tmp_path, text, message):
    with pytest.raises(config.ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config.load(write(tmp_path, text), env={})


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(config.ConfigError, match="no such file"):
        config.load(tmp_path / "nope.toml", env={})
