"""Load and validate the YAML config folder; every error names the file, the key and the problem."""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

# Shipped defaults: the repository's config/ folder (force-included in the wheel as pipeline/_defaults).
_PACKAGED_DEFAULTS = Path(__file__).resolve().parent / "_defaults"
DEFAULTS_DIR = _PACKAGED_DEFAULTS if _PACKAGED_DEFAULTS.is_dir() else PROJECT_ROOT / "config"

SLUG = r"^[a-z0-9][a-z0-9._-]*$"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
ACTOR_TYPES = ("person", "government", "legislature", "country", "organization", "party", "military", "media", "other")


class ConfigError(Exception):
    """A config problem, phrased as `file: key: problem` on one line."""

    def __init__(self, file: str, key: str, problem: str):
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_http_url(url: str) -> str:
    """Accept only absolute http(s) URLs with a host (no file:, data:, bare paths)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValueError(f"scheme {parts.scheme or '(none)'!r} is not allowed; use an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("URL has no host")
    return url


class FeedConfig(_Strict):
    name: str = Field(pattern=SLUG, max_length=80)
    url: str
    enabled: bool = True
    tags: list[str] = []

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)


class FeedsFile(_Strict):
    feeds: list[FeedConfig] = Field(min_length=1)

    @field_validator("feeds")
    @classmethod
    def _unique(cls, feeds: list[FeedConfig]) -> list[FeedConfig]:
        seen: set[str] = set()
        for feed in feeds:
            if feed.name in seen:
                raise ValueError(f"duplicate feed name {feed.name!r}")
            seen.add(feed.name)
        return feeds


class TopicConfig(_Strict):
    terms: list[str] = Field(min_length=1)
    label: str | None = None
    # words that, anywhere in the sentence, mark a figurative use ("a truce between the clubs")
    not_with: list[str] = []


class TopicsFile(_Strict):
    topics: dict[str, TopicConfig] = Field(min_length=1)

    @field_validator("topics")
    @classmethod
    def _names(cls, topics: dict[str, TopicConfig]) -> dict[str, TopicConfig]:
        for name in topics:
            if not re.match(SLUG, name):
                raise ValueError(f"topic name {name!r} must be lowercase letters, digits, '-', '_' or '.'")
        return topics


class RoleTerm(_Strict):
    """One actor's time in a role: `from` inclusive, `to` exclusive (open while in office)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    role: str = Field(pattern=SLUG)
    since: date = Field(alias="from")
    until: date | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _order(self) -> "RoleTerm":
        if self.until is not None and self.until <= self.since:
            raise ValueError(f"role {self.role!r}: 'to' ({self.until}) must be after 'from' ({self.since})")
        return self


class ActorConfig(_Strict):
    id: str = Field(pattern=SLUG, max_length=80)
    name: str = Field(min_length=1)
    type: Literal[ACTOR_TYPES] = "other"  # type: ignore[valid-type]
    aliases: list[str] = []
    wikidata: str | None = Field(default=None, pattern=r"^Q[0-9]+$")
    country: str | None = None
    roles: list[RoleTerm] = []


class RoleConfig(_Strict):
    titles: list[str] = Field(min_length=1)   # matched case-insensitively: "UK Prime Minister", "British premier"


class ActorsFile(_Strict):
    actors: list[ActorConfig] = []
    roles: dict[str, RoleConfig] = {}
    # names that contain an alias but are not the actor ("Washington Post", "Trump Tower")
    not_actors: list[str] = []

    @model_validator(mode="after")
    def _unique(self) -> "ActorsFile":
        ids: set[str] = set()
        owner: dict[str, str] = {}
        for actor in self.actors:
            if actor.id in ids:
                raise ValueError(f"duplicate actor id {actor.id!r}")
            ids.add(actor.id)
            for alias in [actor.name, *actor.aliases]:
                other = owner.setdefault(alias, actor.id)
                if other != actor.id:
                    raise ValueError(f"alias {alias!r} belongs to both {other!r} and {actor.id!r}")
        self._check_roles()
        return self

    def _check_roles(self) -> None:
        title_owner: dict[str, str] = {}
        for role, spec in self.roles.items():
            if not re.match(SLUG, role):
                raise ValueError(f"role id {role!r} must be lowercase letters, digits, '-', '_' or '.'")
            for title in spec.titles:
                other = title_owner.setdefault(title.lower(), role)
                if other != role:
                    raise ValueError(f"role title {title!r} belongs to both {other!r} and {role!r}")
        terms: dict[str, list[tuple[RoleTerm, str]]] = {}
        for actor in self.actors:
            for term in actor.roles:
                if term.role not in self.roles:
                    raise ValueError(f"actor {actor.id!r}: role {term.role!r} is not defined under 'roles'")
                terms.setdefault(term.role, []).append((term, actor.id))
        for role, held in terms.items():   # one holder at a time
            held.sort(key=lambda t: t[0].since)
            for (a, a_id), (b, b_id) in zip(held, held[1:]):
                if a.until is None or a.until > b.since:
                    raise ValueError(f"role {role!r}: {a_id!r} and {b_id!r} hold it at the same time on {b.since}")


