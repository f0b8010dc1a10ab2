"""Generated corpora with the shape of subtitles, for tests and benchmarks that need more than the offline sample.

Words are drawn from a lexicon of realistic size with Zipf-Mandelbrot frequencies (the most frequent word about
4% of the text, as in English); lines are short sentences (geometric lengths, mean about 7 words) with a
capital, end punctuation, commas, apostrophes, numbers (years, times, counts) and now and then a symbol or an
underscore; documents (films) of 50 to 600 lines are separated by blank lines. Languages: `en` and `de`
(Latin letters, German adds umlauts and ß), `ru` (Cyrillic), `zh` (no spaces; CJK characters with their own
Zipf law). Deterministic from the seed.

    python tests/corpora.py --lines 1000000 --lang en --seed 1 > corpus.txt
"""

import argparse
import sys

import numpy as np

ALPHABETS = {
    "en": "etaoinshrdlcumwfgypbvkjxqz",
    "de": "enisratdhulcgmobwfkzpvüäößjyxq",
    "ru": "оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё",
}
VOWELS = {"en": "aeiouy", "de": "aeiouäöü", "ru": "аеиоуыэюяё"}
SYMBOLS = ["%", "$", "&", "#", "@", "+", "=", "/", "*", "€", "£", "°"]


def _zipf_letters(rng, alphabet, n):
    weights = 1.0 / (np.arange(len(alphabet)) + 1.5)
    return np.array(list(alphabet))[rng.choice(len(alphabet), size=n, p=weights / weights.sum())]


def lexicon(lang, size, rng):
    """`size` distinct words; shorter words first, as the most frequent words of a language are short."""
    words = set()
    if lang == "zh":
        chars = np.array([chr(0x4E00 + i) for i in rng.permutation(6000)])
        weights = 1.0 / (np.arange(len(chars)) + 10.0)
        while len(words) < size:
            lengths = np.minimum(1 + rng.geometric(0.55, size=size), 4)
            drawn = iter(chars[rng.choice(len(chars), size=int(lengths.sum()), p=weights / weights.sum())])
            words.update("".join(next(drawn) for _ in range(n)) for n in lengths)
        return _by_length(words, rng)[:size]
    alphabet, vowels = ALPHABETS[lang], VOWELS[lang]
    consonants = "".join(c for c in alphabet if c not in vowels)
    while len(words) < size:
        n = 4 * size  # syllables: consonant, vowel, and a closing consonant two times in five
        onset, nucleus, coda = (_zipf_letters(rng, consonants, n), _zipf_letters(rng, vowels, n),
                                _zipf_letters(rng, consonants, n))
        syllables = np.char.add(np.char.add(onset, nucleus), np.where(rng.random(n) < 0.4, coda, ""))
        lengths = 1 + rng.geometric(0.45, size=size)
        ends = np.cumsum(lengths)
        ends = ends[ends <= n]
        starts = np.concatenate([[0], ends[:-1]])
        words.update("".join(syllables[a:b]) for a, b in zip(starts, ends))
    return _by_length(words, rng)[:size]


def _by_length(words, rng):
    """Shorter words first, in a seeded order within a length (a set's own order changes between processes)."""
    words = sorted(words)
    keys = rng.random(len(words))
    return [w for _, _, w in sorted(zip(map(len, words), keys, words))]


def _numbers(rng, n):
    """Years, times, decimals and counts (1, 2, 3 ... and the odd large one)."""
    kinds = rng.random(n)
    out = []
    for kind, a, b, c in zip(kinds, rng.integers(1900, 2030, n), rng.integers(1, 13, n), rng.integers(0, 100, n)):
        if kind < 0.3:
            out.append(str(a))
        elif kind < 0.5:
            out.append(f"{b}:{c % 60:02d}")
        elif kind < 0.6:
            out.append(f"{c}.{(a * 7) % 100:02d}")
        else:
            out.append(str(int(rng.zipf(1.6))))
    return out


ENDS = [".", ".", ".", "?", "!", "...", ""]
ZH_ENDS = ["。", "。", "？", "！", "，"]
ODD = ["___", "file_name", "_"]
CLITICS = ["'s", "'t", "'ll", "'re"]


def generate(lines, *, lang="en", seed=0, vocabulary=50_000):
    """Yield `lines` lines (blank lines between documents count)."""
    rng = np.random.default_rng(seed)
    words = np.array(lexicon(lang, vocabulary, rng), dtype=object)
    p = 1.0 / (np.arange(len(words)) + 2.7)
    p /= p.sum()
    numbers = _numbers(rng, 5000)
    spaced = lang != "zh"
    made = 0
    left_in_doc = int(rng.integers(50, 600))
    batch = 50_000
    while made < lines:
        lengths = np.minimum(rng.geometric(1 / 7, size=batch), 40)
        drawn = words[rng.choice(len(words), size=int(lengths.sum()), p=p)].tolist()
        extras = rng.random((batch, 9)).tolist()
        docs = rng.integers(50, 600, size=batch).tolist()
        start = 0
        for length, x, doc in zip(lengths.tolist(), extras, docs):
            if made >= lines:
                break
            if left_in_doc == 0:
                yield ""
                made += 1
                left_in_doc = doc
                continue
            sentence = drawn[start:start + length]
            start += length
            if x[0] < 0.08:  # a number in about one line in twelve
                sentence.insert(int(x[6] * (length + 1)), numbers[int(x[7] * len(numbers))])
            if spaced:
                n = len(sentence)
                if x[1] < 0.15 and n > 3:
                    sentence[int(x[6] * (n - 1))] += ","
                if x[2] < 0.05 and lang == "en":
                    sentence[int(x[7] * n)] += CLITICS[int(x[8] * len(CLITICS))]
                if x[3] < 0.01:
                    sentence.insert(int(x[8] * (n + 1)), SYMBOLS[int(x[6] * len(SYMBOLS))])
                if x[4] < 0.003:  # the odd identifier or underline
                    sentence.insert(int(x[7] * (n + 1)), ODD[int(x[8] * len(ODD))])
                sentence[0] = sentence[0][:1].upper() + sentence[0][1:]
                line = " ".join(sentence) + ENDS[int(x[5] * len(ENDS))]
                if x[5] < 0.1:
                    line = "- " + line
            else:
                line = "".join(sentence) + ZH_ENDS[int(x[5] * len(ZH_ENDS))]
            yield line
            made += 1
            left_in_doc -= 1


def write_corpus(path, lines, **options):
    with open(path, "w", encoding="utf-8") as f:
        for line in generate(lines, **options):
            f.write(line + "\n")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument("--lang", default="en", choices=[*ALPHABETS, "zh"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocabulary", type=int, default=50_000)
    args = parser.parse_args()
    out = sys.stdout
    for line in generate(args.lines, lang=args.lang, seed=args.seed, vocabulary=args.vocabulary):
        out.write(line + "\n")
