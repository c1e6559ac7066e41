"""news_monitor: poll -> fetch+extract (mapped) -> annotate (mapped) -> load (mapped) -> models -> alerts -> notify -> publish.

news_monitor_continuous: the same cycle as one task on Airflow's `@continuous` schedule (a new run as
soon as the last ends, never two at once). The task waits until a feed is due, so runs do not spin;
feed to alert takes seconds, not a schedule interval. NEWSMON_CONTINUOUS=1 makes it the one that
starts unpaused (and news_monitor paused); otherwise it is created paused.

Thin on purpose: each task imports the pipeline inside its body and returns only paths and counts.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from airflow.sdk import Asset, dag, task

from pipeline.airflow_callbacks import DATABASE_ASSET, READ_COPY_ASSET, task_failed

DATABASE = Asset(**DATABASE_ASSET)
READ_COPY = Asset(**READ_COPY_ASSET)
# Every task that opens the DuckDB file runs in this one-slot pool: DuckDB allows one writer process.
DUCKDB_POOL = os.environ.get("NEWSMON_DUCKDB_POOL", "newsmon_duckdb")
# On the ducklake backend the mapped loads write at the same time (their commits are serialised and
# retried by the store), so they take ordinary slots; the rest stays one at a time.
LAKE = (os.environ.get("NEWSMON_STORAGE") or "duckdb").strip().lower() == "ducklake"
LOAD_POOL = "default_pool" if LAKE else DUCKDB_POOL
SCHEDULE_MINUTES = int(os.environ.get("NEWSMON_SCHEDULE_MINUTES", "5"))
CONTINUOUS_MAX_WAIT = float(os.environ.get("NEWSMON_CONTINUOUS_MAX_WAIT", "60"))
# which of the two DAGs starts unpaused when Airflow first sees it (both share the one-slot pool)
CONTINUOUS = os.environ.get("NEWSMON_CONTINUOUS", "") == "1"

DEFAULT_ARGS = {
    "on_failure_callback": task_failed,
    "owner": "newsmon",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=20),
}


def _now(context: dict) -> datetime:
    start = context.get("dag_run").start_date if context.get("dag_run") else None
    return (start or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)


@dag(
    dag_id="news_monitor",
    schedule=timedelta(minutes=SCHEDULE_MINUTES),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=CONTINUOUS,
    default_args=DEFAULT_ARGS,
    tags=["newsmon"],
    doc_md=__doc__,
)
def news_monitor():
    @task(pool=DUCKDB_POOL)
    def poll(**context) -> dict:
        from pipeline import tasks

        return tasks.poll(context["run_id"], _now(context))

    @task
    def batches(polled: dict) -> list[str]:
        return polled["batches"]

    @task(max_active_tis_per_dagrun=2)
    def fetch_extract(batch: str, **context) -> str:
        from pipeline import tasks

        return tasks.fetch_extract(batch, _now(context))

    @task(max_active_tis_per_dagrun=2)   # two batches at once: both cores
    def annotate(article_file: str) -> str:
        from pipeline import tasks

        return tasks.annotate(article_file)

    @task
    def gathered(annotation_files: list[str]) -> list[str]:
        return list(annotation_files)

    @task(pool=LOAD_POOL, max_active_tis_per_dagrun=4)
    def load(annotation_file: str, **context) -> dict:
        from pipeline import tasks

        return tasks.load(annotation_file, context["run_id"], _now(context))

    @task(pool=DUCKDB_POOL)
    def models(loaded: list[dict]) -> dict:
        from pipeline import tasks

        return {**tasks.total(loaded), **tasks.models()}

    @task(pool=DUCKDB_POOL, outlets=[DATABASE])
    def alerts(modelled: dict, **context) -> dict:
        from pipeline import tasks

        return {**modelled, **tasks.alerts(context["run_id"], _now(context))}

    @task(pool=DUCKDB_POOL)
    def notify(modelled: dict, polled: dict, **context) -> dict:
        from pipeline import tasks

        return tasks.notify(context["run_id"], _now(context), {**polled, **modelled})

    @task(pool=DUCKDB_POOL, outlets=[READ_COPY])
    def publish(notified: dict) -> dict:
        from pipeline import tasks

        return {**notified, **tasks.publish_read_copy()}

    polled = poll()
    extracted = fetch_extract.expand(batch=batches(polled))   # one mapped task per batch of whole feeds
    annotated = annotate.expand(article_file=extracted)
    # gathered first, so every load is released at once (not each as its batch's annotation ends)
    loaded = load.expand(annotation_file=gathered(annotated))
    publish(notify(alerts(models(loaded)), polled))


news_monitor()


@dag(
    dag_id="news_monitor_continuous",
    schedule="@continuous",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=not CONTINUOUS,
    default_args=DEFAULT_ARGS,
    tags=["newsmon"],
    doc_md=__doc__,
)
def news_monitor_continuous():
    @task(pool=DUCKDB_POOL, outlets=[DATABASE, READ_COPY])
    def cycle(**context) -> dict:
        from pipeline import tasks

        return tasks.cycle(context["run_id"], CONTINUOUS_MAX_WAIT)

    cycle()


news_monitor_continuous()
