"""Build the fast variant of the bundled model (``python -m genrecls compress``).

The bundled model is a linear probe on frozen musicnn. Its front-end convolutions are
replaced by low-rank ones fitted to reproduce their responses on real training audio
(:func:`genrecls.models.lowrank.factorize_conv`; Zhang et al., 2016); the mid-end,
back-end, genre head and temperature are kept as they are. Nothing is trained, so the
result can be checked against the original segment by segment.

Steps:

1. index the shared data with the bundle's roles and load the cached training and
   real-song test segments (:func:`genrecls.bundle.role_datasets`);
2. fit each front-end branch on ``n_fit`` random original training segments;
3. measure, on other training segments, how often the fast model's segment verdict
   agrees with the original's;
4. score both on the real-song test set exactly as the model card does, time both
   (CPU seconds per 10 segments, one thread), and write ``models/genre_model_fast.pt``
   and ``models/fast_model_card.json``.
"""

from __future__ import annotations

import copy
import hashlib
import platform
import time
from pathlib import Path

import numpy as np
import torch

from genrecls.config import GENRES
from genrecls.exceptions import ParameterError

#: File name of the fast model in ``models/``.
FAST_MODEL_FILE = "genre_model_fast.pt"
#: Its card in ``models/``.
FAST_CARD_FILE = "fast_model_card.json"


def compress_musicnn_classifier(
    model: torch.nn.Module,
    segments: np.ndarray,
    *,
    timbral_rank: int,
    temporal_rank: int,
    max_positions: int = 200_000,
    seed: int = 0,
) -> tuple[torch.nn.Module, dict[str, float]]:
    """Return a copy of a musicnn genre model with a low-rank front-end.

    Parameters
    ----------
    model : genrecls.models.musicnn_transfer.MusicnnClassifier
        Full-rank model (left unchanged).
    segments : np.ndarray [shape=(n, n_mels, frames)]
        Real log-mel segments the branches are fitted on.
    timbral_rank, temporal_rank : int > 0
        Basis filters kept in the timbral (204 filters) and temporal (51) branches.
    max_positions : int > 0
        Patches per branch used to estimate the response covariance.
    seed : int
        Seed of the patch sample.

    Returns
    -------
    fast : MusicnnClassifier
        In eval mode, built with ``timbral_rank``/``temporal_rank`` so that
        :func:`genrecls.checkpoint.save_model` can rebuild it.
    explained : dict[str, float]
        Share of each branch's response variance the kept directions explain.
    """
    from genrecls.models.lowrank import FRONTEND_BRANCHES, factorize_conv
    from genrecls.models.musicnn_transfer import MusicnnClassifier

    if not isinstance(model, MusicnnClassifier):
        raise ParameterError("compress_musicnn_classifier needs a MusicnnClassifier")
    fast = MusicnnClassifier(
        n_classes=model.head.out_features,
        n_mels=model.backbone.n_mels,
        feature=model.feature,
        timbral_rank=timbral_rank,
        temporal_rank=temporal_rank,
        tag_prior_weight=model.tag_prior_weight,
    )
    source = copy.deepcopy(model).eval()
    with torch.inference_mode():
        x = source.backbone.input_bn(torch.from_numpy(segments).transpose(1, 2).unsqueeze(1))
    explained = {}
    for name, kind in FRONTEND_BRANCHES.items():
        branch = getattr(source.backbone, name)
        rank = timbral_rank if kind == "timbral" else temporal_rank
        lowrank = factorize_conv(
            branch.conv, branch.pad(x), rank=rank, max_positions=max_positions, seed=seed
        )
        explained[name] = lowrank.explained
        branch.conv = lowrank
    missing, unexpected = fast.load_state_dict(source.state_dict(), strict=True)
    assert not missing and not unexpected
    return fast.eval(), explained


