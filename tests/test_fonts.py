"""The fonts kept on disk between runs: served while they are what the code would make, never after."""

from __future__ import annotations

import io
import os
import shutil

import pytest

from farmland.reports import fonts

CHARS = "耕地Ab1"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder, and nothing held in memory: as a new process on a new machine."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("FARMLAND_CACHE_DIR", str(folder))
    monkeypatch.delenv("FARMLAND_NO_CACHE", raising=False)
    _forget()
    yield folder / "fonts"
    _forget()


def _forget():
    """What a new process knows: nothing held in memory."""
    fonts._static_font_file.cache_clear()
    fonts._collection_subset.cache_clear()
    fonts._page_face.cache_clear()


def _counting(monkeypatch, name):
    made = []
    original = getattr(fonts, name)

    def counted(*args):
        made.append(args)
        return original(*args)

    monkeypatch.setattr(fonts, name, counted)
    return made


def test_chart_font_is_made_once_and_then_read_from_the_cache(cache, monkeypatch):
    made = _counting(monkeypatch, "_static_instance")
    first = fonts.chart_font(CHARS).get_file()
    assert len(made) == 1 and os.path.dirname(first) == str(cache)
    _forget()
    assert fonts.chart_font(CHARS).get_file() == first and len(made) == 1
    fonts.chart_font(CHARS + "田")  # other characters: another font
    assert len(made) == 2


def test_a_changed_collection_is_never_served_its_old_fonts(cache, monkeypatch, tmp_path):
    collection = tmp_path / "NotoSansCJK-VF.otf.ttc"  # a copy this test may touch
    shutil.copyfile(fonts.font_collection_path(), collection)
    monkeypatch.setattr(fonts, "font_collection_path", lambda: collection)
    made = _counting(monkeypatch, "_static_instance")
    subsets = _counting(monkeypatch, "_subset")
    old_chart = fonts.chart_font(CHARS).get_file()
    fonts._collection_subset(CHARS)
    assert len(made) == 1 and len(subsets) == 2
    stat = collection.stat()
    os.utime(collection, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # e.g. a reinstalled package
    _forget()
    assert fonts.chart_font(CHARS).get_file() != old_chart
    fonts._collection_subset(CHARS)
    assert len(made) == 2 and len(subsets) == 4


def test_cached_fonts_are_the_fonts_made_without_the_cache(cache, monkeypatch):
    kept_page = fonts._collection_subset(CHARS)
    kept_faces = fonts.FontBook(CHARS).page_faces("")
    with open(fonts.chart_font(CHARS).get_file(), "rb") as fh:
        kept_chart = fh.read()
    monkeypatch.setenv("FARMLAND_NO_CACHE", "1")
    _forget()
    assert fonts._collection_subset(CHARS) == kept_page
    assert fonts.FontBook(CHARS).page_faces("") == kept_faces
    temporary = fonts.chart_font(CHARS).get_file()
    with open(temporary, "rb") as fh:
        assert fh.read() == kept_chart
    os.remove(temporary)
    kept = {p.name.split("-")[0] for p in cache.iterdir()}
    assert kept == {"chart", "page", "page400", "page700"}  # and nothing written with the cache off


def test_a_temporary_chart_font_is_removed_when_the_process_ends(cache, monkeypatch):
    registered = []
    monkeypatch.setattr(fonts.atexit, "register", lambda fn, *args: registered.append((fn, args)))
    monkeypatch.setenv("FARMLAND_NO_CACHE", "1")
    temporary = fonts.chart_font(CHARS).get_file()
    assert registered == [(fonts._remove_temporary, (temporary,))]
    fonts._remove_temporary(temporary)
    assert not os.path.exists(temporary)
    fonts._remove_temporary(temporary)  # already gone: nothing raised


def test_a_relative_cache_folder_gives_matplotlib_an_absolute_path(cache, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FARMLAND_CACHE_DIR", "relative-cache")
    path = fonts.chart_font(CHARS).get_file()
    assert os.path.isabs(path) and path.startswith(str(tmp_path / "relative-cache"))


def test_an_unwritable_cache_folder_costs_only_the_speed(cache, monkeypatch, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("FARMLAND_CACHE_DIR", str(blocked / "cache"))
    path = fonts.chart_font(CHARS).get_file()
    assert os.path.getsize(path) > 0 and not path.startswith(str(blocked))
    os.remove(path)  # a temporary file
    assert {ord(ch) for ch in CHARS} <= fonts.cmap_of(fonts._collection_subset(CHARS))


def test_the_cache_keeps_only_the_latest_fonts(cache, monkeypatch):
    monkeypatch.setattr(fonts, "_CACHE_KEEP", 2)
    monkeypatch.setattr(fonts, "_subset", lambda source, text: _Stub(text))
    monkeypatch.setattr(fonts, "_to_bytes", lambda font: font.text.encode())
    for i, text in enumerate(["a", "b", "c"]):
        fonts._collection_subset(text)
        path = fonts._cache_file("page", text)
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    assert sorted(p.read_text() for p in cache.iterdir()) == ["b", "c"]


class _Stub:
    def __init__(self, text):
        self.text = text


def test_page_faces_are_static_truetype_setting_the_variable_faces_glyphs(cache):
    """What pages embed: per weight a TrueType face (Chromium prints it as text, where variable
    CFF2 glyphs became Type 3 drawings) whose glyphs are the variable face's at that weight, with
    its advances, so a page sets the same characters at the same places."""
    from fontTools.pens.areaPen import AreaPen
    from fontTools.pens.boundsPen import BoundsPen
    from fontTools.ttLib import TTFont

    variable = TTFont(io.BytesIO(fonts._collection_subset(CHARS)))
    ink = {}
    for weight in fonts.PAGE_WEIGHTS:
        face = TTFont(io.BytesIO(fonts._page_face(CHARS, weight)))
        assert "glyf" in face and not {"CFF ", "CFF2", "fvar", "HVAR"} & set(face.keys())
        assert face["OS/2"].usWeightClass == weight
        assert face["name"].getDebugName(6) == "FarmlandNotoSansSC-" + ("Bold" if weight >= 600 else "Regular")
        assert face.getBestCmap() == variable.getBestCmap()
        at_weight, static = variable.getGlyphSet(location={"wght": weight}), face.getGlyphSet()
        for name in face.getGlyphOrder():
            assert face["hmtx"][name][0] == round(at_weight[name].width), name
            expected, got = BoundsPen(at_weight), BoundsPen(static)
            at_weight[name].draw(expected)
            static[name].draw(got)
            if expected.bounds is None:
                assert got.bounds is None, name
            else:  # quadratic curves within a unit of the cubic ones (1/1000 of the type size)
                assert max(abs(a - b) for a, b in zip(expected.bounds, got.bounds, strict=True)) <= 2, name
        pen = AreaPen(static)
        static[face.getBestCmap()[ord("耕")]].draw(pen)
        ink[weight] = abs(pen.value)
    assert ink[700] > 1.2 * ink[400]  # the bold face is bold
