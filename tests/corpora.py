"""Generated corpora with the shape of subtitles, for tests and benchmarks that need more than the offline sample.

Words are drawn from a lexicon of realistic size with Zipf-Mandelbrot frequencies (the most frequent word about
4% of the text, as in English); lines are short sentences (geometric lengths, mean about 7 words) with a
capital, end punctuation, commas, apostrophes, numbers (years, times, counts) and now and then a symbol or an
underscore; documents (films) of 50 to 600 lines are separated by blank lines. Languages: `en` and `de`
(Latin letters, German adds umlauts and ß), `ru` (Cyrillic), `zh` (no spaces; CJK characters with their own
Zipf law). Deterministic from the seed, and fast: about 10 s a million lines on one core.

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


def _letters_zipf(rng, alphabet, n):
    weights = 1.0 / (np.arange(len(alphabet)) + 1.5)
    return rng.choice(list(alphabet), size=n, p=weights / weights.sum())


def lexicon(lang, size, rng):
    """`size` distinct words; shorter words first, as the most frequent words of a language are short."""
    if lang == "zh":
        chars = np.array([chr(0x4E00 + i) for i in rng.permutation(6000)])
        weights = 1.0 / (np.arange(len(chars)) + 10.0)
        words = set()
        while len(words) < size:
            length = min(1 + rng.geometric(0.55), 4)
            words.add("".join(rng.choice(chars, size=length, p=weights / weights.sum())))
        return _by_length(words, rng)
    alphabet, vowels = ALPHABETS[lang], VOWELS[lang]
    consonants = [c for c in alphabet if c not in vowels]
    words = set()
    while len(words) < size:
        syllables = 1 + rng.geometric(0.45)
        word = "".join(
            _letters_zipf(rng, consonants, 1)[0] + _letters_zipf(rng, vowels, 1)[0]
            + (_letters_zipf(rng, consonants, 1)[0] if rng.random() < 0.4 else "")
            for _ in range(syllables)
        )
        words.add(word)
    return _by_length(words, rng)


def _by_length(words, rng):
    """Shorter words first, in a seeded order within a length (a set's own order changes between processes)."""
    words = sorted(words)
    keys = rng.random(len(words))
    return [w for _, _, w in sorted(zip(map(len, words), keys, words))]


def _number(rng):
    kind = rng.random()
    if kind < 0.3:
        return str(rng.integers(1900, 2030))  # a year
    if kind < 0.5:
        return f"{rng.integers(1, 13)}:{rng.integers(0, 60):02d}"  # a time
    if kind < 0.6:
        return f"{rng.integers(0, 100)}.{rng.integers(0, 100):02d}"
    return str(int(rng.zipf(1.6)))  # a count: 1, 2, 3 ... and the odd large one


def generate(lines, *, lang="en", seed=0, vocabulary=50_000):
    """Yield `lines` lines (blank lines between documents count)."""
    rng = np.random.default_rng(seed)
    words = np.array(lexicon(lang, vocabulary, rng), dtype=object)
    ranks = np.arange(len(words))
    p = 1.0 / (ranks + 2.7)
    p /= p.sum()
    spaced = lang != "zh"
    made = 0
    left_in_doc = rng.integers(50, 600)
    batch = 20_000
    while made < lines:
        lengths = np.minimum(rng.geometric(1 / 7, size=batch), 40)
        drawn = iter(words[rng.choice(len(words), size=int(lengths.sum()), p=p)])
        extras = rng.random((batch, 6))
        for length, x in zip(lengths, extras):
            if made >= lines:
                break
            if left_in_doc == 0:
                yield ""
                made += 1
                left_in_doc = rng.integers(50, 600)
                continue
            sentence = [next(drawn) for _ in range(length)]
            if x[0] < 0.08:  # a number in about one line in twelve
                sentence.insert(rng.integers(0, len(sentence) + 1), _number(rng))
            if spaced:
                if x[1] < 0.15 and len(sentence) > 3:
                    sentence[rng.integers(0, len(sentence) - 1)] += ","
                if x[2] < 0.05 and lang == "en":
                    sentence[rng.integers(0, len(sentence))] += rng.choice(["'s", "'t", "'ll", "'re"])
                if x[3] < 0.01:
                    sentence.insert(rng.integers(0, len(sentence) + 1), str(rng.choice(SYMBOLS)))
                if x[4] < 0.003:  # the odd identifier or underline
                    sentence.insert(rng.integers(0, len(sentence) + 1), rng.choice(["___", "file_name", "_"]))
                sentence[0] = sentence[0][:1].upper() + sentence[0][1:]
                line = " ".join(sentence) + str(rng.choice([".", ".", ".", "?", "!", "...", ""]))
                if x[5] < 0.1:
                    line = "- " + line
            else:
                line = "".join(sentence) + str(rng.choice(["。", "。", "？", "！", "，"]))
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
