"""Language detection and the decompressed copy of py3langid's model it keeps (pipeline.language)."""
from __future__ import annotations

import logging

import py3langid
import pytest

from pipeline import language

SAMPLES = {
    "en": "The defence ministers met in Paris to discuss a reassurance force for Ukraine after any ceasefire.",
    "de": "Die Verteidigungsminister trafen sich in Paris, um über eine Schutztruppe für die Ukraine zu beraten.",
    "fr": "Les ministres de la Défense se sont réunis à Paris pour discuter d'une force de réassurance.",
    "ru": "Министры обороны встретились в Париже, чтобы обсудить силы перестраховки для Украины.",
    "uk": "Міністри оборони зустрілися в Парижі, щоб обговорити сили стримування для України після перемир'я.",
    "pl": "Ministrowie obrony spotkali się w Paryżu, aby omówić siły reasekuracyjne dla Ukrainy po zawieszeniu broni.",
}


def test_the_copy_gives_py3langid_s_own_answers_and_is_written_once(tmp_path, monkeypatch):
    first = language.load_identifier(tmp_path)
    copies = list(tmp_path.glob("py3langid-*.npz"))
    assert len(copies) == 1 and copies[0].stat().st_size > 60_000_000
    monkeypatch.setattr(language, "_decompress", lambda *a: pytest.fail("the copy was written again"))
    second = language.load_identifier(tmp_path)
    for lang, text in SAMPLES.items():
        assert first.classify(text) == second.classify(text) == py3langid.classify(text), lang
        assert second.classify(text)[0] == lang


def test_a_damaged_copy_falls_back_to_the_packaged_model_and_is_written_again(tmp_path, caplog):
    language.load_identifier(tmp_path)
    (copy,) = tmp_path.glob("py3langid-*.npz")
    copy.write_bytes(copy.read_bytes()[:1_000_000])            # a copy cut short (disk full, killed writer)
    with caplog.at_level(logging.WARNING, logger="pipeline.language"):
        fallback = language.load_identifier(tmp_path)
    assert fallback.classify(SAMPLES["de"]) == py3langid.classify(SAMPLES["de"])
    assert "not usable" in caplog.text and not copy.exists()
    language.load_identifier(tmp_path)
    assert copy.stat().st_size > 60_000_000


def test_an_unwritable_cache_folder_still_gives_answers(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    ident = language.load_identifier(blocker / "newsmon")
    assert ident.classify(SAMPLES["fr"]) == py3langid.classify(SAMPLES["fr"])


def test_an_older_model_s_copy_is_removed_when_the_new_one_is_written(tmp_path):
    stale = tmp_path / "py3langid-123-456.npz"
    stale.write_bytes(b"from an older py3langid")
    language.load_identifier(tmp_path)
    assert [p.name for p in tmp_path.glob("py3langid-*.npz")] != [stale.name] and not stale.exists()


def test_short_text_takes_the_page_s_declared_language():
    assert language.detect_language("Short.", b"<html lang='uk'><body>...</body></html>") == "uk"
    assert language.detect_language("Short.", b"<html><body>...</body></html>") is None
    assert language.detect_language(SAMPLES["ru"], b"<html lang='en'>") == "ru"
