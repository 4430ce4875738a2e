"""Shared fixtures: seeded synthetic audio and a tiny saved genre model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genrecls.checkpoint import save_model
from genrecls.config import GENRES, data_dir
from genrecls.features import FeatureConfig
from genrecls.models.cnn import CompactCNN


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """An untrained (seeded) CompactCNN saved as a genrecls model file."""
    torch.manual_seed(0)
    kwargs = {"n_mels": 96, "n_classes": len(GENRES), "channels": (4, 8, 8, 8)}
    model = CompactCNN(**kwargs).eval()
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    save_model(
        path,
        model=model,
        architecture="compact_cnn",
        arch_kwargs=kwargs,
        feature_config=FeatureConfig(),
        labels=GENRES,
        temperature=1.5,
    )
    return path


@pytest.fixture(scope="session")
def shared_data():
    """The shared data directory, or skip with the reason."""
    root = data_dir()
    if not (root / "MANIFEST.md").is_file():
        pytest.skip(f"shared data not found at {root} (set GENRECLS_DATA_DIR)")
    return root
