"""Text for search: normalisation, Chinese word segmentation, pinyin, highlighting.

Segmentation is jieba's dictionary and algorithm through ``rjieba`` (the Rust port: the same
dictionary and results, ~25× faster; the project brief's PERF_NOTES.md) with a fallback to ``jieba`` itself.  The
dictionary is loaded once per process (``gunicorn --preload`` shares it between workers) with a
user dictionary of brands, 品目 names and domain words (``search.lexicon``), so index and query
are cut the same way.

Documents are indexed with ``cut_for_search`` (a word and its sub-words: 激光打印机 → 激光,
打印, 打印机, 激光打印机); queries are cut precisely (the project brief's PERF_NOTES.md: same matches, faster).
Latin letters and digits are lower-cased, full-width forms folded (NFKC) and split from Chinese,
so "联想ThinkPad" and "联想 thinkpad" are the same query.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

from markupsafe import Markup, escape

from . import lexicon

MAX_QUERY_CHARS = 100
MAX_QUERY_TOKENS = 12

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# a run of Chinese characters, or of Latin letters/digits (decimals kept: 2.4ghz, usb3.0)
_RUN_RE = re.compile(rf"[{_CJK}]+|[a-z0-9]+(?:\.[0-9]+[a-z0-9]*)*")
_CJK_RE = re.compile(rf"[{_CJK}]")
_ALNUM_PARTS_RE = re.compile(r"[a-z]+|[0-9]+(?:\.[0-9]+)?")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

_lock = threading.Lock()
_segmenter = None


class _Segmenter:
    """rjieba (or jieba) with the user dictionary added."""

    def __init__(self):
        try:
            import rjieba

            self._impl = rjieba.Jieba()
            self.kind = "rjieba"
            add = lambda w, f: self._impl.add_word(w, f, None)  # noqa: E731
        except ImportError:  # pragma: no cover - rjieba is a dependency; jieba is the fallback
            import jieba

            self._impl = jieba.Tokenizer()
            self._impl.initialize()
            self.kind = "jieba"
            add = lambda w, f: self._impl.add_word(w, f)  # noqa: E731
        for word in user_words():
            add(word, 2000)

    def cut(self, text: str) -> list[str]:
        return list(self._impl.cut(text, True) if self.kind == "rjieba" else self._impl.cut(text, HMM=True))

    def cut_for_search(self, text: str) -> list[str]:
        if self.kind == "rjieba":
            return list(self._impl.cut_for_search(text, True))
        return list(self._impl.cut_for_search(text, HMM=True))


def user_words() -> list[str]:
    """Brands, 品目 names (short ones, without the odd annotations some rows carry) and domain words."""
    from catalog import pinmu

    words = set(lexicon.EXTRA_WORDS) | set(lexicon.BRAND_ALIASES)
    for aliases in lexicon.CATEGORY_ALIASES.values():
        words.update(a for a in aliases if _CJK_RE.search(a))
    for node in pinmu.tree().values():
        name = node.name.split(" ")[0].split("（")[0].split("(")[0]
        if 2 <= len(name) <= 8 and all(_CJK_RE.match(ch) for ch in name):
            words.add(name)
    return sorted(words)


def segmenter() -> _Segmenter:
    """The process-wide segmenter (loaded on first use; call at start-up to load before fork)."""
    global _segmenter
    if _segmenter is None:
        with _lock:
            if _segmenter is None:
                _segmenter = _Segmenter()
    return _segmenter


def add_words(words) -> None:
    """Teach the segmenter new words (e.g. brands first seen in the catalog)."""
    seg = segmenter()
    for w in words:
        if w and _CJK_RE.search(w):
            if seg.kind == "rjieba":
                seg._impl.add_word(w, 2000, None)
            else:  # pragma: no cover
                seg._impl.add_word(w, 2000)


# ------------------------------------------------------------------ normalisation

def normalize(text: str | None) -> str:
    """NFKC (full-width → half-width), lower case, no control characters, single spaces."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", str(text)).lower()
    text = _CONTROL_RE.sub(" ", text)
    return " ".join(text.split())


