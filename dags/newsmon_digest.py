"""newsmon_digest: runs whenever news_monitor publishes a new read copy; writes a text digest of the
latest alerts. It shows the pattern for reports and exports: schedule on the Asset, read the copy."""
from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import Asset, dag, task

from pipeline.airflow_callbacks import READ_COPY_ASSET, read_copy_consumer_args

READ_COPY = Asset(**READ_COPY_ASSET)


@dag(
    dag_id="newsmon_digest",
    schedule=[READ_COPY],
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["newsmon"],
    default_args=read_copy_consumer_args(),
    doc_md=__doc__,
)
def newsmon_digest():
    @task
    def digest(**context) -> str:
        from pipeline.digest import write_digest
        from pipeline.settings import Settings

        settings = Settings.from_env()
        now = context["dag_run"].start_date or datetime.now(timezone.utc)
        return str(write_digest(settings, settings.data_dir / "digests", now))

    digest()


newsmon_digest()
