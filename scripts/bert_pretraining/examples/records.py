"""The pre-training record format: the one contract between the example writer and every reader.

A record file is TFRecord framing around serialized `tf.train.Example`s, either plain or gzip-compressed as a
whole (TensorFlow's compression_type "GZIP"). Every Example holds the seven fixed-length features of LAYOUT;
three of them are named after one of two schemes (FEATURE_NAMES). The writer (pretraining_data.py) encodes
through `encode_examples`, `tfrecord_frames` and `open_writer`; readers (input_pipeline.py) learn a file's
compression, naming scheme and lengths from the file itself (`sniff`), so they cannot disagree with what
was written. Neither side needs TensorFlow here: the encoder is numpy, the sniffer plain Python.
"""

import contextlib
import gzip
import struct
import zlib
from dataclasses import dataclass

import google_crc32c
import numpy as np

from bert_pretraining.logs import PipelineError

# pretraining_data.compression -> TFRecordDataset's compression_type.
COMPRESSIONS = {"none": "", "gzip": "GZIP"}
# pretraining_data.feature_names -> the names of the three features that differ between schemes, keyed by the
# model input they feed (model.py); the other features are named the same in both.
FEATURE_NAMES = {
    "bert": {"token_ids": "input_ids", "padding_mask": "input_mask", "segment_ids": "segment_ids"},
    "tf2": {"token_ids": "input_word_ids", "padding_mask": "input_mask", "segment_ids": "input_type_ids"},
}
# Every feature, in the order written: (role, value type, length), the length being "seq" (max_seq_length),
# "pred" (max_predictions_per_seq) or a number.
LAYOUT = (
    ("token_ids", "int", "seq"),
    ("segment_ids", "int", "seq"),
    ("padding_mask", "int", "seq"),
    ("masked_lm_positions", "int", "pred"),
    ("masked_lm_ids", "int", "pred"),
    ("masked_lm_weights", "float", "pred"),
    ("next_sentence_labels", "int", 1),
)
GZIP_MAGIC = b"\x1f\x8b"


class RecordError(PipelineError, ValueError):
    """A setting no reader knows, or a file that is not what a reader expects."""


def check_format(*, compression, feature_names):
    """Raise one clear line for a compression or naming scheme that no reader knows."""
    if compression not in COMPRESSIONS:
        raise RecordError(
            f"pretraining_data.compression must be one of {', '.join(COMPRESSIONS)}, got {compression!r}"
        )
    if feature_names not in FEATURE_NAMES:
        raise RecordError(
            f"pretraining_data.feature_names must be one of {', '.join(FEATURE_NAMES)}, got {feature_names!r}"
        )


def features(*, feature_names, max_seq_length, max_predictions_per_seq):
    """[(feature name, role, "int" | "float", length)] of one Example, in the order written."""
    names = names_by_role(feature_names)
    sizes = {"seq": max_seq_length, "pred": max_predictions_per_seq}
    return [(names[role], role, kind, sizes.get(size, size)) for role, kind, size in LAYOUT]


def names_by_role(feature_names):
    """{role: feature name} of every feature."""
    return {role: FEATURE_NAMES[feature_names].get(role, role) for role, _, _ in LAYOUT}


# ---- writing: protobuf encoding of whole batches with numpy, TFRecord framing, compression -------------------


def _vlen(x):
    """Bytes of the protobuf varint of each non-negative value."""
    x = np.asarray(x, np.int64)
    return 1 + (x >= 1 << 7) + (x >= 1 << 14) + (x >= 1 << 21) + (x >= 1 << 28)


def _varint(values):
    """Protobuf varints of non-negative ints, (N,) or (N, K) -> (bytes of all rows in order, bytes per row)."""
    v = np.asarray(values, np.int64)
    if v.ndim == 1:
        v = v[:, None]
    if v.size and v.max() < 128:  # the usual case for masks, segment ids, positions: one byte each
        return v.astype(np.uint8).ravel(), np.full(len(v), v.shape[1], np.int64)
    if v.size and v.max() >= 1 << 35:
        raise ValueError("value too large for this encoder")
    nbytes = _vlen(v)
    width = int(nbytes.max())
    out = np.empty(v.shape + (width,), np.uint8)
    for b in range(width):
        more = np.where(b < nbytes - 1, 0x80, 0)
        out[..., b] = ((v >> (7 * b)) & 0x7F) | more
    keep = np.arange(width) < nbytes[..., None]
    return out[keep], nbytes.sum(axis=1)


