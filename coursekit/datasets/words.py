"""Words labelled by language, for classifying a word's language from its letters (many-to-one).

The course ships a balanced sample (data/words/words.tsv.gz) drawn from Debian's word lists; see
data/README.md for each list's licence. ``build_words`` regenerates it from /usr/share/dict/.
"""

from __future__ import annotations

import gzip
import unicodedata
from pathlib import Path

import numpy as np

from coursekit.datasets.checksums import verify_shipped, write_gzip_deterministic

# code -> (language, Debian package, file under /usr/share/dict)
LANGUAGES = {
    "en": ("English", "wamerican", "american-english"),
    "fr": ("French", "wfrench", "french"),
    "de": ("German", "wngerman", "ngerman"),
    "it": ("Italian", "witalian", "italian"),
    "es": ("Spanish", "wspanish", "spanish"),
    "nl": ("Dutch", "wdutch", "dutch"),
}
SHIPPED = "words/words.tsv.gz"
DICT_DIR = Path("/usr/share/dict")


def normalize_word(raw: str) -> str | None:
    """Lower-cased, NFC-composed word, or None to drop it.

    Drops possessives (``"cat's"`` -> ``"cat"``), acronyms (all capitals), anything that is not
    letters only (digits, hyphens, apostrophes, dots), and words shorter than 3 or longer than 20.
    Accents are kept: they are much of what tells languages apart.
    """
    word = unicodedata.normalize("NFC", raw.strip())
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 1 and word.isupper():
        return None
    word = word.lower()
    if not word.isalpha() or not 3 <= len(word) <= 20:
        return None
    return word


def build_words(per_language: int = 3000, seed: int = 2026, dict_dir: Path = DICT_DIR) -> list[tuple[str, str]]:
    """A balanced, deterministic sample of ``(word, language code)`` from Debian's word lists.

    Words found in more than one language's full list are removed first, so no word has two
    labels. Each language contributes ``per_language`` words, sampled with ``seed``; the pairs
    come back shuffled.
    """
    pools: dict[str, set[str]] = {}
    for code, (_, package, filename) in LANGUAGES.items():
        path = dict_dir / filename
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing; install it with `apt-get install {package}`")
        words = (normalize_word(line) for line in path.read_text(encoding="utf-8").splitlines())
        pools[code] = {w for w in words if w}
    counts: dict[str, int] = {}
    for pool in pools.values():
        for w in pool:
            counts[w] = counts.get(w, 0) + 1
    rng = np.random.default_rng(seed)
    sample = []
    for code, pool in pools.items():
        unique = sorted(w for w in pool if counts[w] == 1)
        if len(unique) < per_language:
            raise ValueError(f"{code}: only {len(unique)} unique words, {per_language} requested")
        chosen = rng.choice(len(unique), size=per_language, replace=False)
        sample += [(unique[i], code) for i in sorted(chosen)]
    # Shuffle, so that any prefix (load_words' ``limit``) is a random, mixed sample.
    return [sample[i] for i in rng.permutation(len(sample))]


def write_words(path: Path, pairs: list[tuple[str, str]]) -> None:
    """Write ``(word, language)`` pairs as gzip TSV with a header; byte-identical reruns."""
    text = "word\tlanguage\n" + "".join(f"{w}\t{c}\n" for w, c in pairs)
    write_gzip_deterministic(path, text.encode("utf-8"))


def load_words(languages: list[str] | None = None, limit: int | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """The shipped words: ``(words, labels, language_codes)``.

    ``labels`` are int64 indices into ``language_codes`` (e.g. ``["en", "fr", ...]``; names in
    ``LANGUAGES``). ``languages`` keeps only those codes; ``limit`` keeps at most that many words
    per language (in file order). The file is verified by SHA-256 first.
    """
    path = verify_shipped(SHIPPED)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    if lines[0] != "word\tlanguage":
        raise ValueError(f"{path}: unexpected header {lines[0]!r}")
    codes = list(LANGUAGES) if languages is None else list(languages)
    unknown = set(codes) - set(LANGUAGES)
    if unknown:
        raise ValueError(f"load_words: unknown language codes {sorted(unknown)}; known: {list(LANGUAGES)}")
    taken = {c: 0 for c in codes}
    words, labels = [], []
    for line in lines[1:]:
        word, code = line.split("\t")
        if code in taken and (limit is None or taken[code] < limit):
            taken[code] += 1
            words.append(word)
            labels.append(codes.index(code))
    return words, np.array(labels, dtype=np.int64), codes
