"""A tiny training run to be killed from outside (used by tests/test_model_safety.py).

    python -m tests._training_child CHECKPOINT_DIR DELAY_S [--resume]

Prints ``batch <epoch> <batch>`` after every training batch (then sleeps DELAY_S, so the
parent can kill it between two known batches) and ``done`` at the end. The data, model
and configuration are fixed, so the parent can rebuild the same run in-process.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from genrecls.models.cnn import CompactCNN
from genrecls.train import BatchEnd, TrainConfig, Trainer

N_MELS, FRAMES, N_CLASSES = 16, 24, 4
CONFIG = TrainConfig(epochs=3, batch_size=8, learning_rate=1e-2, seed=11)


def stripes(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise with a bright band; the class is which quarter of the mel bands is bright."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    X = rng.normal(0.0, 1.0, (n, N_MELS, FRAMES)).astype(np.float32)
    width = N_MELS // N_CLASSES
    for i, c in enumerate(y):
        X[i, c * width : (c + 1) * width] += 2.0
    return X, y


TRAIN = stripes(96, seed=0)  # 12 batches per epoch
VALID = stripes(32, seed=1)


def make_model(seed: int = 0) -> CompactCNN:
    """The network every run starts from (seeded)."""
    torch.manual_seed(seed)
    return CompactCNN(n_mels=N_MELS, n_classes=N_CLASSES, channels=(8, 16), pools=((2, 2), (2, 2)))


def main(argv: list[str]) -> int:
    checkpoint_dir, delay = argv[0], float(argv[1])
    resume = "--resume" in argv
    torch.set_num_threads(1)

    def on_event(event) -> None:
        if isinstance(event, BatchEnd):
            print(f"batch {event.epoch} {event.batch}", flush=True)
            time.sleep(delay)

    trainer = Trainer(make_model(), config=CONFIG, on_event=on_event, checkpoint_dir=checkpoint_dir)
    trainer.fit(TRAIN, VALID, resume=resume)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
