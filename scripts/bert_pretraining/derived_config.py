"""Settings that config.yaml implies without spelling them out, worked out in one place: the workflow
(rules/common.smk) passes the results to the rules, and code that calls the scripts' functions directly (tests,
benches) gets the same values from here."""

# Languages whose combining marks are letters, not accents: Japanese voiced kana, Korean Hangul (NFD splits
# it into jamo), Thai vowels and tones, the vowel signs of Indic scripts, Vietnamese tones.
KEEP_ACCENTS = {"ja", "ko", "th", "hi", "bn", "ta", "te", "ml", "si", "vi"}


def resolve_strip_accents(setting, lang):
    """`tokenizer.strip_accents` as a bool: `auto` strips accents except for the languages whose marks are
    letters; true or false is itself."""
    return lang not in KEEP_ACCENTS if setting == "auto" else bool(setting)
