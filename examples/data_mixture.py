"""A learned data-mixture schedule: PBT decides what a small byte-level language model trains
on, and when, to predict a target text it has little of.

    popbt run examples/data_mixture.py --population 8 --workers 2 --steps 2000   # the CLI
    python examples/data_mixture.py                                             # the API

The sources are texts every Python installation holds (its standard library, read once per
process): `code`, the top-level modules' source with their docstrings cut out; `docs`, those
docstrings (English about Python); and `email`, the target: the docstrings of the `email`
package, every fifth docstring for validation and every fifth for test (the other three
fifths for training), so that no text is in two splits. Each training step draws a batch of
128 windows of 16 bytes, each window from a source drawn with the member's mixture `mix` (a
`popbt.Simplex` over the three), and takes one Adam step on predicting each window's next
byte. The score is the loss (bits per byte)
on the validation split of `email`; `test_loss()` is the same on its test split, never used
for selection. PBT explores the mixture by Dirichlet moves around it (`Perturb` on a
`Simplex`): the schedule it finds is how much of each source to train on over training.
Needs `pip install 'popbt[torch]'`.
"""

from __future__ import annotations

import ast
import functools
import math
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import popbt
from popbt.torch import TorchTrainable

SOURCES = ("code", "docs", "email")
TARGET = "email"
CONTEXT = 16
BATCH = 128
EVAL_WINDOWS = 2048
EVAL_SEED, TEST_SEED = 101, 202
CODE_BYTES = 1_000_000  # the code source is cut to its first million bytes


def _split(path: Path) -> tuple[list[str], str]:
    """(the docstrings, the code without them) of one module's source."""
    source = path.read_text(encoding="utf-8", errors="replace")
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return [], source
    docs, cut = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            text = ast.get_docstring(node, clean=True)
            if text and isinstance(node.body[0], ast.Expr):
                docs.append(text)
                first = node.body[0]
                cut.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    code = "\n".join(line for i, line in enumerate(source.splitlines(), 1) if i not in cut)
    return docs, code


def _bytes(texts: list[str]) -> torch.Tensor:
    return torch.tensor(np.frombuffer("\n\n".join(texts).encode("utf-8"), dtype=np.uint8),
                        dtype=torch.long)


@functools.lru_cache(maxsize=1)
def corpora() -> dict[str, torch.Tensor]:
    """Every split as a tensor of byte values: the three training sources, and the target's
    `email_val` and `email_test`."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    docs: list[str] = []
    code: list[str] = []
    for path in sorted(stdlib.glob("*.py")):
        d, c = _split(path)
        docs.extend(d)
        code.append(c)
    target: dict[int, list[str]] = {0: [], 1: [], 2: []}
    texts = [text for path in sorted((stdlib / "email").rglob("*.py"))
             for text in _split(path)[0]]
    for i, text in enumerate(texts):  # 0-2 training, 3 validation, 4 test
        target[0 if i % 5 < 3 else i % 5 - 2].append(text)
    return {"code": _bytes(code)[:CODE_BYTES], "docs": _bytes(docs),
            "email": _bytes(target[0]), "email_val": _bytes(target[1]),
            "email_test": _bytes(target[2])}


def windows(data: torch.Tensor, n: int, generator: torch.Generator,
            context: int = CONTEXT) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` random windows of `data`: (the `context` bytes, the byte after them)."""
    start = torch.randint(0, len(data) - context - 1, (n, 1), generator=generator)
    rows = data[start + torch.arange(context + 1)]
    return rows[:, :context], rows[:, context]


class ByteMLP(nn.Module):
    """The next byte's logits from the last `context` bytes: embeddings, two GELU layers."""

    def __init__(self, context: int, hidden: int, embed: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(256, embed)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(context * embed, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 256))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.embed(x))


class MixtureLM(TorchTrainable):
    """The byte-level model trained on the member's mixture of `SOURCES` (see the module)."""

    context, hidden, lr = CONTEXT, 256, 1e-3

    def build(self, hparams: dict[str, Any],
              seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
        model = ByteMLP(self.context, self.hidden)
        return model, torch.optim.Adam(model.parameters(), lr=self.lr)

    def train_step(self, hparams: dict[str, Any]) -> None:
        data = corpora()
        weights = torch.tensor([hparams["mix"][s] for s in SOURCES], dtype=torch.float64)
        counts = torch.bincount(torch.multinomial(weights, BATCH, replacement=True,
                                                  generator=self.generator),
                                minlength=len(SOURCES))
        parts = [windows(data[s], int(k), self.generator, self.context)
                 for s, k in zip(SOURCES, counts.tolist(), strict=True) if k]
        x = torch.cat([p[0] for p in parts])
        y = torch.cat([p[1] for p in parts])
        loss = nn.functional.cross_entropy(self.model(x), y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def loss_on(self, split: str, seed: int) -> float:
        """Bits per byte on `EVAL_WINDOWS` windows of `split` drawn with `seed`."""
        x, y = windows(corpora()[split], EVAL_WINDOWS, torch.Generator().manual_seed(seed),
                       self.context)
        with torch.no_grad():
            nats = nn.functional.cross_entropy(self.model(x), y).item()
        return nats / math.log(2)

    def evaluate(self) -> dict[str, float]:
        return {"val_loss": self.loss_on(f"{TARGET}_val", EVAL_SEED)}

    def test_loss(self) -> float:
        """Bits per byte on the target's test split (never used for selection)."""
        return self.loss_on(f"{TARGET}_test", TEST_SEED)


class LargerMixtureLM(MixtureLM):
    """Twice the hidden width and a longer context: the model a schedule found on
    `MixtureLM` is replayed on."""

    context, hidden = 24, 512


trainable = MixtureLM  # the one `popbt run` trains (the file defines two)
space = popbt.Space({"mix": popbt.Simplex(list(SOURCES), concentration=50.0)})
metric = "val_loss"
mode = "min"
ready = popbt.Every(steps=100)
exploit = popbt.Truncation(fraction=0.25)
explore = popbt.Perturb(resample_probability=0.1)

if __name__ == "__main__":
    pop = popbt.create_population(
        name="data-mixture", storage="sqlite:///popbt.db", space=space, size=8,
        metric=metric, mode=mode, seed=0, ready=ready, exploit=exploit, explore=explore,
        load_if_exists=True)
    best = pop.train(MixtureLM, steps=2000, workers=2)
    model = pop.load(best.member_id)
    print(f"best member {best.member_id}: {best.score:.3f} bits per byte on validation, "
          f"{model.test_loss():.3f} on test")
    for step, hparams in pop.schedule(best.member_id):
        mix = ", ".join(f"{k} {v:.2f}" for k, v in hparams["mix"].items())
        print(f"  from step {step}: {mix}")
