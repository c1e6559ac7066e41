"""The candidate review queue: `newsmon actors candidates` and `newsmon actors promote`, on a real demo run."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import ConfigError, load_config
from pipeline.demo.site import TIMELINE_END
from tests.conftest import write_config

ACTORS_TAIL = """
roles:
  uk-prime-minister: {titles: [UK Prime Minister]}
not_actors: [Washington Post]
"""


@pytest.fixture
def demo_db(tmp_path, demo_site):
    config = write_config(tmp_path / "config", demo_site.feeds_yaml(), "channels: []\n")
    db = tmp_path / "newsmon.duckdb"
    demo_site.cutoff = TIMELINE_END
    assert main(["run", "--config", str(config), "--db", str(db)]) == 0
    return config, db


def test_candidates_list_counts_sources_and_samples(demo_db, capsys):
    config, db = demo_db
    capsys.readouterr()
    assert main(["actors", "--db", str(db), "--config", str(config), "candidates", "--min-sources", "2"]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("alexander-stubb  Alexander Stubb [PERSON]") and "2 sources, 2 stories" in first
    assert "> " in out and "Stubb" in out.split("\n", 2)[2]
    assert "keir-starmer" not in out            # registered actors are never candidates


def test_promote_writes_a_valid_registry_entry_and_keeps_comments(demo_db, capsys):
    config, db = demo_db
    actors_yaml = Path(config) / "actors.yaml"
    shipped = load_config(config).actors
    actors_yaml.write_text("# our registry\nactors:\n  - {id: duma, name: Russian State Duma, type: legislature}\n"
                           + ACTORS_TAIL, encoding="utf-8")
    assert main(["actors", "--db", str(db), "--config", str(config), "promote", "alexander-stubb",
                 "--wikidata", "Q312553"]) == 0
    assert "registered alexander-stubb (Alexander Stubb, person)" in capsys.readouterr().out
    text = actors_yaml.read_text(encoding="utf-8")
    assert text.startswith("# our registry\n") and "not_actors: [Washington Post]" in text
    actors = {a.id: a for a in load_config(config).actors}
    stubb = actors["alexander-stubb"]
    assert (stubb.name, stubb.type, stubb.wikidata) == ("Alexander Stubb", "person", "Q312553")
    assert "Stubb" in stubb.aliases and len(actors) == 2 and len(shipped) > 2
    # the queue no longer lists it, and a second promotion is refused without touching the file
    capsys.readouterr()
    assert main(["actors", "--db", str(db), "--config", str(config), "candidates"]) == 0
    assert "alexander-stubb" not in capsys.readouterr().out
    assert main(["actors", "--db", str(db), "--config", str(config), "promote", "alexander-stubb"]) == 2
    assert actors_yaml.read_text(encoding="utf-8") == text


def test_promotion_that_would_break_the_registry_writes_nothing(demo_db, capsys):
    config, db = demo_db
    actors_yaml = Path(config) / "actors.yaml"
    actors_yaml.write_text("actors:\n  - {id: finland-president, name: Finnish president, aliases: [Stubb]}\n",
                           encoding="utf-8")
    before = actors_yaml.read_text(encoding="utf-8")
    assert main(["actors", "--db", str(db), "--config", str(config), "promote", "alexander-stubb"]) == 2
    err = capsys.readouterr().err
    assert "alias 'Stubb' belongs to both" in err and "nothing was written" in err
    assert actors_yaml.read_text(encoding="utf-8") == before
    assert main(["actors", "--db", str(db), "--config", str(config), "promote", "nobody-at-all"]) == 2
    assert "no candidate 'nobody-at-all'" in capsys.readouterr().err


@pytest.mark.parametrize("yaml_text, problem", [
    ("actors:\n  - {id: a, name: A, roles: [{role: pm, from: 2024-01-01}]}\n", "role 'pm' is not defined"),
    ("actors:\n  - {id: a, name: A, roles: [{role: pm, from: 2024-01-01}]}\n"
     "  - {id: b, name: B, roles: [{role: pm, from: 2023-01-01, to: 2024-06-01}]}\nroles: {pm: {titles: [PM]}}\n",
     "'b' and 'a' hold it at the same time on 2024-01-01"),
    ("actors:\n  - {id: a, name: A, roles: [{role: pm, from: 2024-01-01, to: 2023-01-01}]}\nroles: {pm: {titles: [PM]}}\n",
     "'to' (2023-01-01) must be after 'from' (2024-01-01)"),
    ("actors: []\nroles: {pm: {titles: []}}\n", "roles.pm.titles"),
])
def test_role_config_errors_name_the_problem(tmp_path, yaml_text, problem):
    config = write_config(tmp_path / "c", "feeds:\n  - {name: f, url: 'http://example.org/f.xml'}\n", "channels: []\n")
    (Path(config) / "actors.yaml").write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert problem in str(err.value)