def runs(text: str) -> list[str]:
    """Runs of Chinese characters and of Latin letters/digits, in order; everything else separates."""
    return _RUN_RE.findall(normalize(text))


def is_cjk(token: str) -> bool:
    return bool(_CJK_RE.match(token))


_TOKEN_RE = re.compile(rf"(?:[{_CJK}]+|[a-z0-9]+(?:\.[0-9]+[a-z0-9]*)*)")


def _clean(raw_tokens, parts: bool) -> list[str]:
    out: list[str] = []
    full = _TOKEN_RE.fullmatch
    for t in raw_tokens:
        if full(t):
            out.append(t)
            if parts and not (t.isalpha() or t.isdigit()) and t.isascii() and len(t) > 3:
                out.extend(p for p in _ALNUM_PARTS_RE.findall(t)
                           if p != t and ((p.isalpha() and len(p) >= 3) or (not p.isalpha() and len(p) >= 2)))
        elif t.strip():
            out.extend(_RUN_RE.findall(t))
    return out


def index_tokens(text: str | None) -> list[str]:
    """Tokens of a document field: search-mode cut (a word and its sub-words), Latin/digit words
    and, for mixed ones (m404dn), their letter and digit parts."""
    if not text:
        return []
    return _clean(segmenter().cut_for_search(normalize(text)), parts=True)


def query_tokens(text: str | None) -> list[str]:
    """Tokens of a query: precise cut, stop words removed, duplicates removed, at most 12."""
    out: list[str] = []
    norm = normalize(text)
    if not norm:
        return out
    for w in _clean(segmenter().cut(norm), parts=False):
        if w not in lexicon.STOPWORDS and w not in out:
            out.append(w)
    return out[:MAX_QUERY_TOKENS]


def tokens_with_synonyms(tokens: list[str]) -> list[tuple[str, ...]]:
    """Each query token with its alternatives (any of them may match)."""
    return [(t,) + tuple(s for s in lexicon.SYNONYMS.get(t, ()) if s != t) for t in tokens]


# ------------------------------------------------------------------ pinyin

@lru_cache(maxsize=200_000)
def pinyin_initials(word: str) -> str:
    """打印机 → dyj (Chinese words only; '' otherwise)."""
    if not word or not is_cjk(word[0]):
        return ""
    from pypinyin import Style, lazy_pinyin

    return "".join(p[0] for p in lazy_pinyin(word, style=Style.FIRST_LETTER, errors="ignore") if p)


@lru_cache(maxsize=50_000)
def pinyin_full(word: str) -> str:
    """打印机 → dayinji."""
    if not word or not is_cjk(word[0]):
        return ""
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(word, errors="ignore"))


def looks_like_pinyin(token: str) -> bool:
    return token.isascii() and token.isalpha() and 2 <= len(token) <= 30


# ------------------------------------------------------------------ highlighting

def highlight(text: str | None, terms) -> Markup:
    """``text`` HTML-escaped, with every occurrence of a term wrapped in <mark> (case-insensitive)."""
    if not text:
        return Markup("")
    terms = sorted({t for t in terms if t and len(t) >= 1}, key=len, reverse=True)
    if not terms:
        return escape(text)
    folded = unicodedata.normalize("NFKC", text).lower()
    if len(folded) != len(text):  # NFKC changed the length: highlight on the folded text
        text = unicodedata.normalize("NFKC", text)
        folded = text.lower()
    marks = [False] * len(text)
    for term in terms:
        if not is_cjk(term[0]) and len(term) < 2:
            continue
        start = folded.find(term)
        while start >= 0:
            for i in range(start, start + len(term)):
                marks[i] = True
            start = folded.find(term, start + len(term))
    # runs of marked / unmarked characters, escaped as plain strings (Markup arithmetic per chunk
    # cost more than finding the terms)
    out, i, n = [], 0, len(text)
    while i < n:
        j = i
        flag = marks[i]
        while j < n and marks[j] == flag:
            j += 1
        chunk = str(escape(text[i:j]))
        out.append(f"<mark>{chunk}</mark>" if flag else chunk)
        i = j
    return Markup("".join(out))
