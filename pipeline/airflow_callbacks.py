"""Callbacks the DAG files attach to tasks; light on purpose (DAG files import this at parse time).

Nothing here imports Airflow or any heavy library at module level: the pipeline is imported only
when a callback actually runs.
"""
from __future__ import annotations


def task_failed(context: dict) -> None:
    """Task-level failure notifier (DAG-level ones break dag.test(), apache/airflow#64649)."""
    from pipeline import tasks

    ti = context.get("task_instance")
    tasks.task_failed(getattr(ti, "task_id", "?"), str(context.get("run_id")), repr(context.get("exception")))
