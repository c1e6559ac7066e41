"""Config validation: the shipped defaults are complete; every error names file, key and problem."""
from __future__ import annotations

import pytest

from pipeline.cli import main
from pipeline.config import ConfigError, load_config
from tests.conftest import ROOT, write_config

FEED = "feeds:\n  - name: a\n    url: https://example.org/feed.xml\n"


def test_shipped_config_covers_the_story(default_config):
    assert len(default_config.feeds) >= 10
    assert set(default_config.topics) == {"ceasefire", "peacekeeping", "coalition"}
    assert len(default_config.actors) >= 30
    aliases = {a for actor in default_config.actors for a in actor.aliases}
    assert {"Kyiv", "Moscow", "Kremlin", "the Duma"} - aliases == {"the Duma"}  # "Duma" covers "the Duma"
    assert {"european-commission", "nato", "russian-state-duma"} <= {a.id for a in default_config.actors}


def test_only_feeds_yaml_is_required(tmp_path):
    cfg = load_config(write_config(tmp_path / "c", FEED))
    assert [f.name for f in cfg.feeds] == ["a"]
    assert "peacekeeping" in cfg.topics and cfg.actors


@pytest.mark.parametrize("feeds_yaml, key, problem", [
    ("feeds:\n  - name: a\n    url: https://x.org/f\n    colour: red\n", "feeds[0].colour", "unknown key"),
    ("feeds:\n  - name: a\n    url: file:///etc/passwd\n", "feeds[0].url", "scheme 'file' is not allowed"),
    ("feeds:\n  - name: a\n    url: /tmp/feed.xml\n", "feeds[0].url", "scheme '(none)' is not allowed"),
    ("feeds:\n  - {name: a, url: 'https://x.org/1'}\n  - {name: a, url: 'https://x.org/2'}\n", "feeds",
     "duplicate feed name 'a'"),
    ("feeds:\n  - name: a\n", "feeds[0].url", "required key is missing"),
    ("feeds: [\n", "line", "invalid YAML"),
])
def test_bad_feeds_yaml(tmp_path, feeds_yaml, key, problem):
    folder = write_config(tmp_path / "c", feeds_yaml)
    with pytest.raises(ConfigError) as err:
        load_config(folder)
    assert err.value.file == str(folder / "feeds.yaml")
    assert err.value.key.startswith(key)
    assert problem in err.value.problem


def test_channel_env_vars(tmp_path):
    alerts = "channels:\n  - name: team\n    url: json://${HOOK_HOST}/x\n"
    folder = write_config(tmp_path / "c", FEED, alerts)
    with pytest.raises(ConfigError, match=r"channels\[0\]\.url: environment variable HOOK_HOST is not set"):
        load_config(folder, environ={})
    cfg = load_config(folder, environ={"HOOK_HOST": "127.0.0.1:9"})
    assert cfg.channels[0].url == "json://127.0.0.1:9/x"


def test_optional_channel_is_skipped_when_unset(tmp_path):
    alerts = "channels:\n  - name: team\n    url: ${NOPE}\n    optional: true\n"
    assert load_config(write_config(tmp_path / "c", FEED, alerts), environ={}).channels == ()


def test_unknown_alert_type(tmp_path):
    alerts = "channels:\n  - name: team\n    url: json://h/x\n    alert_types: [new_actor, gossip]\n"
    with pytest.raises(ConfigError, match=r"alert_types: unknown alert type 'gossip'"):
        load_config(write_config(tmp_path / "c", FEED, alerts))


def test_actor_alias_owned_twice(tmp_path):
    folder = write_config(tmp_path / "c", FEED)
    (folder / "actors.yaml").write_text(
        "actors:\n  - {id: a, name: A, aliases: [X]}\n  - {id: b, name: B, aliases: [X]}\n")
    with pytest.raises(ConfigError, match="alias 'X' belongs to both 'a' and 'b'"):
        load_config(folder)


def test_cli_bad_config_exits_nonzero_and_writes_nothing(tmp_path, capsys):
    folder = write_config(tmp_path / "c", "feeds:\n  - name: a\n    url: file:///etc/passwd\n")
    db = tmp_path / "out.duckdb"
    assert main(["run", "--config", str(folder), "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "feeds.yaml: feeds[0].url: scheme 'file' is not allowed" in err
    assert not db.exists()


def test_default_config_folder_is_the_repository_config():
    assert (ROOT / "config" / "feeds.yaml").is_file()


def test_every_setting_is_documented_in_the_readme():
    from pipeline.settings import ENV_VARS

    readme = (ROOT / "README.md").read_text()
    assert [name for name in ENV_VARS if f"`{name}`" not in readme and name not in readme] == []
