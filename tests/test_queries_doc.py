"""docs/queries.md: every analyst query runs on the demo database and answers something."""
from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from pipeline.cli import main
from pipeline.demo.site import TIMELINE_END
from tests.conftest import write_config

DOC = Path(__file__).resolve().parent.parent / "docs" / "queries.md"
QUERIES = re.findall(r"^## (.+?)\n.*?```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
MAY_BE_EMPTY = {"7", "9"}   # the demo's outlets are healthy (nobody silent) and carry no wire copies


@pytest.fixture(scope="module")
def demo_read_copy(tmp_path_factory):
    from pipeline.demo.site import DemoSite

    tmp = tmp_path_factory.mktemp("queries")
    with DemoSite() as site:
        config = write_config(tmp / "config", site.feeds_yaml(), "channels: []\n")
        site.cutoff = TIMELINE_END
        db = tmp / "newsmon.duckdb"
        assert main(["run", "--config", str(config), "--db", str(db)]) == 0
    return tmp / "newsmon.read.duckdb"


def test_the_doc_has_ten_questions_or_more():
    assert len(QUERIES) >= 10


@pytest.mark.parametrize("title, sql", QUERIES, ids=[t.split(".")[0] for t, _ in QUERIES])
def test_query_runs_on_the_demo(demo_read_copy, title, sql):
    with duckdb.connect(str(demo_read_copy), read_only=True) as conn:
        rows = conn.execute(sql).fetchall()
    if title.split(".")[0] not in MAY_BE_EMPTY:
        assert rows, f"query {title!r} returned nothing on the demo"
