"""Export the trained model for use elsewhere.

(a) a keras-hub preset: keras_hub.models.BertBackbone.from_preset(dir), keras_hub.models.BertTokenizer.from_preset(dir)
(b) a Hugging Face dir: transformers.BertForPreTraining.from_pretrained(dir), BertTokenizer.from_pretrained(dir)
(c) google-research/bert's TensorFlow checkpoint (bert_model.ckpt.*, bert_config.json, vocab.txt), the recipe's own
    format: its run_classifier.py --init_checkpoint, and converters written for it, start from this.

keras-hub's BERT computes GELU with the tanh approximation (as google-research/bert did) and layer norms with
epsilon 1e-12; the Hugging Face config says so ("gelu_new", layer_norm_eps), so both give the same outputs.

The exports hold as many positions as the longest training sequences (pretraining_data.max_seq_length, or
phase2.max_seq_length with a second phase), not bert_config's max_position_embeddings: the others were never
trained.

Neither exported tokenizer can carry BERT's max_input_chars_per_word (200): keras-hub's maps a word over 100 UTF-8
bytes to [UNK] and transformers' BertTokenizer one over 100 characters, fixed by the libraries whatever the saved
files say (tests/library/test_export.py checks both, and the setting a Hugging Face user can change after loading).
"""

import json
import logging
import os
import shutil

import numpy as np

from bert_pretraining.atomic import atomic_dir
from bert_pretraining.modeling.bert_config import KEYS, read_bert_config
from bert_pretraining.text.wordpiece_tokenizer import SPECIAL_TOKENS

log = logging.getLogger("export")
# transformers' names for the control symbols: pad_token, unk_token, cls_token, sep_token, mask_token.
HUGGINGFACE_SPECIAL_TOKENS = {f"{role}_token": token for role, token in SPECIAL_TOKENS._asdict().items()}


def load_trained(model_dir):
    """The pre-training model that train.py left in `model_dir`, and its BERT config."""
    from bert_pretraining.modeling import model as bert

    config = read_bert_config(os.path.join(model_dir, "bert_config.json"))
    pretrainer = bert.build_pretrainer(config)
    pretrainer.load_weights(os.path.join(model_dir, "pretrainer.weights.h5"))
    return pretrainer, config


def export_keras_hub(pretrainer, vocab_path, out_dir, *, do_lower_case, strip_accents):
    """Backbone weights and config plus the WordPiece tokenizer, as a keras-hub preset folder.

    The tokenizer lower-cases and strips accents exactly as the vocabulary and the pre-training data did.
    keras-hub fixes BERT's [CLS], [SEP], [PAD] and [MASK] by name; they are SPECIAL_TOKENS' (tests/library/test_export.py).
    """
    import keras_hub

    with atomic_dir(out_dir) as tmp:
        pretrainer.backbone.save_to_preset(tmp)
        keras_hub.models.BertTokenizer(
            vocabulary=vocab_path, lowercase=do_lower_case, strip_accents=strip_accents, oov_token=SPECIAL_TOKENS.unk
        ).save_to_preset(tmp)


