"""What the DAG files share: the Assets' names, the read-copy consumers' task defaults, and the
failure callback. Light on purpose (DAG files import this at parse time): nothing here imports
Airflow or any heavy library at module level; the pipeline is imported only when a callback runs.
"""
from __future__ import annotations

from datetime import timedelta

# one definition each: a producer and a consumer that spelled an Asset differently would silently
# never trigger
DATABASE_ASSET = {"name": "newsmon_database", "uri": "file:///newsmon/database"}
READ_COPY_ASSET = {"name": "newsmon_read_copy", "uri": "file:///newsmon/read-copy"}


def task_failed(context: dict) -> None:
    """Task-level failure notifier (DAG-level ones break dag.test(), apache/airflow#64649)."""
    from pipeline import tasks

    ti = context.get("task_instance")
    tasks.task_failed(getattr(ti, "task_id", "?"), str(context.get("run_id")), repr(context.get("exception")))


def read_copy_consumer_args() -> dict:
    """Task defaults of the DAGs scheduled on the read copy (digest, report): short, retried, reported."""
    return {"owner": "newsmon", "retries": 2, "retry_delay": timedelta(seconds=30),
            "retry_exponential_backoff": True, "execution_timeout": timedelta(minutes=5),
            "on_failure_callback": task_failed}
