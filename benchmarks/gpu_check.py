"""What only a machine with a CUDA GPU can check: `TorchTrainable` on the GPU, checkpoints
written there loading in a process without one, and GPUs given to worker processes.

    python benchmarks/gpu_check.py     # about a minute; needs torch with CUDA and one GPU

Prints a markdown table (check, expected, observed, ok) and exits 0 when every check holds,
1 when one fails, 2 where torch sees no CUDA device (nothing was checked, nothing passed).
The test suite checks the same mechanisms without a GPU (tests/test_devices.py), with
torch's view of CUDA patched and checkpoints whose tensors only claim to be on "cuda:0".
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

import popbt
from popbt.checkpoints import CheckpointStore
from popbt.errors import ConfigError
from popbt.torch import TorchTrainable, resolve_device

SPACE = popbt.Space({"lr": popbt.LogUniform(1e-3, 1e-1)})
ROWS: list[tuple[str, str, str, bool]] = []


class Net(TorchTrainable):
    """A small MLP with Adam on random regression data; reports where it trains."""

    def build(self, hparams: dict[str, Any], seed: int):
        self.x = self.to_device(torch.randn(256, 8, generator=self.generator))
        self.y = self.x.sum(1, keepdim=True)
        model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(),
                                    torch.nn.Linear(32, 1))
        return model, torch.optim.Adam(model.parameters(), lr=hparams["lr"])

    def train_step(self, hparams: dict[str, Any]) -> None:
        loss = (self.model(self.x) - self.y).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def evaluate(self) -> dict[str, float]:
        with torch.no_grad():
            loss = float((self.model(self.x) - self.y).pow(2).mean())
        return {"score": -loss, "on_cuda": float(next(self.model.parameters()).is_cuda),
                "cuda_devices": float(torch.cuda.device_count())}


class CudaNet(Net):
    device = "cuda"


def check(name: str, expected: object, observed: object) -> None:
    ROWS.append((name, str(expected), str(observed), expected == observed))


def _adam_state_devices(t: TorchTrainable) -> set[str]:
    return {v.device.type for s in t.optimizer.state.values() for k, v in s.items()
            if k != "step" and isinstance(v, torch.Tensor)}


def check_devices() -> None:
    count = torch.cuda.device_count()
    check('resolve_device("auto")', "cuda", resolve_device("auto").type)
    check("resolve_device(None), no GPU given", "cpu", resolve_device(None).type)
    try:
        resolve_device(f"cuda:{count}")
        refused = "no"
    except ConfigError:
        refused = "ConfigError"
    check(f'resolve_device("cuda:{count}")', "ConfigError", refused)


def check_checkpoints(folder: Path) -> None:
    original = CudaNet()
    original.setup({"lr": 0.01}, seed=0)
    original.train({"lr": 0.01}, 5)
    check("CudaNet parameters", "cuda", next(original.model.parameters()).device.type)
    store = CheckpointStore(folder)
    rel, checksum, _ = store.save("pop/m00000", 5, original.state_dict())
    restored = CudaNet()
    restored.setup({"lr": 0.01}, seed=0)  # the same member: the same data
    restored.load_state_dict(store.load(rel, checksum))
    check("Adam state after restore", {"cuda"}, _adam_state_devices(restored))
    original.train({"lr": 0.01}, 3)
    restored.train({"lr": 0.01}, 3)
    same = all(torch.equal(a, b) for a, b in zip(original.model.parameters(),
                                                  restored.model.parameters(), strict=True))
    check("restored member continues identically", True, same)
    code = ("import sys, torch; from popbt.checkpoints import CheckpointStore; "
            "s = CheckpointStore(sys.argv[1]).load(sys.argv[2], sys.argv[3]); "
            "print(torch.cuda.is_available(), s['model']['0.weight'].device)")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", code, str(folder), rel, checksum], env=env,
                          capture_output=True, text=True, timeout=120)
    check("GPU checkpoint loaded with no GPU visible", "False cpu",
          done.stdout.strip() or done.stderr.strip()[-200:])


def check_processes(folder: Path) -> None:
    for gpus in (0.5, [0, 0]):
        pop = popbt.create_population(
            name=f"gpus-{gpus}", storage=f"sqlite:///{folder / 'popbt.db'}", space=SPACE,
            size=4, metric="score", ready=popbt.Every(steps=10), seed=0)
        pop.train(Net, steps=20, executor=popbt.Processes(workers=2, gpus=gpus),
                  progress=False)
        members = pop.members
        check(f"Processes(gpus={gpus}): members on CUDA", 4,
              sum(m.metrics.get("on_cuda", 0.0) == 1.0 for m in members))
        check(f"Processes(gpus={gpus}): CUDA devices a worker sees", {1.0},
              {m.metrics.get("cuda_devices") for m in members})
    pop = popbt.create_population(
        name="in-process", storage=f"sqlite:///{folder / 'popbt.db'}", space=SPACE, size=2,
        metric="score", ready=popbt.Every(steps=10), seed=0)
    pop.train(Net, steps=10, progress=False)
    check("default device in process, no gpus", {0.0}, {m.metrics["on_cuda"] for m in pop.members})


def main() -> int:
    if not torch.cuda.is_available():
        print(f"torch {torch.__version__} sees no CUDA device: nothing checked", file=sys.stderr)
        return 2
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.cuda.device_count()} device(s): {torch.cuda.get_device_name(0)}\n")
    with tempfile.TemporaryDirectory() as tmp:
        check_devices()
        check_checkpoints(Path(tmp) / "ckpt")
        check_processes(Path(tmp))
    print("| check | expected | observed | ok |\n|---|---|---|---|")
    for name, expected, observed, ok in ROWS:
        print(f"| {name} | {expected} | {observed} | {'yes' if ok else '**NO**'} |")
    return 0 if all(ok for *_, ok in ROWS) else 1


if __name__ == "__main__":
    sys.exit(main())
