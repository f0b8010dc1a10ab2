import subprocess

from bert_pretraining.examples.shard import remove_stale_outputs, split_lines


def test_names_and_contents_match_coreutils_split(tmp_path):
    src = tmp_path / "proc_dataset.txt"
    src.write_bytes(b"".join(b"line %d\n" % i if i % 4 else b"\n" for i in range(23)) + b"no newline")
    names = split_lines(src, tmp_path / "shards", lines_per_shard=5)
    assert names == [f"shard_{i:04d}" for i in range(5)]

    ref = tmp_path / "ref"
    ref.mkdir()
    subprocess.run(["split", "-a", "4", "-l", "5", "-d", str(src), str(ref / "shard_")], check=True)
    assert sorted(p.name for p in ref.iterdir()) == names
    for name in names:
        assert (tmp_path / "shards" / name).read_bytes() == (ref / name).read_bytes()


def test_fewer_shards_replace_the_folder_and_stale_outputs_go(tmp_path):
    src = tmp_path / "proc_dataset.txt"
    src.write_text("".join(f"{i}\n" for i in range(10)))
    split_lines(src, tmp_path / "shards", lines_per_shard=2)
    records = tmp_path / "pretraining_data"
    records.mkdir()
    for i in range(5):
        (records / f"shard_{i:04d}.tfrecord").write_text("x")
    names = split_lines(src, tmp_path / "shards", lines_per_shard=4)
    remove_stale_outputs(names, [records])
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == ["shard_0000", "shard_0001", "shard_0002"]
    assert sorted(p.name for p in records.iterdir()) == [f"shard_000{i}.tfrecord" for i in range(3)]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