def _varint_bytes(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _join(pieces, n):
    """Concatenate per-row pieces; a piece is constant bytes (same in every row) or (flat bytes, bytes per row)."""
    lens = np.empty((n, len(pieces)), np.int64)
    for p, piece in enumerate(pieces):
        lens[:, p] = len(piece) if isinstance(piece, bytes) else piece[1]
    row_len = lens.sum(axis=1)
    starts = np.cumsum(lens, axis=1) - lens + (np.cumsum(row_len) - row_len)[:, None]
    out = np.empty(int(row_len.sum()), np.uint8)
    for p, piece in enumerate(pieces):
        if isinstance(piece, bytes):
            if piece:
                out[starts[:, p, None] + np.arange(len(piece))] = np.frombuffer(piece, np.uint8)
            continue
        flat, plen = piece
        if n and plen.min() == plen.max():  # fixed width: a 2-D scatter, no repeat needed
            out[starts[:, p, None] + np.arange(int(plen[0]))] = flat.reshape(n, -1)
        else:
            src = np.cumsum(plen) - plen
            out[np.repeat(starts[:, p] - src, plen) + np.arange(len(flat))] = flat
    return out, row_len


def _feature_pieces(name, kind, payload):
    """Pieces of one `Features.feature` map entry: name -> Feature(int64_list | float_list)."""
    flat, plen = payload
    key = name.encode()
    list_len = 1 + _vlen(plen) + plen  # Int64List / FloatList: field 1, packed
    feature_len = 1 + _vlen(list_len) + list_len  # Feature: field 3 (int64_list) or 2 (float_list)
    entry_len = 1 + len(_varint_bytes(len(key))) + len(key) + 1 + _vlen(feature_len) + feature_len
    pieces = [
        b"\x0a",
        _varint(entry_len),
        b"\x0a" + _varint_bytes(len(key)) + key + b"\x12",
        _varint(feature_len),
        b"\x1a" if kind == "int" else b"\x12",
        _varint(list_len),
        b"\x0a",
        _varint(plen),
        (flat, plen),
    ]
    return pieces, 1 + _vlen(entry_len) + entry_len


def encode_examples(columns):
    """Serialized `tf.train.Example`s for a batch: columns is an ordered list of (name, "int"|"float", (N, K) array).

    Returns (all examples' bytes as one uint8 array, bytes per example)."""
    n = len(columns[0][2])
    pieces = []
    total = np.zeros(n, np.int64)
    for name, kind, values in columns:
        if kind == "int":
            payload = _varint(values)
        else:
            raw = np.ascontiguousarray(values, dtype="<f4").view(np.uint8).reshape(n, -1)
            payload = (raw.ravel(), np.full(n, raw.shape[1], np.int64))
        feature_pieces, item_len = _feature_pieces(name, kind, payload)
        pieces.extend(feature_pieces)
        total += item_len
    return _join([b"\x0a", _varint(total)] + pieces, n)  # Example: field 1 (features)


def masked_crc(data):
    """TFRecord's masked CRC32C."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_frames(flat, lengths):
    """TFRecord framing: uint64 length, masked CRC32C of the length, data, masked CRC32C of the data."""
    blob = flat.tobytes()
    parts = []
    header = {}
    offset = 0
    for length in lengths.tolist():
        head = header.get(length)
        if head is None:
            size = struct.pack("<Q", length)
            head = header[length] = size + struct.pack("<I", masked_crc(size))
        data = blob[offset : offset + length]
        parts.append(head)
        parts.append(data)
        parts.append(struct.pack("<I", masked_crc(data)))
        offset += length
    return b"".join(parts)


@contextlib.contextmanager
def open_writer(path, *, compression):
    """A binary file to write framed records to; gzip without a name or time in its header, so equal records
    give equal bytes."""
    with open(path, "wb") as raw:
        if compression == "gzip":
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as out:
                yield out
        else:
            yield raw


# ---- reading: what a file holds, from its first bytes --------------------------------------------------------


@dataclass(frozen=True)
class Format:
    """What a record file holds; the last three are None for a file without records."""

    compression: str
    feature_names: str | None
    max_seq_length: int | None
    max_predictions_per_seq: int | None


def _proto_fields(buf):
    """(field number, wire type, value) of a protobuf message: bytes for length-delimited and fixed fields."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = buf[pos : pos + size], pos + size
        else:
            raise ValueError(f"protobuf wire type {wire}")
        yield field, wire, value


def _read_varint(buf, pos):
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated protobuf")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def example_features(data):
    """{name: ("int" | "float" | "bytes", number of values)} of one serialized tf.train.Example."""
    found = {}
    for field, _, features in _proto_fields(data):
        if field != 1:
            continue
        for entry_field, _, entry in _proto_fields(features):
            if entry_field != 1:
                continue
            name, feature = "", b""
            for f, _, value in _proto_fields(entry):
                if f == 1:
                    name = value.decode()
                elif f == 2:
                    feature = value
            for kind_field, _, values in _proto_fields(feature):  # 1 bytes_list, 2 float_list, 3 int64_list
                kind = {1: "bytes", 2: "float", 3: "int"}[kind_field]
                count = 0
                for _, wire, value in _proto_fields(values):
                    if kind == "bytes" or wire != 2:
                        count += 1  # one value per field
                    elif kind == "float":
                        count += len(value) // 4  # packed floats
                    else:
                        count += sum(1 for byte in value if byte < 0x80)  # packed varints: one end byte each
                found[name] = (kind, count)
    return found


def _reader(read, first, compression):
    """`take(n)`: the next n bytes of the file's content, inflated if gzip."""
    if compression == "none":
        pending = bytearray(first)
        inflate = None
    else:
        inflate = zlib.decompressobj(wbits=31)
        pending = bytearray(inflate.decompress(first))

    def take(n):
        while len(pending) < n and not (inflate and inflate.eof):
            chunk = read(1 << 16)
            if not chunk:
                if inflate:
                    raise EOFError("the gzip stream ends early")
                break
            pending.extend(inflate.decompress(chunk) if inflate else chunk)
        out = bytes(pending[:n])
        del pending[:n]
        return out

    return take


def sniff(read, name):
    """The Format of a record file, from `read(n)` (its next n raw bytes, from the start) and no more of it than
    its first record; `name` is for errors. Plain TFRecord is told from gzip by the CRC of the first length."""
    head = read(12)
    if len(head) == 12 and struct.unpack("<I", head[8:])[0] == masked_crc(head[:8]):
        compression = "none"
    elif head.startswith(GZIP_MAGIC):
        compression = "gzip"
    elif not head:
        return Format("none", None, None, None)
    else:
        raise RecordError(f"{name} is not a TFRecord file, plain or gzip-compressed")
    take = _reader(read, head, compression)
    try:
        header = take(12)
        if not header:
            return Format(compression, None, None, None)
        if len(header) < 12 or struct.unpack("<I", header[8:])[0] != masked_crc(header[:8]):
            raise RecordError(f"{name}: the first record's header is corrupt")
        (length,) = struct.unpack("<Q", header[:8])
        data = take(length + 4)
    except (EOFError, zlib.error) as e:
        raise RecordError(f"{name}: the first record is truncated or corrupt ({e})") from None
    if len(data) < length + 4 or struct.unpack("<I", data[length:])[0] != masked_crc(data[:length]):
        raise RecordError(f"{name}: the first record is truncated or corrupt")
    try:
        found = example_features(data[:length])
    except (ValueError, KeyError, UnicodeDecodeError):
        raise RecordError(f"{name}: the first record is not a tf.train.Example") from None
    for scheme, names in FEATURE_NAMES.items():
        if names["token_ids"] in found:
            break
    else:
        raise RecordError(
            f"{name}: its records hold {', '.join(sorted(found))}, none of the token-id features "
            f"{', '.join(names['token_ids'] for names in FEATURE_NAMES.values())} of pre-training examples"
        )
    seq = found[FEATURE_NAMES[scheme]["token_ids"]][1]
    pred = found.get("masked_lm_positions", (None, 0))[1]
    for feature, _, kind, size in features(feature_names=scheme, max_seq_length=seq, max_predictions_per_seq=pred):
        if found.get(feature) != (kind, size):
            raise RecordError(
                f"{name}: feature {feature} is {found.get(feature, 'missing')}, but a pre-training example with "
                f"{seq} token ids needs ({kind!r}, {size})"
            )
    return Format(compression, scheme, seq, pred)
