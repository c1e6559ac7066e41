"""`newsmon airflow`: run `airflow standalone` on 127.0.0.1 with this project's DAGs (no Airflow import here).

The metadata DB is SQLite under the data folder, parallelism is low for small machines, the
one-slot DuckDB pool is created, and the feeds are the demo site's unless a config is given.
Ctrl-C (or SIGTERM) stops every process it started.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable

from pipeline.settings import PROJECT_ROOT
from pipeline.spawn import stop_session

POOL = "newsmon_duckdb"
LOG_SERVER_PORT = 8793   # Airflow's worker log server (logging.worker_log_server_port); the API must not use it


def airflow_env(data_dir: Path, port: int) -> dict[str, str]:
    home = (data_dir / "airflow").resolve()
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "4"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",   # the launcher is for running, not browsing
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
    }


def _airflow_bin() -> str:
    local = Path(sys.executable).with_name("airflow")
    found = str(local) if local.exists() else shutil.which("airflow")
    if not found:
        raise RuntimeError("apache-airflow is not installed: run `uv sync` (dev group) or install newsmon[airflow]")
    return found


def run_standalone(data_dir: Path, config_dir: Path | None, port: int = 8080,
                   echo: Callable[[str], None] = print, continuous: bool = False) -> int:
    airflow = _airflow_bin()
    if port == LOG_SERVER_PORT:
        raise RuntimeError(f"port {port} is where Airflow's scheduler serves task logs: choose another --port")
    env = airflow_env(data_dir, port)
    if continuous:      # news_monitor_continuous starts unpaused, news_monitor paused
        env["NEWSMON_CONTINUOUS"] = "1"
    env["PATH"] = f"{Path(airflow).parent}{os.pathsep}{env.get('PATH', '')}"  # standalone starts `airflow ...`
    site = None
    if config_dir is None:
        from pipeline.demo.site import TIMELINE_END, DemoSite

        site = DemoSite(cutoff=TIMELINE_END).start()
        config_dir = (data_dir / "airflow" / "demo-config").resolve()
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "feeds.yaml").write_text(site.feeds_yaml())
        env["NEWSMON_ALLOW_PRIVATE_NETWORKS"] = "1"
        env["NEWSMON_DB"] = str((data_dir / "airflow" / "newsmon-demo.duckdb").resolve())
        echo(f"feeds: the demo site ({', '.join(site.base_url(o.key) for o in site.outlets)})")
    env["NEWSMON_CONFIG"] = str(Path(config_dir).resolve())
    env["NEWSMON_DATA_DIR"] = str(data_dir.resolve())
    echo("migrating the Airflow metadata DB (SQLite)...")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([airflow, "pools", "set", POOL, "1", "newsmon: one DuckDB writer at a time"], env=env,
                   check=True, capture_output=True)
    log = open(Path(env["AIRFLOW_HOME"]) / "standalone.log", "ab")
    proc = subprocess.Popen([airflow, "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(180):
            if proc.poll() is not None or stopping:
                break
            try:
                urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2)
                break
            except OSError:
                time.sleep(1)
        if proc.poll() is None and not stopping:
            pw = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
            echo(f"Airflow is up: {url}  (user admin, password in {pw})")
            echo(f"logs: {Path(env['AIRFLOW_HOME']) / 'standalone.log'}; Ctrl-C stops everything")
        while proc.poll() is None and not stopping:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            echo("stopping Airflow...")
            stop_session(proc, 30)   # its own session: scheduler, api-server, dag-processor, triggerer
        log.close()
        if site is not None:
            site.stop()
    return 0 if stopping or proc.returncode in (0, -signal.SIGTERM) else proc.returncode or 0
