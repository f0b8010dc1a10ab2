"""The Snakemake report of a small end-to-end run: every stage's section is there and shows the run's numbers."""

import collections
import concurrent.futures
import glob
import json
import os
import re
import struct

import pandas as pd
import pytest

from bert_pretraining.report import tokenizer_stats
from bert_pretraining.report import training_plots
from bert_pretraining.report.corpus_stats import file_stats
from bert_pretraining.report.report_common import figure_data, format_cell
from bert_pretraining.text.wordpiece_vocab import CONTROL_SYMBOLS, PUNCTUATION, WORD_START, bert_vocab, wordpiece_token
from bert_pretraining.text.wordpiece_tokenizer import WordPieceTokenizer
from report_page import embedded, html_tables, script_json, table_values
from workflow import planned_jobs, snakemake, write_config

STAGES = {
    "1. Corpus": {"summary.html", "line_lengths.svg", "line_lengths.json"},
    "2. Tokenizer": {"summary.html", "pieces_per_word.svg", "pieces_per_word.json"},
    "3. Pre-training data": {"summary.html", "sequence_lengths.svg", "sequence_lengths.json"},
    "4. Training": {"summary.html", "curves.svg", "curves.json"},
}
PLOTS = ["corpus/line_lengths", "tokenizer/pieces_per_word", "pretraining_data/sequence_lengths", "training/curves"]
REPORT_RULES = {"corpus_stats", "tokenizer_stats", "pretraining_stats", "training_plots", "report_data", "report"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The offline default, shrunk to run in about a minute, built up to the report."""
    folder = tmp_path_factory.mktemp("report")
    write_config(
        folder,
        shards={"lines_per_shard": 9000},  # two shards (of the sample's 16,825 lines): the per-shard table has rows
        pretraining_data={"max_seq_length": 64, "max_predictions_per_seq": 10, "dupe_factor": 1},
        train={"num_train_steps": 30, "save_checkpoints_steps": 30, "log_every_steps": 10, "batch_size": 16,
               "eval_steps": 2, "warmup_steps": 5},
    )
    snakemake(folder, "--cores", "2", "report")
    snakemake(folder, "report", "--report", "report.html", "--cores", "1")
    page = (folder / "report.html").read_text(encoding="utf-8")
    results = script_json(page, "results")
    return {
        "folder": folder,
        "results_dir": folder / "results",
        "page": page,
        "categories": script_json(page, "categories"),
        "files": {path: embedded(result) for path, result in results.items()},
        "captions": {path: result["caption"] for path, result in results.items()},
    }


def test_every_stage_has_its_section_with_captions(run):
    sections = {
        stage: {os.path.basename(p) for sub in subs.values() for p in sub}
        for stage, subs in run["categories"].items()
    }
    assert sections == STAGES
    assert all(len(caption) > 100 for caption in run["captions"].values())
    description = script_json(run["page"], "workflow_desc")
    assert "BERT pre-trained from scratch" in description
    assert "a vocabulary of\n4096 tokens" in description  # this run's config, filled in
    # Self-contained: nothing is fetched when the page opens.
    assert not re.findall(r'(?:src|href)="https?://', run["page"])


def test_corpus_section_counts_the_files(run):
    results = run["results_dir"]
    counts = {}
    for name in ["dataset.txt", "proc_dataset.txt"]:
        lines = (results / name).read_text(encoding="utf-8").split("\n")[:-1]
        counts[name] = (len(lines), sum(map(len, lines)), sum(1 for line in lines if not line.strip()))
    table = table_values(run["files"]["results/report/corpus/summary.html"])
    assert table["lines"][1:] == [f"{counts['dataset.txt'][0]:,}", f"{counts['proc_dataset.txt'][0]:,}"]
    assert table["characters"][1:] == [f"{counts['dataset.txt'][1]:,}", f"{counts['proc_dataset.txt'][1]:,}"]
    assert table["empty lines (document breaks)"][1] == f"{counts['dataset.txt'][2]:,}"

    plotted = figure_data(run["files"]["results/report/corpus/line_lengths.svg"])
    edges = plotted["bin_edges"]
    lines = (results / "proc_dataset.txt").read_text(encoding="utf-8").split("\n")[:-1]
    expected = collections.Counter(min(len(line) // (edges[1] - edges[0]), len(edges) - 1) for line in lines)
    assert plotted["counts"]["proc_dataset.txt"] == [expected[i] for i in range(len(edges))]


def test_tokenizer_section_measures_the_held_out_lines(run):
    results = run["results_dir"]
    vocab = (results / "vocab.txt").read_text(encoding="utf-8").splitlines()
    table = table_values(run["files"]["results/report/tokenizer/summary.html"])
    assert table["vocabulary size (lines of vocab.txt)"] == [f"{len(vocab):,}"]
    assert table["placeholders [UNUSED_i]"] == [f"{sum(t.startswith('[UNUSED_') for t in vocab):,}"]
    assert table["placeholders configured (tokenizer.num_placeholders)"] == ["256"]

    held_out = results / "tokenizer" / "heldout.txt"
    tokenizer = WordPieceTokenizer(str(results / "vocab.txt"))
    words = tokens = unknown = 0
    with open(held_out, encoding="utf-8") as f:
        for line in f:
            words += len(tokenizer.basic_tokenize(line))
            pieces = tokenizer.tokenize(line)
            tokens += len(pieces)
            unknown += pieces.count("[UNK]")
    plotted = figure_data(run["files"]["results/report/tokenizer/pieces_per_word.svg"])
    assert plotted["unk_rate"] == pytest.approx(unknown / tokens)
    assert plotted["tokens_per_word"] == pytest.approx(tokens / words)
    assert sum(plotted["pieces_per_word"].values()) == words


def test_tokenizer_table_pairs_every_token_with_its_source(run):
    """Every vocab.txt token against the piece it came from: the most probable piece that converts to it (the
    bert conversion keeps learned tokens in SentencePiece's order, each once), or none; then the table's rows."""
    results = run["results_dir"]
    vocab = (results / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    scores = tokenizer_stats.read_scores(str(results / "tokenizer.vocab"))
    rows = tokenizer_stats.token_sources(vocab, scores)
    source = {}
    for rank, (piece, score) in enumerate(scores):
        source.setdefault(wordpiece_token(piece), (rank, piece, score))
    assert [r[:2] for r in rows] == list(enumerate(vocab))
    ranks = []
    for i, token, piece, score, origin in rows:
        if i < len(CONTROL_SYMBOLS):
            assert (token, piece, origin) == (CONTROL_SYMBOLS[i], None, tokenizer_stats.CONTROL)
        elif token in source:
            assert (piece, score) == source[token][1:] and origin == tokenizer_stats.LEARNED
            ranks.append(source[token][0])
        else:
            assert piece is None and score is None, token
            kind = (tokenizer_stats.PLACEHOLDER if re.fullmatch(r"\[UNUSED_\d+\]", token) else
                    tokenizer_stats.PUNCTUATION_ENTRY if token in PUNCTUATION else tokenizer_stats.CHARACTER_ENTRY)
            assert origin == kind and (kind != tokenizer_stats.CHARACTER_ENTRY or len(token.lstrip("#")) == 1)
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)  # in SentencePiece's order, each piece once
    # The bare ▁ converts to nothing: no row came from it (the old table paired rows by position from there on).
    assert WORD_START not in {r[2] for r in rows} and (WORD_START, ) == tuple(
        p for p, _ in scores if p == WORD_START)
    kinds = collections.Counter(r[4] for r in rows)
    assert kinds[tokenizer_stats.LEARNED] > 0.8 * len(vocab) and kinds[tokenizer_stats.PLACEHOLDER] > 0

    table = html_tables(run["files"]["results/report/tokenizer/summary.html"])
    sample = table["A sample of the tokens and the pieces they came from (the most probable first)"]
    assert len(sample) >= 40 and set(r[4] for r in sample) == set(kinds)
    for cells in sample:
        i = int(cells[0].replace(",", ""))
        assert cells == [format_cell(x) for x in rows[i]], cells
    overview = table_values(run["files"]["results/report/tokenizer/summary.html"])
    assert overview["tokens converted from a SentencePiece piece"] == [f"{kinds[tokenizer_stats.LEARNED]:,}"]
    assert overview["pieces without a vocab.txt entry (the bare ▁, the least probable)"] == [
        f"{len(scores) - kinds[tokenizer_stats.LEARNED]:,}"]


def test_token_sources_of_a_bert_vocabulary_built_by_hand():
    """The bare ▁ second, a piece whose token an earlier piece already gave, the least probable pieces dropped,
    characters and punctuation SentencePiece did not learn appended, two placeholders."""
    pieces = [WORD_START + "the", WORD_START, "s", WORD_START + "a", WORD_START + "##s", ",", "t",
              WORD_START + "h", "e", "h", WORD_START + "he", "es", "ta"]
    scores = [(p, -float(i)) for i, p in enumerate(pieces)]
    counts = {"t": 5, "h": 5, "e": 9, "a": 3, "s": 4, "7": 1}
    size = len(PUNCTUATION) + 12 + 3 + 1 + 6  # 6 characters' forms, 3 learned pieces, <unk>, 6 placeholders
    vocab = bert_vocab(pieces, vocab_size=size, num_placeholders=6, conversion="bert", char_counts=counts,
                       min_char_frequency=0)
    rows = tokenizer_stats.token_sources(vocab, scores)
    learned = {"the": 0, "##s": 2, "a": 3, "##,": 5, "##t": 6, "h": 7, "##e": 8, "##h": 9, "he": 10}
    expected = {token: (pieces[rank], -float(rank), tokenizer_stats.LEARNED) for token, rank in learned.items()}
    expected.update({t: (None, None, tokenizer_stats.CONTROL) for t in CONTROL_SYMBOLS})
    expected.update({t: (None, None, tokenizer_stats.CHARACTER_ENTRY) for t in ["##7", "##a", "7", "e", "s", "t"]})
    expected.update({t: (None, None, tokenizer_stats.PUNCTUATION_ENTRY) for t in PUNCTUATION})
    expected.update({t: (None, None, tokenizer_stats.PLACEHOLDER) for t in ["[UNUSED_0]", "[UNUSED_1]"]})
    assert sorted(vocab) == sorted(expected)
    assert rows == [(i, t, *expected[t]) for i, t in enumerate(vocab)]
    # ▁ (converts to nothing), ▁##s (its token came from s), es and ta (made room): in no row.
    assert tokenizer_stats.source_counts(rows, scores)["SentencePiece pieces without a vocab.txt entry"] == 4
    sample = tokenizer_stats.piece_sample(rows, n=6)
    assert list(sample["vocab.txt"][:4]) == CONTROL_SYMBOLS[:1] + ["the", "##s", "a"]  # 3 most probable
    assert set(sample["from"]) == {r[4] for r in rows} and list(sample["id"]) == sorted(sample["id"])


def test_token_sources_of_the_recipe_conversion():
    """The recipe keeps the bare ▁ as an empty line: it is that row's piece, and the rows after stay paired."""
    pieces = [WORD_START + "the", WORD_START, "s", WORD_START + "a"]
    scores = [(p, -1.0 - i) for i, p in enumerate(pieces)]
    vocab = bert_vocab(pieces, vocab_size=11, num_placeholders=6, conversion="recipe", char_counts={},
                       min_char_frequency=0)
    rows = tokenizer_stats.token_sources(vocab, scores)
    assert [r[1:4] for r in rows[5:9]] == [("the", WORD_START + "the", -1.0), ("", WORD_START, -2.0),
                                           ("##s", "s", -3.0), ("a", WORD_START + "a", -4.0)]
    assert [r[4] for r in rows[9:]] == [tokenizer_stats.PLACEHOLDER] * 2
    with pytest.raises(ValueError, match="same run"):
        tokenizer_stats.token_sources(vocab[:6] + ["cat"], scores)


def test_every_plot_has_its_numbers_in_a_plain_file(run):
    """Beside each SVG, a JSON file with the numbers it shows: in the report, and readable with pandas."""
    results = run["results_dir"]
    for plot in PLOTS:
        svg = run["files"][f"results/report/{plot}.svg"]
        data = json.loads((results / "report" / f"{plot}.json").read_text(encoding="utf-8"))
        assert data == figure_data(svg), plot
        assert json.loads(run["files"][f"results/report/{plot}.json"]) == data, plot
    corpus = json.loads((results / "report" / "corpus" / "line_lengths.json").read_text())
    frame = pd.DataFrame(corpus["counts"], index=corpus["bin_edges"])
    lines = len((results / "proc_dataset.txt").read_text(encoding="utf-8").split("\n")) - 1
    assert frame["proc_dataset.txt"].sum() == lines
    shards = json.loads((results / "report" / "pretraining_data" / "sequence_lengths.json").read_text())
    records = sorted(glob.glob(str(results / "pretraining_data" / "shard_*.tfrecord")))
    assert pd.Series(shards["instances_per_shard"]).to_dict() == {
        os.path.basename(r).split(".")[0]: tfrecord_count(r) for r in records}
    curves = pd.DataFrame(json.loads((results / "report" / "training" / "curves.json").read_text())["loss"])
    manifest = json.loads((results / "trained" / "manifest.json").read_text())
    assert curves.to_dict("records") == [{"step": r["step"], "value": r["loss"]} for r in manifest["losses"]]


def tfrecord_count(path):
    """Records in a TFRecord file, from its framing: length (8 bytes), CRC (4), data, CRC (4)."""
    n = 0
    with open(path, "rb") as f:
        while header := f.read(12):
            (length,) = struct.unpack("<Q", header[:8])
            f.seek(length + 4, os.SEEK_CUR)
            n += 1
    return n


def test_pretraining_section_counts_the_records(run):
    records = sorted(glob.glob(str(run["results_dir"] / "pretraining_data" / "shard_*.tfrecord")))
    counts = {os.path.basename(r).split(".")[0]: tfrecord_count(r) for r in records}
    plotted = figure_data(run["files"]["results/report/pretraining_data/sequence_lengths.svg"])
    assert plotted["instances_per_shard"] == counts
    assert sum(plotted["seq_length_histogram"]) == sum(counts.values())
    table = table_values(run["files"]["results/report/pretraining_data/summary.html"])
    assert table["instances"] == [f"{sum(counts.values()):,}"]
    shares = {k: float(table[k][0].rstrip("%")) for k in table if k.startswith(("replaced", "kept"))}
    assert sum(shares.values()) == pytest.approx(100, abs=0.02)
    assert 70 < shares["replaced by [MASK] (recipe: 80%)"] < 90
    assert 30 < float(table["random next sentence (recipe: about 50%)"][0].rstrip("%")) < 70


def test_training_section_plots_the_manifest(run):
    manifest = json.loads((run["results_dir"] / "trained" / "manifest.json").read_text())
    svg = run["files"]["results/report/training/curves.svg"]
    plotted = figure_data(svg)
    assert plotted["loss"]["value"][-1] == manifest["losses"][-1]["loss"]
    assert plotted["loss"]["step"] == [row["step"] for row in manifest["losses"]]
    for key in ["mlm_accuracy", "nsp_accuracy", "mlm_loss", "nsp_loss"]:
        assert plotted[key]["value"] == [row[key] for row in manifest["losses"]], key
    assert f">{manifest['losses'][-1]['loss']:.4f}<" in svg  # the final loss is written on the plot
    metrics = json.loads((run["results_dir"] / "trained" / "eval_metrics.json").read_text())
    table = table_values(run["files"]["results/report/training/summary.html"])
    assert table["masked-LM accuracy"] == [f"{metrics['masked_lm_accuracy']:.4g}"]
    assert table["next-sentence accuracy"] == [f"{metrics['next_sentence_accuracy']:.4g}"]
    assert table["sequences per second (last session)"] == [f"{manifest['sequences_per_second']:.4g}"]


def test_rule_graph_shows_the_whole_chain(run):
    """Snakemake's rule graph in the report: `shard` is a checkpoint whose finished job Snakemake leaves out of
    the graph unless a rule names its folder as input (issue 14)."""
    spec = script_json(run["page"], "rulegraph_spec")
    values = {d["name"]: d["values"] for d in spec["data"]}
    rules = [node["rule"] for node in values["node-data"]]
    edges = {(rules[link["source"]], rules[link["target"]])
             for link in values["link-data"] + values["link-data-direct"]}
    chain = ["download", "subset", "normalize", "shard", "pretraining_data", "train"]
    assert set(chain) <= set(rules)
    assert set(zip(chain, chain[1:])) <= edges


def test_training_does_not_request_the_report(run):
    """Neither target plans a report job, even with every job of the run planned again (--forceall)."""
    targets = ["data", "train"]
    with concurrent.futures.ThreadPoolExecutor(len(targets)) as pool:  # dry-runs: a held lock only warns
        plans = pool.map(lambda target: planned_jobs(run["folder"], target, "--forceall"), targets)
    for target, jobs in zip(targets, plans):
        assert jobs and not REPORT_RULES & set(jobs), (target, jobs)


def test_file_stats_agrees_with_python_on_awkward_text(tmp_path):
    text = "Ünïcödé line\r\n\n   \nplain words here\n\u2581piece and ## marks\nno newline at the end"
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    lines = text.split("\n")
    chars = [len(line.rstrip("\r")) for line in lines]
    for block in (7, 1 << 20):  # block boundaries inside lines, and one block
        stats = file_stats(str(path), max_length=10, block_bytes=block)
        assert stats["lines"] == len(lines) and stats["characters"] == sum(chars)
        assert stats["words"] == sum(len(line.split()) for line in lines)
        assert stats["empty_lines"] == 2 and stats["documents"] == 2
        assert stats["longest_line"] == max(chars)
        assert stats["length_histogram"][10] == sum(c >= 10 for c in chars)


def test_training_section_of_a_run_with_nothing_left_to_train(tmp_path):
    # A re-run past num_train_steps logs no step: the plots say so instead of failing.
    manifest = {"final_step": 40, "start_step": 40, "batch_size": 16, "losses": [], "sequences_per_second": None}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "eval.json").write_text(json.dumps({"masked_lm_accuracy": 0.25, "examples": 10}))
    data = training_plots.main(
        manifest_path=str(tmp_path / "manifest.json"), metrics_path=str(tmp_path / "eval.json"),
        plot_path=str(tmp_path / "c.svg"), table_path=str(tmp_path / "t.html"), json_path=str(tmp_path / "s.json"),
    )
    assert data == {}
    assert figure_data((tmp_path / "c.svg").read_text()) == {"resumed_at": [], "phase_starts": []}
    assert ">not logged<" in (tmp_path / "c.svg").read_text()
    assert table_values((tmp_path / "t.html").read_text())["masked-LM accuracy"] == ["0.25"]

