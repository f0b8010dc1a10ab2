"""Small generated samples in each script family of the recipe's 65 languages.

Words are random strings over a script's letters (with its combining marks where the script has them),
drawn with Zipf-like frequencies; scripts written without spaces (Chinese, Japanese, Thai) join the words of
a sentence. Enough to check a vocabulary's coverage as BERT's tokenizer sees the text, not to model language.
"""

import random


def _chars(*ranges):
    return [chr(c) for a, b in ranges for c in range(a, b + 1)]


SCRIPTS = {
    # name: (letters, combining marks or second-position signs, written with spaces)
    "latin": (_chars((0x61, 0x7A)) + list("éèüöäñçßø"), [], True),
    "cyrillic": (_chars((0x430, 0x44F)), [], True),
    "greek": (_chars((0x3B1, 0x3C9)) + list("άέήίόύώ"), [], True),
    "arabic": (_chars((0x627, 0x64A)), _chars((0x64B, 0x650)), True),
    "hebrew": (_chars((0x5D0, 0x5EA)), [], True),
    "devanagari": (_chars((0x915, 0x939)), _chars((0x93E, 0x94C)) + ["\u0902", "\u094D"], True),
    "tamil": (_chars((0xB95, 0xBB9)), _chars((0xBBE, 0xBCC)) + ["\u0BCD"], True),
    "bengali": (_chars((0x995, 0x9B9)), _chars((0x9BE, 0x9CC)) + ["\u09CD"], True),
    "georgian": (_chars((0x10D0, 0x10F0)), [], True),
    "armenian": (_chars((0x561, 0x586)), [], True),
    "thai": (_chars((0xE01, 0xE2E)), _chars((0xE34, 0xE3A)) + _chars((0xE48, 0xE4B)), False),
    "korean": (_chars((0xAC00, 0xAC00 + 600)), [], True),
    "chinese": (_chars((0x4E00, 0x4E00 + 700)), [], False),
    "chinese_traditional": (_chars((0x9000, 0x9000 + 700)), [], False),
    # kana with voiced forms (が, ざ, ...) and a few hundred kanji
    "japanese": (_chars((0x3041, 0x3093)) + _chars((0x30A1, 0x30F3)) + _chars((0x6000, 0x6000 + 400)), [], False),
}


def lexicon(script, size, rng):
    letters, marks, _ = SCRIPTS[script]
    words = set()
    while len(words) < size:
        word = []
        for _ in range(rng.randint(1, 5)):
            word.append(rng.choice(letters))
            if marks and rng.random() < 0.4:
                word.append(rng.choice(marks))
        words.add("".join(word))
    return sorted(words)


def sample_lines(script, n_lines, seed=0, lexicon_size=600):
    """`n_lines` sentences; every 20th line is blank (a document boundary)."""
    rng = random.Random(seed)
    words = lexicon(script, lexicon_size, rng)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    joiner = " " if SCRIPTS[script][2] else ""
    lines = []
    for i in range(n_lines):
        if i % 20 == 19:
            lines.append("")
        else:
            lines.append(joiner.join(rng.choices(words, weights, k=rng.randint(4, 14))))
    return lines
