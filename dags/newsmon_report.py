"""newsmon_report: rebuilds the analyst report (one self-contained HTML page) whenever news_monitor or
news_monitor_continuous publishes a new read copy of the database. It reads the read copy only,
never the live file, so it never waits for or blocks the pipeline."""
from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import Asset, dag, task

from pipeline.airflow_callbacks import READ_COPY_ASSET, read_copy_consumer_args

READ_COPY = Asset(**READ_COPY_ASSET)


@dag(
    dag_id="newsmon_report",
    schedule=[READ_COPY],
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["newsmon"],
    default_args=read_copy_consumer_args(),
    doc_md=__doc__,
)
def newsmon_report():
    @task
    def report() -> dict:
        from pipeline.report import build_report
        from pipeline.settings import Settings

        settings = Settings.from_env()
        built = build_report(settings, settings.data_dir / "report")
        return {"path": str(built.path), "cycle_id": built.cycle_id, **built.counts}

    report()


newsmon_report()
