"""The review queue of candidate actors: list them, and promote one into the registry (actors.yaml)."""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import duckdb

from pipeline.actors import normalise_name
from pipeline.config import DEFAULTS_DIR, ConfigError, load_config

_TYPE_OF_LABEL = {"PERSON": "person", "GPE": "country", "ORG": "organization", "NORP": "other"}
_TOP_LEVEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:", re.MULTILINE)

CANDIDATES_SQL = """
with mentions as (
    select m.actor_id, m.actor_name, m.entity_label, m.surface, m.sentence_index, a.article_id,
           a.source_domain, a.story_id, a.event_at, a.url
    from stg_actor_mentions m
    join stg_articles a using (article_id)
    where not m.is_known and not list_contains(?, m.actor_id)
),
per_actor as (
    select actor_id,
           mode(actor_name) as actor_name,
           mode(entity_label) as entity_label,
           count(*) as mentions,
           count(distinct article_id) as articles,
           count(distinct source_domain) as sources,
           count(distinct story_id) as stories,
           min(event_at) as first_seen_at,
           arg_min(url, event_at) as first_url,
           list(distinct source_domain order by source_domain) as source_list
    from mentions
    group by actor_id
),
samples as (
    select actor_id, list(sentence order by event_at) filter (where rn <= 2) as sample_sentences
    from (select actor_id, sentence, event_at,
                 row_number() over (partition by actor_id order by event_at, article_id) as rn
          from (select distinct actor_id, sentence, event_at, article_id from int_actor_topic_context
                where not is_known))
    group by actor_id
)
select p.*, coalesce(s.sample_sentences, []) as sample_sentences
from per_actor p left join samples s using (actor_id)
where p.sources >= ?
order by p.sources desc, p.stories desc, p.mentions desc, p.actor_id
limit ?
"""


@dataclass(frozen=True)
class CandidateRow:
    actor_id: str
    actor_name: str
    entity_label: str
    mentions: int
    articles: int
    sources: int
    stories: int
    first_seen_at: datetime
    first_url: str
    source_list: list[str]
    sample_sentences: list[str]


def list_candidates(conn: duckdb.DuckDBPyConnection, registered: Sequence[str], min_sources: int = 1,
                    limit: int = 50) -> list[CandidateRow]:
    """Unregistered actors, most independently sourced first (registered ids are left out even when
    the database was built before they were promoted)."""
    cur = conn.execute(CANDIDATES_SQL, [list(registered), min_sources, limit])
    return [CandidateRow(*row) for row in cur.fetchall()]


def surfaces(conn: duckdb.DuckDBPyConnection, actor_id: str) -> list[str]:
    rows = conn.execute("select distinct surface from stg_actor_mentions where actor_id = ? order by surface",
                        [actor_id]).fetchall()
    return [r[0] for r in rows]


def _yaml_str(text: str) -> str:
    """A YAML flow scalar: double-quoted, escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def actor_entry(actor_id: str, name: str, kind: str, aliases: Sequence[str], wikidata: str | None = None) -> str:
    parts = [f"id: {actor_id}", f"name: {_yaml_str(name)}", f"type: {kind}"]
    if wikidata:
        parts.append(f"wikidata: {wikidata}")
    parts.append("aliases: [" + ", ".join(_yaml_str(a) for a in aliases) + "]")
    return "  - {" + ", ".join(parts) + "}\n"


def insert_actor(text: str, entry: str, note: str) -> str:
    """actors.yaml with one more entry at the end of its `actors:` list, comments and layout kept."""
    start = re.search(r"^actors:[ \t]*(\[\s*\])?[ \t]*$", text, re.MULTILINE)
    if start is None:
        return text.rstrip("\n") + f"\nactors:\n  # {note}\n{entry}"
    if start.group(1):   # "actors: []"
        return text[:start.start()] + f"actors:\n  # {note}\n{entry}" + text[start.end() + 1:]
    nxt = _TOP_LEVEL_KEY.search(text, start.end())
    cut = nxt.start() if nxt else len(text)
    body = text[:cut].rstrip("\n") + "\n"
    # keep a comment block that introduces the next top-level key with that key
    lines = body.splitlines(keepends=True)
    tail: list[str] = []
    while lines and (lines[-1].startswith("#") or not lines[-1].strip()):
        tail.insert(0, lines.pop())
    return "".join(lines) + f"  # {note}\n" + entry + ("\n" if tail or nxt else "") + "".join(tail) + text[cut:]


@dataclass(frozen=True)
class Promotion:
    actor_id: str
    name: str
    kind: str
    aliases: tuple[str, ...]
    path: Path


def promote(conn: duckdb.DuckDBPyConnection, config_dir: Path, actor_id: str, name: str | None = None,
            kind: str | None = None, aliases: Sequence[str] = (), wikidata: str | None = None,
            today: datetime | None = None) -> Promotion:
    """Write candidate `actor_id` into config_dir/actors.yaml; the file is validated before it replaces
    the old one, so a bad promotion changes nothing."""
    config = load_config(config_dir)
    if any(a.id == actor_id for a in config.actors):
        raise ValueError(f"{actor_id} is already in the registry")
    row = conn.execute("select mode(actor_name), mode(entity_label) from stg_actor_mentions "
                       "where actor_id = ? and not is_known", [actor_id]).fetchone()
    if row is None or row[0] is None:
        if not name:
            raise ValueError(f"no candidate {actor_id!r} in the database (see `newsmon actors candidates`); "
                             "give --name to register an actor never seen")
        row = (name, "")
    name = name or row[0]
    kind = kind or _TYPE_OF_LABEL.get(row[1], "other")
    seen = [normalise_name(s) for s in surfaces(conn, actor_id)]
    found = list(aliases) + [s for s in seen if s != name]
    if kind == "person" and " " in name:
        found.append(name.split()[-1])        # "Stubb said": the registry matches exact spellings
    alias_list = tuple(a for a in dict.fromkeys(found) if a and a != name)
    path = config_dir / "actors.yaml"
    text = path.read_text(encoding="utf-8") if path.exists() else (DEFAULTS_DIR / "actors.yaml").read_text(encoding="utf-8")
    when = (today or datetime.now(timezone.utc)).strftime("%Y-%m-%d")
    new_text = insert_actor(text, actor_entry(actor_id, name, kind, alias_list, wikidata),
                            f"promoted from the candidate queue on {when}")
    with tempfile.TemporaryDirectory() as tmp:   # validate the whole folder with the new file first
        for item in config_dir.iterdir():
            if item.suffix == ".yaml" and item.name != "actors.yaml":
                (Path(tmp) / item.name).write_text(item.read_text(encoding="utf-8"), encoding="utf-8")
        (Path(tmp) / "actors.yaml").write_text(new_text, encoding="utf-8")
        try:
            load_config(tmp)
        except ConfigError as exc:
            raise ValueError(f"promoting {actor_id} would make actors.yaml invalid ({exc.key}: {exc.problem}); "
                             "nothing was written") from None
    fd, tmp_path = tempfile.mkstemp(dir=config_dir, prefix=".actors.", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(new_text)
    os.replace(tmp_path, path)
    return Promotion(actor_id, name, kind, alias_list, path)
