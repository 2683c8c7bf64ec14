"""English number names into French with a small transformer and the Hugging Face
`Seq2SeqTrainer`, as a `popbt run` file: the paper's machine-translation setting, in small.

    popbt run examples/translation.py --population 8 --workers 2 --steps 400
    python examples/translation.py       # the same through the Python API, then test BLEU

"two thousand and twenty-one" -> "deux mille vingt et un", for numbers below 10,000 (3,000
training pairs; validation and test numbers never seen in training), with a 2-layer BART
built from its config and a word-level tokenizer trained here (`popbt.demos.translation`;
nothing is downloaded). `popbt.huggingface.HuggingFaceTrainable` runs the Trainer one
interval at a time; PBT tunes the learning rate (constant after 100 warmup steps: PBT's
explore makes the schedule), two dropout rates and label smoothing. The score is
greedy-decoding BLEU on 256 validation sentences, maximised directly as in the paper.
Needs `pip install 'popbt[huggingface]'`.
"""

from __future__ import annotations

from typing import Any

from transformers import Seq2SeqTrainer

import popbt
from popbt.demos import translation
from popbt.huggingface import HuggingFaceTrainable


class EnglishToFrench(HuggingFaceTrainable):
    trainer_class = Seq2SeqTrainer
    validation_size = 256  # validation sentences translated for the score
    d_model = 64

    def build(self, hparams: dict[str, Any], seed: int) -> dict[str, Any]:
        tok = translation.tokenizer()
        pairs = translation.corpus()
        self.test_set = translation.dataset(pairs.test, tok)
        return {
            "model": translation.model(tok.get_vocab_size(), d_model=self.d_model),
            "train_dataset": translation.dataset(pairs.train, tok),
            "eval_dataset": translation.dataset(pairs.validation[:self.validation_size], tok),
            "data_collator": translation.collate,
            "compute_metrics": translation.metrics(tok),
        }

    def training_args(self, hparams: dict[str, Any]) -> dict[str, Any]:
        return {
            "max_steps": 1_000_000,  # no end: a constant schedule (after warmup) has no horizon
            "lr_scheduler_type": "constant_with_warmup", "warmup_steps": 100,
            "per_device_train_batch_size": 32, "per_device_eval_batch_size": 256,
            "predict_with_generate": True, "generation_num_beams": 1,
        }

    def test_bleu(self) -> float:
        """BLEU on the 1,000 test sentences (never used for selection)."""
        return self.trainer.evaluate(eval_dataset=self.test_set,
                                     metric_key_prefix="test")["test_bleu"]


space = popbt.Space({
    "learning_rate": popbt.LogUniform(1e-4, 1e-2),
    "dropout": popbt.Uniform(0.0, 0.3),
    "attention_dropout": popbt.Uniform(0.0, 0.3),
    "label_smoothing_factor": popbt.Uniform(0.0, 0.2),
})
metric = "bleu"
mode = "max"
ready = popbt.Every(steps=50)
exploit = popbt.Truncation(fraction=0.25)
explore = popbt.Perturb(factors=(0.8, 1.2), resample_probability=0.25)

if __name__ == "__main__":
    pop = popbt.create_population(
        name="translation", storage="sqlite:///popbt.db", space=space, size=8, metric=metric,
        mode=mode, seed=0, ready=ready, exploit=exploit, explore=explore,
        load_if_exists=True)
    best = pop.train(EnglishToFrench, steps=400, workers=2)
    model = pop.load(best.member_id)
    assert isinstance(model, EnglishToFrench)
    print(f"member {best.member_id}: validation BLEU {best.score:.1f}, "
          f"test BLEU {model.test_bleu():.1f}")
    print(pop.schedule(best.member_id))