ALERT_TYPES = ("new_actor", "stance_change", "volume_spike", "source_silent")
SEVERITIES = ("info", "warning", "critical")
Severity = Literal["info", "warning", "critical"]


class ChannelConfig(_Strict):
    name: str = Field(pattern=SLUG)
    url: str = Field(min_length=1)
    optional: bool = False          # skip (with a warning) when a ${VAR} in the URL is unset
    # routing: what this channel receives (unset = everything)
    alert_types: list[str] | None = None
    topics: list[str] | None = None
    actors: list[str] | None = None
    min_severity: Severity = "info"
    # fatigue control
    cooldown_minutes: float = Field(default=360, ge=0)   # same (type, actor, topic) again within this: skipped
    burst_limit: int = Field(default=5, ge=1)            # more pending than this at once: one digest message
    min_gap_seconds: float = Field(default=1.0, ge=0)    # between two messages to this webhook


class NewActorRule(_Strict):
    min_sources: int = Field(default=2, ge=1)            # distinct domains AND distinct story groups
    min_evidence: int = Field(default=2, ge=1)           # topic-context sentences
    severity: Severity = "warning"
    critical_min_sources: int = Field(default=4, ge=1)   # this many independent sources: critical


class StanceChangeRule(_Strict):
    min_evidence: int = Field(default=1, ge=1)           # evidence sentences each side of a change needs
    min_sources: int = Field(default=1, ge=1)            # distinct sources behind the new stance
    severity: Severity = "warning"
    critical_min_sources: int = Field(default=3, ge=1)


class VolumeSpikeRule(_Strict):
    k: float = Field(default=3.0, gt=0)                  # stories > mean + k * stddev of the baseline
    critical_k: float = Field(default=5.0, gt=0)
    baseline_days: int = Field(default=14, ge=3)
    min_stories: int = Field(default=3, ge=1)            # and at least this many stories that day
    cooldown_hours: float = Field(default=24, ge=0)      # at most one spike alert per topic per window
    severity: Severity = "warning"


class SourceSilentRule(_Strict):
    silent_hours: float = Field(default=24, gt=0)        # no topic article (or no successful poll) for this long
    active_days: int = Field(default=5, ge=1)            # ... from a feed with topic articles on this many days
    lookback_days: int = Field(default=7, ge=1)          # ... of the last this-many days before it went quiet
    severity: Severity = "info"


class RulesConfig(_Strict):
    new_actor: NewActorRule = NewActorRule()
    stance_change: StanceChangeRule = StanceChangeRule()
    volume_spike: VolumeSpikeRule = VolumeSpikeRule()
    source_silent: SourceSilentRule = SourceSilentRule()


class OpsChannel(_Strict):
    url: str = Field(min_length=1)
    optional: bool = False