def _logits(model: torch.nn.Module, X: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate(
            [
                model(torch.from_numpy(np.ascontiguousarray(X[i : i + batch_size])))[
                    "logits"
                ].numpy()
                for i in range(0, len(X), batch_size)
            ]
        )


def cpu_seconds(model: torch.nn.Module, X: np.ndarray, *, repeats: int = 5) -> float:
    """Least CPU time (one thread) of a forward pass over ``X``, in seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = torch.from_numpy(np.ascontiguousarray(X))
        best = float("inf")
        with torch.inference_mode():
            model(x)
            for _ in range(repeats):
                t0 = time.process_time()
                model(x)
                best = min(best, time.process_time() - t0)
        return best
    finally:
        torch.set_num_threads(threads)


def main(
    *,
    out_dir: Path,
    cache_dir: Path = Path(".cache"),
    teacher_path: Path | None = None,
    timbral_rank: int = 24,
    temporal_rank: int = 16,
    n_fit: int = 100,
    n_check: int = 300,
    command: str = "python -m genrecls compress",
) -> int:
    """Build the fast model and its card; see the module docstring."""
    from genrecls.bundle import role_datasets, track_scores
    from genrecls.checkpoint import load_model, save_model
    from genrecls.config import bundled_models_dir
    from genrecls.data import index_shared_data
    from genrecls.model_card import write_json_atomic
    from genrecls.models.cnn import count_macs

    t_start = time.time()
    out_dir, cache_dir = Path(out_dir), Path(cache_dir)
    teacher_path = Path(teacher_path or bundled_models_dir() / "genre_model.pt")
    blob = teacher_path.read_bytes()
    teacher = load_model(teacher_path)
    tracks = index_shared_data()
    if not tracks:
        print("No shared data found: set GENRECLS_DATA_DIR.")
        return 2
    train, test = role_datasets(tracks, config=teacher.feature_config, cache_dir=cache_dir)
    originals = train.subset(train.is_original)
    order = np.random.default_rng(0).permutation(len(originals))
    fit_idx, check_idx = order[:n_fit], order[n_fit : n_fit + n_check]
    fast, explained = compress_musicnn_classifier(
        teacher.model,
        originals.X[fit_idx],
        timbral_rank=timbral_rank,
        temporal_rank=temporal_rank,
    )
    print("explained response variance:", {k: round(v, 5) for k, v in explained.items()})

    check_teacher = _logits(teacher.model, originals.X[check_idx])
    check_fast = _logits(fast, originals.X[check_idx])
    agreement = float((check_teacher.argmax(1) == check_fast.argmax(1)).mean())
    print(f"segment agreement on {len(check_idx)} held-out training segments: {agreement:.3f}")

    T = teacher.temperature
    test_teacher = _logits(teacher.model, test.X)
    test_fast = _logits(fast, test.X)
    s_teacher = track_scores(test_teacher, test, temperature=T)
    s_fast = track_scores(test_fast, test, temperature=T)
    kept = s_fast["top1"] / s_teacher["top1"]
    print(
        f"real-song test top1: teacher {s_teacher['top1']:.3f}, fast {s_fast['top1']:.3f} "
        f"({100 * kept:.1f}% kept)"
    )
    probe = test.X[:10]
    cpu_teacher, cpu_fast = cpu_seconds(teacher.model, probe), cpu_seconds(fast, probe)
    seg = torch.zeros(1, *test.X.shape[1:])
    macs_teacher, macs_fast = count_macs(teacher.model, seg), count_macs(fast, seg)
    print(
        f"CPU s per 10 segments (1 thread): teacher {cpu_teacher:.3f}, fast {cpu_fast:.3f}; "
        f"MACs/segment {macs_teacher / 1e6:.0f} M → {macs_fast / 1e6:.0f} M"
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FAST_MODEL_FILE
    arch_kwargs = dict(teacher.arch_kwargs)
    arch_kwargs.update(timbral_rank=timbral_rank, temporal_rank=temporal_rank)
    save_model(
        path,
        model=fast,
        architecture=teacher.architecture,
        arch_kwargs=arch_kwargs,
        feature_config=teacher.feature_config,
        labels=teacher.labels,
        temperature=T,
        metadata={
            "candidate": "musicnn_probe_lowrank",
            "teacher": teacher_path.name,
            "card": FAST_CARD_FILE,
        },
    )
    pt = path.read_bytes()
    card = {
        "model": {
            "file": path.name,
            "architecture": teacher.architecture,
            "arch_kwargs": arch_kwargs,
            "description": "the bundled model with its five musicnn front-end convolutions "
            f"replaced by low-rank ones (timbral rank {timbral_rank} of 204 filters, "
            f"temporal rank {temporal_rank} of 51), fitted to reproduce their responses on "
            f"{n_fit} real training segments; head, temperature and everything else "
            "unchanged, nothing retrained",
            "citation": "Zhang, Zou, He & Sun (2016), Accelerating very deep convolutional "
            "networks for classification and detection, IEEE TPAMI, "
            "https://arxiv.org/abs/1505.06798 (response-reconstruction low-rank "
            "decomposition); the network is musicnn (Pons & Serra, 2019)",
            "size_bytes": len(pt),
            "sha256": hashlib.sha256(pt).hexdigest(),
            "macs_per_segment": int(macs_fast),
            "teacher_macs_per_segment": int(macs_teacher),
        },
        "teacher": {
            "file": teacher_path.name,
            "sha256": hashlib.sha256(blob).hexdigest(),
            "real_test": s_teacher,
        },
        "explained_response_variance": explained,
        "training_segment_agreement": {"n": int(len(check_idx)), "agreement": agreement},
        "real_test": s_fast,
        "top1_kept_vs_teacher": kept,
        "meets_95_percent": bool(kept >= 0.95),
        "cpu_seconds_per_10_segments_1_thread": {"teacher": cpu_teacher, "fast": cpu_fast},
        "command": command,
        "created": time.strftime("%Y-%m-%d"),
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "machine": platform.machine(),
        },
        "seconds": time.time() - t_start,
        "text": (
            f"The fast model keeps **{100 * kept:.1f}%** of the bundled model's real-song "
            f"top-1 ({100 * s_fast['top1']:.1f}% vs {100 * s_teacher['top1']:.1f}% on "
            f"{s_fast['n']} test tracks) and agrees with it on {100 * agreement:.1f}% of "
            f"{len(check_idx)} held-out training segments, with "
            f"{macs_teacher / macs_fast:.1f}× fewer multiply–accumulates "
            f"({macs_fast / 1e6:.0f} M per 3 s segment) and {cpu_teacher / cpu_fast:.1f}× "
            f"less CPU time ({cpu_fast:.2f} s vs {cpu_teacher:.2f} s for 10 segments on one "
            f"thread). Measured by `{command}`."
        ),
    }
    write_json_atomic(out_dir / FAST_CARD_FILE, card)
    print(card["text"])
    print(f"wrote {path} and {FAST_CARD_FILE} in {time.time() - t_start:.0f} s")
    return 0 if set(GENRES) == set(teacher.labels) else 1
