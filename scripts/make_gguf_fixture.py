"""GGUF copies of the tiny Llama and Qwen2 fixtures, written by llama.cpp's own converter
(convert_hf_to_gguf.py), for tests/decoder_parity.rs: the Rust loader must undo what the
converter does (Llama's q/k rows reordered for llama.cpp's RoPE, Llama 3.1's RoPE scaling turned
into a `rope_freqs.weight` tensor, its own tensor names) and give transformers' logits again.

Only the vocabulary is ours: the fixtures' word-level tokenizer is none the converter reads, so
`set_vocab` writes 97 byte-level BPE tokens (three control tokens, eight letters, their pairs,
some triples, with the merges that build them; the tokenizer conversion of real vocabularies
is checked against llama.cpp's own vocabulary files, see scripts/gguf-vocab-check.sh).
Everything else is the converter's code, unchanged.

    pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d /tmp/lcp
    tar xzf /tmp/lcp/llama_cpp_python-0.3.36.tar.gz -C /tmp/lcp
    /tmp/venv/bin/pip install torch transformers sentencepiece safetensors numpy
    /tmp/venv/bin/python scripts/make_gguf_fixture.py \
        /tmp/lcp/llama_cpp_python-0.3.36/vendor/llama.cpp
"""
import sys
from pathlib import Path

llama_cpp = Path(sys.argv[1]).resolve()
fixtures = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
sys.path.insert(0, str(llama_cpp / "gguf-py"))
sys.path.insert(0, str(llama_cpp))

import gguf  # noqa: E402
import convert_hf_to_gguf  # noqa: E402
from conversion.llama import LlamaModel  # noqa: E402
from conversion.qwen import Qwen2Model  # noqa: E402


def fixture_vocab(self):
    n = self.hparams["vocab_size"]
    w = self.gguf_writer
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    chars = list("abcdefgh")
    pairs = [a + b for a in chars for b in chars]
    triples = [p + c for p in pairs for c in chars][: n - 3 - len(chars) - len(pairs)]
    tokens = ["<pad>", "<eos>", "<bos>"] + chars + pairs + triples
    assert len(tokens) == n
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if i < 3 else gguf.TokenType.NORMAL for i in range(n)])
    w.add_token_merges([f"{p[0]} {p[1]}" for p in pairs] + [f"{t[:2]} {t[2]}" for t in triples])
    w.add_bos_token_id(self.hparams["bos_token_id"])
    w.add_eos_token_id(self.hparams["eos_token_id"])
    w.add_pad_token_id(self.hparams["pad_token_id"])


LlamaModel.set_vocab = fixture_vocab
Qwen2Model.set_vocab = fixture_vocab

for name in ["llama-tiny", "qwen2-tiny"]:
    out = fixtures / name / "model.gguf"
    sys.argv = ["convert_hf_to_gguf.py", str(fixtures / name), "--outtype", "f32", "--outfile", str(out)]
    convert_hf_to_gguf.main()
    print("wrote", out, out.stat().st_size, "bytes")