class AlertsFile(_Strict):
    channels: list[ChannelConfig] = []
    ops: OpsChannel | None = None     # where pipeline failures (failed Airflow tasks) are reported
    rules: RulesConfig = RulesConfig()

    @field_validator("channels")
    @classmethod
    def _unique(cls, channels: list[ChannelConfig]) -> list[ChannelConfig]:
        names = [c.name for c in channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate channel name {dupes[0]!r}")
        return channels


class CueSet(_Strict):
    verbs: list[str] = []            # lemmas: "reject", "back"
    phrases: list[str] = []          # verb + particle or object: "rule out", "call for", "take part"
    adjectives: list[str] = []       # predicate adjectives: "ready" (to contribute), "open" (to a truce)


class StanceFile(_Strict):
    support: CueSet
    oppose: CueSet
    neutral: CueSet = CueSet()
    weak: list[str] = []             # cue lemmas that carry half weight ("acknowledge", "consider")
    negators: list[str] = []         # verbs that negate an xcomp cue ("refuse" to back)
    hedges: list[str] = []           # modal/hedging words that halve the score
    speech_verbs: list[str] = []     # reported speech: the stance goes to the speaker
    denials: list[str] = []          # "denied that X agreed": the cue below states no position
    label_threshold: float = Field(default=0.25, gt=0, lt=1)   # |score| at which support/oppose begins


@dataclass(frozen=True)
class Channel:
    name: str
    url: str                         # secret: never log it in full
    alert_types: tuple[str, ...] | None = None
    topics: tuple[str, ...] | None = None
    actors: tuple[str, ...] | None = None
    min_severity: str = "info"
    cooldown_minutes: float = 360
    burst_limit: int = 5
    min_gap_seconds: float = 1.0


@dataclass(frozen=True)
class Config:
    """A validated config folder."""

    source: Path
    feeds: tuple[FeedConfig, ...]
    topics: dict[str, TopicConfig]
    actors: tuple[ActorConfig, ...]
    channels: tuple[Channel, ...]
    rules: RulesConfig
    stance: StanceFile
    ops_url: str | None = None       # secret: never log it in full
    roles: dict[str, RoleConfig] = field(default_factory=dict)
    not_actors: tuple[str, ...] = ()


_FILES: dict[str, type[BaseModel]] = {
    "feeds.yaml": FeedsFile,
    "topics.yaml": TopicsFile,
    "actors.yaml": ActorsFile,
    "alerts.yaml": AlertsFile,
    "stance.yaml": StanceFile,
}


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _read(path: Path, model: type[BaseModel]) -> BaseModel:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "", "not valid UTF-8") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise ConfigError(str(path), where, f"invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(str(path), "", "top level must be a mapping")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = _loc(err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        if err["type"] == "missing":
            msg = "required key is missing"
        raise ConfigError(str(path), key, msg) from None


def expand_env(url: str, environ: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Replace ${VAR} with its value; return the URL and the names of unset variables."""
    env = os.environ if environ is None else environ
    missing = [m for m in _ENV_REF.findall(url) if not env.get(m)]
    return _ENV_REF.sub(lambda m: env.get(m.group(1), ""), url), missing


def _channels(path: Path, alerts: AlertsFile, environ: dict[str, str] | None) -> tuple[Channel, ...]:
    out = []
    for i, ch in enumerate(alerts.channels):
        url, missing = expand_env(ch.url, environ)
        if missing:
            if ch.optional:
                log.warning("channel %s skipped: environment variable %s is not set", ch.name, missing[0])
                continue
            raise ConfigError(str(path), f"channels[{i}].url", f"environment variable {missing[0]} is not set")
        if "://" not in url:
            raise ConfigError(str(path), f"channels[{i}].url", "not an apprise URL (expected scheme://...)")
        out.append(Channel(ch.name, url, _opt(ch.alert_types), _opt(ch.topics), _opt(ch.actors), ch.min_severity,
                           ch.cooldown_minutes, ch.burst_limit, ch.min_gap_seconds))
    return tuple(out)


def _opt(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values is not None else None


def _ops_url(path: Path, alerts: AlertsFile, environ: dict[str, str] | None) -> str | None:
    if alerts.ops is None:
        return None
    url, missing = expand_env(alerts.ops.url, environ)
    if missing:
        if alerts.ops.optional:
            return None
        raise ConfigError(str(path), "ops.url", f"environment variable {missing[0]} is not set")
    return url


def load_config(config_dir: str | Path, environ: dict[str, str] | None = None) -> Config:
    """Validate a config folder; files other than feeds.yaml fall back to the shipped defaults."""
    folder = Path(config_dir)
    if not folder.is_dir():
        raise ConfigError(str(folder), "", "config folder does not exist")
    if not (folder / "feeds.yaml").is_file():
        raise ConfigError(str(folder / "feeds.yaml"), "", "missing (a config folder needs at least feeds.yaml)")
    parsed: dict[str, Any] = {}
    paths: dict[str, Path] = {}
    for name, model in _FILES.items():
        path = folder / name if (folder / name).is_file() else DEFAULTS_DIR / name
        paths[name] = path
        parsed[name] = _read(path, model)
    feeds: FeedsFile = parsed["feeds.yaml"]
    alerts: AlertsFile = parsed["alerts.yaml"]
    topics = parsed["topics.yaml"].topics
    for i, ch in enumerate(alerts.channels):
        for t in ch.alert_types or []:
            if t not in ALERT_TYPES:
                raise ConfigError(str(paths["alerts.yaml"]), f"channels[{i}].alert_types",
                                  f"unknown alert type {t!r} (known: {', '.join(ALERT_TYPES)})")
        for t in ch.topics or []:
            if t not in topics:
                raise ConfigError(str(paths["alerts.yaml"]), f"channels[{i}].topics", f"unknown topic {t!r}")
    return Config(
        source=folder,
        feeds=tuple(f for f in feeds.feeds if f.enabled),
        topics=dict(parsed["topics.yaml"].topics),
        actors=tuple(parsed["actors.yaml"].actors),
        roles=dict(parsed["actors.yaml"].roles),
        not_actors=tuple(parsed["actors.yaml"].not_actors),
        channels=_channels(paths["alerts.yaml"], alerts, environ),
        rules=alerts.rules,
        stance=parsed["stance.yaml"],
        ops_url=_ops_url(paths["alerts.yaml"], alerts, environ),
    )
