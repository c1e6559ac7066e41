"""OPML import/export and the feeds listing."""
from __future__ import annotations

from pipeline.cli import main
from pipeline.config import load_config
from tests.conftest import write_config

OPML = b"""<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>
<outline text="World"><outline text="BBC World" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
<outline title="Local file" xmlUrl="file:///etc/passwd"/></outline>
<outline text="Already there" xmlUrl="https://example.org/feed.xml"/>
<outline text="BBC World" xmlUrl="https://example.net/other.xml"/>
</body></opml>"""


def test_import_appends_keeps_comments_and_validates(tmp_path, capsys):
    folder = write_config(tmp_path / "c", "# my feeds\nfeeds:\n  - name: mine\n    url: https://example.org/feed.xml\n")
    (tmp_path / "in.opml").write_bytes(OPML)
    assert main(["feeds", "--config", str(folder), "import", str(tmp_path / "in.opml")]) == 0
    text = (folder / "feeds.yaml").read_text()
    assert text.startswith("# my feeds\n")
    cfg = load_config(folder)
    assert [(f.name, f.url) for f in cfg.feeds] == [
        ("mine", "https://example.org/feed.xml"), ("bbc-world", "https://feeds.bbci.co.uk/news/world/rss.xml"),
        ("bbc-world-2", "https://example.net/other.xml")]
    out = capsys.readouterr().out
    assert "2 feed(s) added" in out and "already in feeds.yaml" in out and "scheme 'file' is not allowed" in out
    # importing again adds nothing
    assert main(["feeds", "--config", str(folder), "import", str(tmp_path / "in.opml")]) == 0
    assert "0 feed(s) added" in capsys.readouterr().out


def test_import_refuses_entity_declarations(tmp_path, capsys):
    folder = write_config(tmp_path / "c", "feeds:\n  - name: mine\n    url: https://example.org/feed.xml\n")
    (tmp_path / "bad.opml").write_bytes(b"<!DOCTYPE x [<!ENTITY a 'b'>]><opml/>")
    assert main(["feeds", "--config", str(folder), "import", str(tmp_path / "bad.opml")]) == 2
    assert "DOCTYPE" in capsys.readouterr().err


def test_export_round_trips(tmp_path, capsys):
    folder = write_config(tmp_path / "c", "feeds:\n  - name: a\n    url: 'https://x.org/f?a=1&b=2'\n")
    out = tmp_path / "out.opml"
    assert main(["feeds", "--config", str(folder), "export", "--out", str(out)]) == 0
    other = write_config(tmp_path / "d", "feeds:\n  - name: z\n    url: https://z.org/\n")
    assert main(["feeds", "--config", str(other), "import", str(out)]) == 0
    assert [f.url for f in load_config(other).feeds] == ["https://z.org/", "https://x.org/f?a=1&b=2"]
