"""English number names into French ones: the paper's machine-translation setting at a size
a CPU trains in minutes (extra `huggingface`).

The source is `num2words(n, lang="en")` ("two thousand and twenty-one"), the target
`num2words(n, lang="fr")` ("deux mille vingt et un"), for whole numbers below `HIGH`. The
numbers are split once, with a fixed seed, into disjoint training, validation and test sets,
so the model must compose translations of numbers it never saw. Everything is made here:
a word-level tokenizer trained with `tokenizers` on the training sentences (one vocabulary
for both languages), and a small BART (`transformers.BartConfig`, randomly initialised);
nothing is downloaded. Translations are generated greedily and scored with
`sacrebleu.corpus_bleu`: the population maximises validation BLEU, as the paper did, and
test BLEU is reported apart.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    import sacrebleu
    import torch
    import transformers
    from num2words import num2words
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the translation demo needs transformers, tokenizers, sacrebleu and "
                      "num2words: pip install 'popbt[huggingface]'") from exc

HIGH = 10_000
SIZES = {"train": 3000, "validation": 300, "test": 1000}
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
PAD, BOS, EOS, UNK = range(len(SPECIALS))
_GLUED = re.compile(r" ?- ?")  # French compounds: "quatre-vingt-dix"

Pair = tuple[str, str]


@dataclass(frozen=True)
class Corpus:
    """(English, French) sentence pairs of disjoint sets of numbers."""

    train: tuple[Pair, ...]
    validation: tuple[Pair, ...]
    test: tuple[Pair, ...]


def pair(number: int) -> Pair:
    """The English and French names of `number`.

    Examples:
        >>> pair(2021)
        ('two thousand and twenty-one', 'deux mille vingt et un')
    """
    return num2words(number, lang="en"), num2words(number, lang="fr")


@functools.cache
def corpus(seed: int = 0) -> Corpus:
    """`SIZES` pairs per split, of numbers below `HIGH` drawn without replacement."""
    numbers = np.random.default_rng(seed).permutation(HIGH)
    splits, start = {}, 0
    for name, size in SIZES.items():
        splits[name] = tuple(pair(int(n)) for n in numbers[start:start + size])
        start += size
    return Corpus(**splits)


@functools.cache
def tokenizer(seed: int = 0) -> Tokenizer:
    """A word-level tokenizer of the training sentences of `corpus(seed)`, both languages;
    words and punctuation ("-", ",") are tokens; ids 0-3 are `SPECIALS`."""
    tok = Tokenizer(models.WordLevel(unk_token=SPECIALS[UNK]))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Punctuation("isolated")])
    tok.train_from_iterator((s for p in corpus(seed).train for s in p),
                            trainers.WordLevelTrainer(special_tokens=list(SPECIALS)))
    return tok


def encode(tok: Tokenizer, text: str) -> list[int]:
    """The ids of `text`, then the end of sentence."""
    return [*tok.encode(text).ids, EOS]


def decode(tok: Tokenizer, ids: Sequence[int]) -> str:
    """The sentence of `ids` up to the first end of sentence, special ids (and negative ones:
    padding) left out.

    Examples:
        >>> tok = tokenizer()
        >>> decode(tok, encode(tok, "quatre-vingt-dix mille, un"))
        'quatre-vingt-dix mille, un'
    """
    words = []
    for i in (int(i) for i in ids):
        if i == EOS:
            break
        if i >= len(SPECIALS):
            words.append(str(tok.id_to_token(i)))
    return _GLUED.sub("-", " ".join(words)).replace(" ,", ",")


def dataset(pairs: Sequence[Pair], tok: Tokenizer) -> list[dict[str, list[int]]]:
    """`pairs` as the Trainer's examples: `input_ids` (English) and `labels` (French)."""
    return [{"input_ids": encode(tok, en), "labels": encode(tok, fr)} for en, fr in pairs]


def collate(examples: Sequence[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
    """A batch: inputs padded with `PAD` and their attention mask, labels padded with -100
    (ignored by the loss), and the decoder's inputs (the labels after `BOS`)."""
    source = max(len(e["input_ids"]) for e in examples)
    target = max(len(e["labels"]) for e in examples)
    ids = torch.tensor([e["input_ids"] + [PAD] * (source - len(e["input_ids"]))
                        for e in examples])
    labels = [e["labels"] + [-100] * (target - len(e["labels"])) for e in examples]
    decoder = [[BOS] + [t if t >= 0 else PAD for t in row[:-1]] for row in labels]
    return {"input_ids": ids, "attention_mask": (ids != PAD).long(),
            "labels": torch.tensor(labels), "decoder_input_ids": torch.tensor(decoder)}


def model(vocab_size: int, *, d_model: int = 64, layers: int = 2, heads: int = 4,
          **config: Any) -> transformers.BartForConditionalGeneration:
    """A small BART, randomly initialised (seed torch first), generating greedily; `config`
    sets more `BartConfig` values (`dropout`, `attention_dropout`, ...)."""
    settings = {"vocab_size": vocab_size, "d_model": d_model, "encoder_layers": layers,
                "decoder_layers": layers, "encoder_attention_heads": heads,
                "decoder_attention_heads": heads, "encoder_ffn_dim": 4 * d_model,
                "decoder_ffn_dim": 4 * d_model, "max_position_embeddings": 64,
                "pad_token_id": PAD, "bos_token_id": BOS, "eos_token_id": EOS,
                "decoder_start_token_id": BOS, "forced_eos_token_id": None, **config}
    built = transformers.BartForConditionalGeneration(transformers.BartConfig(**settings))
    generation = built.generation_config
    generation.num_beams, generation.do_sample, generation.max_length = 1, False, 24
    generation.forced_eos_token_id = generation.forced_bos_token_id = None
    return built


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0-100) of `hypotheses` against one reference each (sacreBLEU, 13a).

    Examples:
        >>> round(bleu(["deux mille vingt et un"], ["deux mille vingt et un"]), 6)
        100.0
    """
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


def metrics(tok: Tokenizer) -> Any:
    """A Trainer `compute_metrics` for generated ids: `bleu`, and `exact` (the fraction of
    sentences translated exactly)."""

    def compute(prediction: transformers.EvalPrediction) -> dict[str, float]:
        hypotheses = [decode(tok, row) for row in np.asarray(prediction.predictions)]
        references = [decode(tok, row) for row in np.asarray(prediction.label_ids)]
        exact = np.mean([h == r for h, r in zip(hypotheses, references, strict=True)])
        return {"bleu": bleu(hypotheses, references), "exact": float(exact)}

    return compute