def huggingface_state_dict(pretrainer):
    """BertForPreTraining's parameter names -> float32 arrays (torch Linear weights are (out, in))."""
    backbone = pretrainer.backbone
    get = lambda variable: np.asarray(variable.numpy(), np.float32)  # noqa: E731
    dense = lambda layer: (
        get(layer.kernel).reshape(-1, get(layer.kernel).shape[-1]).T,
        get(layer.bias).reshape(-1),
    )  # noqa: E731
    state = {}

    def put(prefix, weight_bias):
        state[f"{prefix}.weight"], state[f"{prefix}.bias"] = weight_bias

    def norm(layer):
        return get(layer.gamma), get(layer.beta)

    state["bert.embeddings.word_embeddings.weight"] = get(backbone.get_layer("token_embedding").embeddings)
    state["bert.embeddings.position_embeddings.weight"] = get(
        backbone.get_layer("position_embedding").position_embeddings
    )
    state["bert.embeddings.token_type_embeddings.weight"] = get(backbone.get_layer("segment_embedding").embeddings)
    put("bert.embeddings.LayerNorm", norm(backbone.get_layer("embeddings_layer_norm")))
    hidden = backbone.hidden_dim
    for i in range(backbone.num_layers):
        block = backbone.get_layer(f"transformer_layer_{i}")
        attention = block._self_attention_layer
        prefix = f"bert.encoder.layer.{i}"
        # keras-hub keeps q/k/v kernels as (hidden, heads, head_dim) and the output kernel as (heads, head_dim, hidden).
        for name, layer in (
            ("query", attention.query_dense),
            ("key", attention.key_dense),
            ("value", attention.value_dense),
        ):
            put(
                f"{prefix}.attention.self.{name}",
                (get(layer.kernel).reshape(hidden, hidden).T, get(layer.bias).reshape(-1)),
            )
        out = attention.output_dense
        put(f"{prefix}.attention.output.dense", (get(out.kernel).reshape(hidden, hidden).T, get(out.bias)))
        put(f"{prefix}.attention.output.LayerNorm", norm(block._self_attention_layer_norm))
        put(f"{prefix}.intermediate.dense", dense(block._feedforward_intermediate_dense))
        put(f"{prefix}.output.dense", dense(block._feedforward_output_dense))
        put(f"{prefix}.output.LayerNorm", norm(block._feedforward_layer_norm))
    put("bert.pooler.dense", dense(backbone.get_layer("pooled_dense")))
    mlm = pretrainer.get_layer("mlm_head")
    put("cls.predictions.transform.dense", dense(mlm._intermediate_dense))
    put("cls.predictions.transform.LayerNorm", norm(mlm._intermediate_layer_norm))
    state["cls.predictions.bias"] = get(mlm._bias)  # the decoder's weight is tied to word_embeddings
    put("cls.seq_relationship", dense(pretrainer.get_layer("nsp_head")))
    # Transposes are strided views; safetensors writes raw buffers.
    return {name: np.ascontiguousarray(array) for name, array in state.items()}


def huggingface_config(bert_config):
    return {
        "architectures": ["BertForPreTraining"],
        "model_type": "bert",
        **{key: bert_config[key] for key in KEYS},  # BertConfig takes BERT's names; hidden_act is replaced:
        "hidden_act": "gelu_new",  # the tanh approximation; Hugging Face's "gelu" is the exact erf form
        "layer_norm_eps": 1e-12,
        "pad_token_id": SPECIAL_TOKENS.index(SPECIAL_TOKENS.pad),  # vocab.txt starts with SPECIAL_TOKENS
        "position_embedding_type": "absolute",
        "tie_word_embeddings": True,
    }


