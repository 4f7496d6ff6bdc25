"""Smart names: KeyBERT with the packaged MiniLM model, and the deterministic fallback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cosmos_steps import naming
from cosmos_steps.naming import (
    MAX_NAME_LENGTH,
    STOPWORDS,
    content_words,
    fallback_name,
    keybert_available,
    smart_name,
)

SUNSET = "A beautiful sunset over the ocean with waves"
SAFE = re.compile(r"[a-z0-9_]+")
needs_model = pytest.mark.skipif(not keybert_available(), reason="KeyBERT or the model is missing")


def assert_safe(name: str) -> None:
    assert SAFE.fullmatch(name), name
    assert len(name) <= MAX_NAME_LENGTH


@needs_model
def test_model_names_the_sunset_with_its_content_words() -> None:
    name = smart_name(SUNSET)
    assert_safe(name)
    words = name.split("_")
    assert 1 <= len(words) <= 3
    assert set(words) <= {"sunset", "ocean", "waves"}
    assert "sunset" in words
    assert len(set(words)) == len(words)


@needs_model
@pytest.mark.parametrize(
    "prompt",
    [
        "Heavy rain with water puddles on a cobblestone street",
        "Render pass of the shot: frame sequence showing a red car in a neon city at night",
        "Golden hour light creating long shadows across the desert dunes",
    ],
)
def test_model_names_use_prompt_words_and_no_stopwords(prompt: str) -> None:
    name = smart_name(prompt)
    assert_safe(name)
    words = name.split("_")
    assert 1 <= len(words) <= 3
    assert set(words) <= set(content_words(prompt))
    assert not set(words) & STOPWORDS


@needs_model
def test_max_words_is_respected_by_the_model() -> None:
    assert len(smart_name(SUNSET, max_words=1).split("_")) == 1
    assert len(smart_name(SUNSET, max_words=2).split("_")) <= 2


@needs_model
def test_model_is_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[Path] = []
    real_load = naming._load_keybert

    def counting_load(path: Path) -> object:
        loads.append(path)
        return real_load(path)

    naming.keybert_model.cache_clear()
    monkeypatch.setattr(naming, "_load_keybert", counting_load)
    try:
        names = {smart_name(SUNSET) for _ in range(3)} | {smart_name("Snowy mountain peak")}
    finally:
        naming.keybert_model.cache_clear()
    assert len(loads) == 1
    assert (loads[0] / "modules.json").is_file()
    assert len(names) == 2


def test_importing_the_module_loads_nothing_heavy() -> None:
    heavy = ("torch", "keybert", "sentence_transformers", "all_minilm_l6_v2", "transformers")
    code = f"import sys, cosmos_steps.naming; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=os.getcwd()
    )
    assert out.stdout.strip() == "[]"


def test_fallback_is_used_when_keybert_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keybert", None)
    assert not keybert_available()

    def no_model() -> None:
        raise AssertionError("the model must not be loaded")

    monkeypatch.setattr(naming, "keybert_model", no_model)
    assert smart_name(SUNSET) == fallback_name(SUNSET) == "sunset_ocean_waves"


def test_use_model_false_gives_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(naming, "keybert_model", lambda: pytest.fail("model loaded"))
    prompt = "Foggy harbour with fishing boats at dawn"
    assert smart_name(prompt, use_model=False) == fallback_name(prompt)


@pytest.mark.parametrize(
    ("prompt", "name"),
    [
        (SUNSET, "sunset_ocean_waves"),
        ("Low-lying mist with gradual falloff", "low_lying_mist"),
        ("Café, CRÈME & croissants!!!", "cafe_creme_croissants"),
        ("The render pass of this shot: frame sequence 0042", "0042"),
        ("Neon neon NEON city", "neon_city"),
        ("", "untitled"),
        ("   ", "untitled"),
        ("the of a with", "untitled"),
        ("!!! ??? ...", "untitled"),
        ("a b c", "untitled"),
    ],
)
def test_fallback_name(prompt: str, name: str) -> None:
    assert fallback_name(prompt) == name


def test_fallback_is_deterministic_across_processes() -> None:
    prompt = "Tall glass towers, rainy reflective streets, glowing holographic billboards"
    code = f"from cosmos_steps.naming import fallback_name; print(fallback_name({prompt!r}))"
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
        for _ in range(2)
    }
    assert runs == {fallback_name(prompt) + "\n"}
    assert fallback_name(prompt) == "tall_glass_towers"


def test_fallback_keeps_names_short_and_whole() -> None:
    long_words = "Extraordinarily magnificent incomprehensibilities overwhelming"
    name = fallback_name(long_words)
    assert name == "extraordinarily_magnificent"
    assert len(name) <= MAX_NAME_LENGTH
    giant = "x" * 80
    assert fallback_name(giant) == "x" * MAX_NAME_LENGTH
    assert fallback_name("red green blue cyan", max_words=2) == "red_green"


@pytest.mark.parametrize("use_model", [False, pytest.param(True, marks=needs_model)])
@pytest.mark.parametrize(
    "prompt",
    ["Ünïcödé façade — “quotes” & émojis 🌅🌊", "../../etc/passwd", "C:\\Windows\\System32", "😀"],
)
def test_names_are_always_filesystem_safe(prompt: str, use_model: bool) -> None:
    assert_safe(smart_name(prompt, use_model=use_model))


def test_max_words_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_words"):
        smart_name(SUNSET, max_words=0)


def test_vfx_and_english_stopwords_are_dropped() -> None:
    words = content_words("The final render pass of shot 12 shows the frame sequence of a fox")
    assert words == ["12", "fox"]


@needs_model
def test_model_is_extracted_once_atomically(tmp_path: Path) -> None:
    first = naming.model_dir(tmp_path)
    assert (first / "modules.json").is_file() and (first / "model.safetensors").is_file()
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert naming.model_dir(tmp_path) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == [naming.MODEL_NAME]


def test_offline_variables_are_set_only_while_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    with naming._offline():
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert "TRANSFORMERS_OFFLINE" not in os.environ
