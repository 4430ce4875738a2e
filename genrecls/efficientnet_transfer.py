"""EfficientNet-Lite0 transfer learning on log-mel segments: frozen features and fine-tuning.

Candidate functions for the bundled-model build (:mod:`genrecls.bundle`):

- :func:`efficientnet_features`: pooled ImageNet features of every segment, computed
  once and cached per (track, variant) block, for a linear probe;
- :func:`export_efficientnet_probe`: a fitted scaler + logistic regression on those
  features as an :class:`~genrecls.models.efficientnet_lite.EfficientNetLiteGenre`
  that :func:`genrecls.checkpoint.save_model` can write;
- :func:`finetune_efficientnet`: the last trunk blocks and a new head trained with
  :class:`genrecls.train.Trainer` (SpecAugment, mixup), starting from a linear probe;
- :func:`efficientnet_probe_candidate` and :func:`efficientnet_finetune_candidate`:
  grouped CV and real-song test logits of each, scored exactly like the musicnn probe.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from genrecls.data import SegmentDataset
from genrecls.exceptions import ParameterError
from genrecls.models.efficientnet_lite import FEATURES

__all__ = [
    "FEATURE_LAYERS",
    "PROBE_LAYERS",
    "PROBE_SCALES",
    "efficientnet_features",
    "efficientnet_finetune_candidate",
    "efficientnet_probe_candidate",
    "export_efficientnet_probe",
    "finetune_efficientnet",
    "model_arch_kwargs",
]

#: Cached feature sets (:data:`genrecls.models.efficientnet_lite.FEATURES`): name →
#: (``_blocks`` index or ``None`` for the head map, pooling, dimension).
FEATURE_LAYERS = FEATURES

_CACHE_VERSION = 1


def _weights_digest() -> str:
    from genrecls.config import bundled_models_dir
    from genrecls.models.efficientnet_lite import IMAGENET_FILE

    path = bundled_models_dir() / IMAGENET_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "none"


def _pooled_maps(model, x: torch.Tensor) -> dict[str, np.ndarray]:
    """All :data:`FEATURE_LAYERS` of segments ``x`` in one pass through the trunk."""
    trunk = model.trunk
    h = trunk.stem_act(trunk._bn0(trunk._conv_stem(model.to_image(x))))
    maps = {}
    for i, block in enumerate(trunk._blocks):
        h = block(h)
        maps[i] = h
    maps[None] = trunk.head_act(trunk._bn1(trunk._conv_head(h)))
    out = {}
    for name, (where, pooling, _) in FEATURE_LAYERS.items():
        m = maps[where]
        mean = m.mean(dim=(2, 3))
        out[name] = (
            mean if pooling == "mean" else torch.cat([mean, m.amax(dim=(2, 3))], 1)
        ).numpy()
    return out


def efficientnet_features(
    data: SegmentDataset,
    *,
    cache_dir: Path,
    layer: str = "head",
    scale: float = 1.0,
    batch_size: int = 32,
) -> np.ndarray:
    """Frozen ImageNet EfficientNet-Lite0 features of every segment, cached on disk.

    Each (track, variant) block of segments is cached under a hash of its values, the
    input scale and the bundled weight file (all :data:`FEATURE_LAYERS` in one file), so
    an interrupted run resumes and another layer costs nothing more.

    Parameters
    ----------
    data : SegmentDataset
        musicnn log-mel segments ``[N, 96, 187]``.
    cache_dir : pathlib.Path
        Folder of the ``.npz`` cache files (e.g. ``.cache/features``).
    layer : str
        Key of :data:`FEATURE_LAYERS`: ``"head"`` (1280, what
        :func:`export_efficientnet_probe` can export), ``"head_meanmax"`` (2560),
        ``"block15_meanmax"`` (640), ``"block10_meanmax"`` (224).
    scale : float >= 1
        Input upsampling (:class:`~genrecls.models.efficientnet_lite.EfficientNetLiteGenre`).
    batch_size : int > 0
        Segments per forward pass.

    Returns
    -------
    features : np.ndarray [shape=(N, D), dtype=float32]
        In the order of ``data.X``.
    """
    from genrecls.models.efficientnet_lite import EfficientNetLiteGenre

    if layer not in FEATURE_LAYERS:
        raise ParameterError(f"layer must be one of {sorted(FEATURE_LAYERS)}, got {layer!r}")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tag = f"effl0_v{_CACHE_VERSION}_s{scale:g}_{_weights_digest()}"
    keys = np.char.add(data.track_index.astype(str), np.char.add("|", data.variants.astype(str)))
    blocks = {k: np.flatnonzero(keys == k) for k in dict.fromkeys(keys.tolist())}
    out: np.ndarray | None = None
    model = None
    for idx in tqdm(blocks.values(), desc="EfficientNet-Lite0 features", unit="track"):
        X = np.ascontiguousarray(data.X[idx])
        digest = hashlib.sha1(X.view(np.uint8)).hexdigest()[:20]
        path = cache_dir / f"{tag}_{digest}.npz"
        if path.exists():
            with np.load(path) as f:
                block = f[layer]
        else:
            if model is None:
                model = EfficientNetLiteGenre(scale=scale, pretrained=True).eval()
            parts: dict[str, list[np.ndarray]] = {k: [] for k in FEATURE_LAYERS}
            with torch.inference_mode():
                for i in range(0, len(X), batch_size):
                    for k, v in _pooled_maps(
                        model, torch.from_numpy(X[i : i + batch_size])
                    ).items():
                        parts[k].append(v)
            arrays = {k: np.concatenate(v).astype(np.float32) for k, v in parts.items()}
            tmp = cache_dir / f".{tag}_{digest}.tmp.npz"
            np.savez(tmp, **arrays)
            tmp.replace(path)
            block = arrays[layer]
        if out is None:
            out = np.zeros((len(data), block.shape[1]), np.float32)
        out[idx] = block
    if out is None:  # empty dataset
        out = np.zeros((0, FEATURE_LAYERS[layer][2]), np.float32)
    return out


def export_efficientnet_probe(
    scaler, clf, *, layer: str = "head", n_classes: int = 10, scale: float = 1.0
):
    """Turn a scaler + logistic regression fitted on frozen features into a model.

    Parameters
    ----------
    scaler : sklearn.preprocessing.StandardScaler
        Fitted on :func:`efficientnet_features` ``(layer=layer)``.
    clf : sklearn.linear_model.LogisticRegression
        Fitted on the scaled features; classes absent from its training data get a
        bias of -30 (as :func:`genrecls.bundle.probe_logits` scores them).
    layer : str
        The :data:`FEATURE_LAYERS` key the probe was fitted on.
    n_classes : int > 0
        Outputs of the model.
    scale : float >= 1
        Input upsampling the features were computed with.

    Returns
    -------
    model : EfficientNetLiteGenre
        ImageNet trunk, standardisation buffers and head set, in eval mode; for
        :func:`genrecls.checkpoint.save_model` with ``architecture="efficientnet_lite"``
        and ``arch_kwargs=model_arch_kwargs(model)``.
    """
    from genrecls.models.efficientnet_lite import EfficientNetLiteGenre

    if layer not in FEATURE_LAYERS:
        raise ParameterError(f"layer must be one of {sorted(FEATURE_LAYERS)}, got {layer!r}")
    dim = FEATURE_LAYERS[layer][2]
    if clf.coef_.shape[1] != dim:
        raise ParameterError(
            f"the probe has {clf.coef_.shape[1]} inputs; {layer!r} features have {dim}"
        )
    from genrecls.bundle import copy_probe_into

    model = EfficientNetLiteGenre(n_classes=n_classes, scale=scale, feature=layer, pretrained=True)
    return copy_probe_into(model, scaler, clf)


def finetune_efficientnet(
    X: np.ndarray,
    y: np.ndarray,
    *,
    features: np.ndarray | None = None,
    n_classes: int = 10,
    trainable_blocks: int = 5,
    epochs: int = 4,
    learning_rate: float = 1e-4,
    batch_size: int = 32,
    probe_C: float = 0.01,
    spec_augment: bool = True,
    mixup_alpha: float = 0.2,
    scale: float = 1.0,
    seed: int = 0,
    on_event=None,
):
    """Fine-tune the last blocks of the ImageNet trunk and a genre head on segments.

    Linear probing, then fine-tuning (LP-FT; Kumar et al., 2022, "Fine-tuning can
    distort pretrained features and underperform out-of-distribution", ICLR): the head
    starts as a class-balanced logistic regression on the frozen ``"head"`` features,
    exported with :func:`export_efficientnet_probe`; then the last ``trainable_blocks``
    MBConv blocks, the 1x1 head conv and the genre head are trained together with
    :class:`genrecls.train.Trainer` (AdamW, one-cycle schedule, SpecAugment, mixup).
    Batch-norm statistics stay the ImageNet ones.

    Parameters
    ----------
    X : np.ndarray [shape=(n, 96, T)]
        Training segments.
    y : np.ndarray [shape=(n,)]
        Their classes.
    features : np.ndarray [shape=(n, 1280)] or None
        Frozen ``"head"`` features of ``X`` (:func:`efficientnet_features`), for the
        probe that initialises the head; ``None`` computes them (not cached).
    n_classes : int > 0
        Number of genres.
    trainable_blocks : int in [0, 16]
        MBConv blocks trained, counted from the last; 5 = the whole last stride-32
        stage (blocks 11–15).
    epochs, learning_rate, batch_size, spec_augment, mixup_alpha, seed
        :class:`genrecls.train.TrainConfig` settings. The defaults are the better of
        the two settings measured by 5-fold CV on the ``make model`` training songs
        (``learning_rate`` 1e-4: CV top-1 57.2 %; 1e-3: 46.6 %, and a collapse onto
        one genre when fit on all songs), both below the frozen probe.
    probe_C : float > 0
        Inverse regularisation of the initial probe (:func:`genrecls.bundle.fit_probe`).
    scale : float >= 1
        Input upsampling.
    on_event : callable or None
        Passed to the :class:`~genrecls.train.Trainer` (progress events).

    Returns
    -------
    model : EfficientNetLiteGenre
        Trained, in eval mode.
    """
    from genrecls.bundle import fit_probe
    from genrecls.train import TrainConfig, Trainer

    X = np.asarray(X, np.float32)
    y = np.asarray(y)
    if features is None:
        from genrecls.models.efficientnet_lite import EfficientNetLiteGenre

        frozen = EfficientNetLiteGenre(n_classes=n_classes, scale=scale, pretrained=True).eval()
        with torch.inference_mode():
            features = np.concatenate(
                [
                    frozen.trunk(frozen.to_image(torch.from_numpy(X[i : i + 64]))).numpy()
                    for i in range(0, len(X), 64)
                ]
            )
    if len(features) != len(X):
        raise ParameterError(f"features has {len(features)} rows for {len(X)} segments")
    scaler, clf = fit_probe(features, y, C=probe_C, seed=seed)
    model = export_efficientnet_probe(scaler, clf, n_classes=n_classes, scale=scale)
    model.trainable_blocks = trainable_blocks
    model._freeze()
    torch.manual_seed(seed)
    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        spec_augment=spec_augment,
        mixup_alpha=mixup_alpha,
        seed=seed,
    )
    Trainer(model, config=config, on_event=on_event).fit((X, y.astype(np.int64)))
    return model.eval()


def model_arch_kwargs(model) -> dict:
    """Constructor arguments that rebuild ``model`` for :func:`genrecls.checkpoint.save_model`."""
    return {
        "n_classes": model.n_classes,
        "n_mels": model.n_mels,
        "input_mean": model.input_mean,
        "input_std": model.input_std,
        "scale": model.scale,
        "trainable_blocks": model.trainable_blocks,
        "dropout": float(model.dropout.p),
        "feature": model.feature,
    }


#: Feature layers tried by :func:`efficientnet_probe_candidate` by default. Of the four
#: :data:`FEATURE_LAYERS`, the two inner blocks won every grouped-CV comparison on the
#: ``make model`` training songs at both input scales (the 1280-d head features scored
#: 2–4 points lower and fit 2–3 times slower), so the default grid keeps only them.
PROBE_LAYERS = ("block15_meanmax", "block10_meanmax")

#: Input scales tried by default: none, and 2x upsampling (4x the compute).
PROBE_SCALES = (1.0, 2.0)


def efficientnet_probe_candidate(
    train: SegmentDataset,
    test: SegmentDataset,
    *,
    cache_dir: Path,
    layers: tuple[str, ...] = PROBE_LAYERS,
    scales: tuple[float, ...] = PROBE_SCALES,
    Cs: tuple[float, ...] | None = None,
    n_splits: int = 5,
) -> dict:
    """Frozen EfficientNet-Lite0 + linear probe, its settings chosen by grouped CV.

    Every (scale, layer, C) setting is scored with :func:`genrecls.bundle.cross_validate` exactly
    as ``make model`` scores the musicnn probe; the best by CV balanced accuracy is refit
    on all of ``train`` and applied to ``test`` — which plays no part in the choice.

    Parameters
    ----------
    train : SegmentDataset
        Training segments (e.g. the original, unaugmented ones).
    test : SegmentDataset
        Held-out real-song segments.
    cache_dir : pathlib.Path
        Feature cache (:func:`efficientnet_features`).
    layers : tuple of str
        :data:`FEATURE_LAYERS` keys to try.
    scales : tuple of float
        Input upsampling factors to try.
    Cs : tuple of float or None
        Inverse regularisation strengths; ``None`` = :data:`genrecls.bundle.PROBE_C`.
    n_splits : int
        CV folds.

    Returns
    -------
    result : dict
        ``"settings_cv"``: ``{"<layer>, C=<C>, scale=<s>": {"mean", "std"}}``;
        ``"layer"``, ``"C"``, ``"scale"``: the choice; ``"cv"``: its full
        :func:`~genrecls.bundle.cross_validate` result (with out-of-fold logits for
        calibration); ``"test_logits"`` [shape=(n_test,
        n_classes)]; ``"model"``: the refit probe as an ``EfficientNetLiteGenre``
        (:func:`export_efficientnet_probe`), ready for ``save_model``.
    """
    from genrecls.bundle import PROBE_C, cross_validate, fit_probe, probe_logits

    n_classes = len(train.labels)
    Cs = PROBE_C if Cs is None else Cs
    settings_cv: dict[str, dict] = {}
    best = None
    for scale in scales:
        for layer in layers:
            feats = efficientnet_features(train, cache_dir=cache_dir, layer=layer, scale=scale)
            for C in Cs:

                def fit_predict(tr, va, feats=feats, C=C):
                    scaler, clf = fit_probe(feats[tr], train.y[tr], C=C)
                    return probe_logits(scaler, clf, feats[va], n_classes=n_classes)

                cv = cross_validate(fit_predict, train, n_splits=n_splits)
                tag = f"{layer}, C={C}, scale={scale:g}"
                settings_cv[tag] = {"mean": cv["mean"], "std": cv["std"]}
                print(
                    f"EfficientNet-Lite0 probe {tag}: CV top1 {cv['mean']['top1']:.3f} ± "
                    f"{cv['std']['top1']:.3f}, balanced {cv['mean']['balanced_accuracy']:.3f}"
                )
                if best is None or (
                    cv["mean"]["balanced_accuracy"] > best[3]["mean"]["balanced_accuracy"]
                ):
                    best = (scale, layer, C, cv)
    scale, layer, C, cv = best
    feats = efficientnet_features(train, cache_dir=cache_dir, layer=layer, scale=scale)
    scaler, clf = fit_probe(feats, train.y, C=C)
    test_feats = efficientnet_features(test, cache_dir=cache_dir, layer=layer, scale=scale)
    model = export_efficientnet_probe(scaler, clf, layer=layer, n_classes=n_classes, scale=scale)
    return {
        "settings_cv": settings_cv,
        "layer": layer,
        "C": C,
        "scale": scale,
        "cv": cv,
        "test_logits": probe_logits(scaler, clf, test_feats, n_classes=n_classes),
        "model": model,
    }


def efficientnet_finetune_candidate(
    train: SegmentDataset,
    test: SegmentDataset,
    *,
    cache_dir: Path,
    n_splits: int = 5,
    **finetune_kwargs,
) -> dict:
    """Grouped CV and test logits of :func:`finetune_efficientnet` (one fixed setting).

    Costly: about 160 s of one CPU core per fold for 900 training segments with the
    defaults (blocks 11–15 and the head conv trained, 4 epochs), so 5-fold CV plus the
    final fit on 1122 segments takes about 17 minutes of one core.

    Parameters
    ----------
    train, test : SegmentDataset
        As for :func:`efficientnet_probe_candidate`.
    cache_dir : pathlib.Path
        Feature cache (the ``"head"`` features initialise each fold's probe).
    n_splits : int
        CV folds.
    **finetune_kwargs
        Passed to :func:`finetune_efficientnet`.

    Returns
    -------
    result : dict
        ``"cv"`` (full :func:`~genrecls.bundle.cross_validate` result),
        ``"test_logits"``, ``"model"`` (fit on all of ``train``) and ``"settings"``.
    """
    from genrecls.bundle import cross_validate
    from genrecls.train import predict_logits

    settings = {**finetune_kwargs, "n_classes": len(train.labels)}
    feats = efficientnet_features(train, cache_dir=cache_dir, layer="head")

    def fit_predict(tr, va):
        model = finetune_efficientnet(train.X[tr], train.y[tr], features=feats[tr], **settings)
        return predict_logits(model, train.X[va])

    cv = cross_validate(fit_predict, train, n_splits=n_splits)
    model = finetune_efficientnet(train.X, train.y, features=feats, **settings)
    return {
        "settings": settings,
        "cv": cv,
        "test_logits": predict_logits(model, test.X),
        "model": model,
    }