def export_huggingface(pretrainer, bert_config, vocab_path, out_dir, *, max_seq_length, do_lower_case,
                       strip_accents):
    """config.json, model.safetensors, vocab.txt and a BertTokenizer config with the pipeline's casing and accents."""
    from safetensors.numpy import save_file

    with atomic_dir(out_dir) as tmp:
        save_file(huggingface_state_dict(pretrainer), os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        write_json(os.path.join(tmp, "config.json"), huggingface_config(bert_config))
        shutil.copy(vocab_path, os.path.join(tmp, "vocab.txt"))
        write_json(os.path.join(tmp, "special_tokens_map.json"), HUGGINGFACE_SPECIAL_TOKENS)
        write_json(
            os.path.join(tmp, "tokenizer_config.json"),
            {
                "tokenizer_class": "BertTokenizer",
                "do_lower_case": do_lower_case,
                "strip_accents": strip_accents,
                "model_max_length": max_seq_length,
                **HUGGINGFACE_SPECIAL_TOKENS,
            },
        )


def google_bert_name(huggingface_name):
    """google-research/bert's variable name for a BertForPreTraining parameter, and whether its array is the
    transpose. Hugging Face's names are google-research's with `.` for `/`, `layer.N` for `layer_N` and torch's
    weight/bias (the rules transformers' load_tf_weights_in_bert reads them back by)."""
    *path, leaf = huggingface_name.replace("layer.", "layer_").split(".")
    if path[-1] == "LayerNorm":
        leaf = {"weight": "gamma", "bias": "beta"}[leaf]
    elif path[-1].endswith("_embeddings"):  # a bare table, not a layer's `weight`
        return "/".join(path), False
    elif huggingface_name == "cls.predictions.bias":
        leaf = "output_bias"
    elif path == ["cls", "seq_relationship"]:  # two raw variables, the weights already [2, hidden] as torch's
        leaf = {"weight": "output_weights", "bias": "output_bias"}[leaf]
    elif leaf == "weight":
        return "/".join(path + ["kernel"]), True  # tf.layers' kernel is (in, out), torch's weight (out, in)
    return "/".join(path + [leaf]), False


def google_bert_variables(pretrainer):
    """google-research/bert's variable names -> float32 arrays, from the Hugging Face mapping (one home for it)."""
    variables = {}
    for name, array in huggingface_state_dict(pretrainer).items():
        google_name, transposed = google_bert_name(name)
        variables[google_name] = np.ascontiguousarray(array.T) if transposed else array
    return variables


def export_google_bert(pretrainer, bert_config, vocab_path, out_dir):
    """bert_model.ckpt.{index,data-00000-of-00001}, bert_config.json and vocab.txt, as google-research/bert
    published its models: its modeling.py and run_pretraining.py restore every variable by these names.

    SaveV2 is the op tf.compat.v1's Saver writes with; called directly it needs no graph or session, and it writes
    no `checkpoint` state file, which would name the temporary folder. hidden_act is "gelu": google-research's
    gelu is the tanh approximation the project trains with, and its get_activation knows no "gelu_new"."""
    import tensorflow as tf

    variables = google_bert_variables(pretrainer)
    with atomic_dir(out_dir) as tmp:
        names = sorted(variables)
        tf.raw_ops.SaveV2(
            prefix=os.path.join(tmp, "bert_model.ckpt"),
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            tensors=[tf.constant(variables[name]) for name in names],
        )
        write_json(os.path.join(tmp, "bert_config.json"), {**{key: bert_config[key] for key in KEYS},
                                                           "hidden_act": "gelu"})
        shutil.copy(vocab_path, os.path.join(tmp, "vocab.txt"))


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=2)


def trained_positions_only(pretrainer, config, positions):
    """The pretrainer and config with position embeddings 0..positions-1 only: the ones past the longest sequence
    any training phase saw keep their random initial values, and an export that claimed them would hand a
    fine-tuning user noise there, silently."""
    if positions >= config["max_position_embeddings"]:
        return pretrainer, config
    from bert_pretraining.modeling import model as bert

    log.warning(
        "exporting the %d trained positions of bert_config's %d (phase2 trains longer sequences)",
        positions,
        config["max_position_embeddings"],
    )
    config = dict(config, max_position_embeddings=positions)
    short = bert.build_pretrainer(config)
    for target, source in zip(short.weights, pretrainer.weights, strict=True):
        value = source.numpy()
        if tuple(target.shape) != value.shape:  # the position embeddings alone
            assert target.path == "position_embedding/embeddings", target.path
            value = value[:positions]
        target.assign(value)
    return short, config


def main(*, model_dir, keras_hub_dir, huggingface_dir, google_bert_dir, max_seq_length, do_lower_case,
         strip_accents):
    """`max_seq_length`: the longest sequences training saw (the longest phase's), the positions exported."""
    pretrainer, config = trained_positions_only(*load_trained(model_dir), max_seq_length)
    vocab = os.path.join(model_dir, "vocab.txt")
    export_keras_hub(pretrainer, vocab, keras_hub_dir, do_lower_case=do_lower_case, strip_accents=strip_accents)
    export_huggingface(pretrainer, config, vocab, huggingface_dir, max_seq_length=max_seq_length,
                       do_lower_case=do_lower_case, strip_accents=strip_accents)
    export_google_bert(pretrainer, config, vocab, google_bert_dir)
