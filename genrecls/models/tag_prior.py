"""The zero-shot tag mapping as a prior on a genre head's logits.

musicnn's own tag outputs, mapped onto genres without training
(:func:`genrecls.pretrained.zero_shot_genre_scores`), carry what the Million Song Dataset
and MagnaTagATune taught the network about genres, beyond the few hundred GTZAN tracks a
genre head is fitted on. :class:`ZeroShotPrior` adds ``weight · log(scores)`` to the
head's logits, a product of experts (Hinton, 2002): the genre posterior is proportional
to ``p_head(genre) · scores(genre) ** weight``.

No tag of either vocabulary covers reggae. The zero-shot mapping scores it 0, and as a
prior that would veto it whatever the head says, so a genre no tag covers gets the
uniform share ``1 / n_genres`` instead: the tags say nothing about it, for or against.
The scoreable genres share the rest in proportion to their evidence.

The mapping needs MagnaTagATune's *classical* tags, which the MSD tagger lacks. Rather
than run the MTT network as a second backbone, :class:`ZeroShotPrior` predicts those tags'
logits linearly from the MSD backbone's pooled features (a ridge regression fitted on the
MTT network's outputs for unlabelled training audio; :func:`genrecls.bundle.fit_tag_regression`),
so the prior costs one small matrix product.

G. E. Hinton, 2002. "Training products of experts by minimizing contrastive divergence."
Neural Computation 14 (8).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from genrecls.config import GENRES
from genrecls.exceptions import ParameterError

__all__ = [
    "SCORE_FLOOR",
    "ZeroShotPrior",
    "neutral_unscored",
    "predicted_mtt_tags",
    "predicted_tags",
    "scoreable_genres",
]

#: Genre scores are clipped below at this value before the log.
SCORE_FLOOR = 1e-3


def _mapped_tags(vocabulary: str) -> tuple[str, ...]:
    from genrecls.pretrained import GENRE_TAGS

    return tuple(t for genre in GENRES for t in GENRE_TAGS.get(genre, {}).get(vocabulary, ()))


def predicted_mtt_tags() -> tuple[str, ...]:
    """MagnaTagATune tags the zero-shot mapping reads, in the order they are predicted."""
    return _mapped_tags("mtt")


def scoreable_genres() -> np.ndarray:
    """Boolean mask over :data:`GENRES`: the genres some tag covers."""
    from genrecls.pretrained import GENRE_TAGS

    return np.array([any(GENRE_TAGS.get(g, {}).values()) for g in GENRES])


def neutral_unscored(scores, scoreable):
    """Give each genre no tag covers the uniform share; rescale the others to match.

    Parameters
    ----------
    scores : np.ndarray or torch.Tensor [shape=(..., n_genres)]
        Zero-shot scores (0 for unscoreable genres, summing to 1).
    scoreable : np.ndarray or torch.Tensor [shape=(n_genres,), dtype=bool]

    Returns
    -------
    scores : same type [shape=(..., n_genres)]
        Summing to 1; unscoreable genres at ``1 / n_genres``.

    Examples
    --------
    >>> neutral_unscored(np.array([0.5, 0.5, 0.0]), np.array([True, True, False]))
    array([0.33333333, 0.33333333, 0.33333333])
    """
    n = scoreable.shape[-1]
    share = 1.0 - (n - scoreable.sum()) / n  # mass left to the scoreable genres
    if isinstance(scores, torch.Tensor):
        return torch.where(scoreable, scores * share, torch.full_like(scores, 1.0 / n))
    return np.where(scoreable, scores * share, 1.0 / n)


def predicted_tags(*, predict_msd: bool) -> tuple[tuple[str, str], ...]:
    """``(vocabulary, tag)`` pairs a :class:`ZeroShotPrior`'s ``tag_head`` predicts, in order.

    The MTT tags always; the MSD tags the mapping reads too when ``predict_msd`` (a
    network whose own tag outputs are not the MSD tagger's, e.g. a pruned one).
    """
    msd = [("msd", t) for t in _mapped_tags("msd")] if predict_msd else []
    return (*msd, *[("mtt", t) for t in _mapped_tags("mtt")])


class ZeroShotPrior(nn.Module):
    """``weight · log(zero-shot genre scores)`` from MSD tag logits and pooled features.

    Computes what :func:`genrecls.pretrained.zero_shot_genre_scores` computes (each
    genre's evidence is the largest probability among its tags, normalised over the
    genres), with the MTT tags replaced by their linear prediction, and with the uniform
    share for genres no tag covers (:func:`neutral_unscored`); then clips at
    :data:`SCORE_FLOOR` and takes the log.

    Parameters
    ----------
    in_dim : int > 0
        Size of the pooled features the MTT tags are predicted from.
    weight : float > 0
        The prior's weight ``λ`` (1: the head and the tags count equally).
    predict_msd : bool
        Predict the MSD tags from the pooled features too (see :func:`predicted_tags`),
        instead of reading the backbone's tag logits.

    Notes
    -----
    ``mtt_head`` (named for the MTT tags it always predicts) is the linear map to the
    logits of :func:`predicted_tags`; it is fitted outside (its weights come with a
    saved model), and a fresh module predicts logit 0 (probability 0.5) for every tag.
    """

    def __init__(self, *, in_dim: int, weight: float, predict_msd: bool = False) -> None:
        super().__init__()
        from genrecls.pretrained import GENRE_TAGS, MSD_TAGS

        if weight <= 0:
            raise ParameterError(f"weight must be > 0, got {weight}")
        self.weight = float(weight)
        self.predict_msd = bool(predict_msd)
        predicted = predicted_tags(predict_msd=predict_msd)
        self.mtt_head = nn.Linear(in_dim, len(predicted))
        nn.init.zeros_(self.mtt_head.weight)
        nn.init.zeros_(self.mtt_head.bias)
        # columns of [msd probs (50) | predicted probs | 0]; padding points at the 0
        zero_column = len(MSD_TAGS) + len(predicted)
        columns = []
        for genre in GENRES:
            cols = []
            for vocabulary, tags in GENRE_TAGS.get(genre, {}).items():
                for t in tags:
                    if (vocabulary, t) in predicted:
                        cols.append(len(MSD_TAGS) + predicted.index((vocabulary, t)))
                    else:  # only MSD tags are ever read from the backbone
                        cols.append(MSD_TAGS.index(t))
            columns.append(cols)
        width = max(1, max(len(c) for c in columns))
        index = torch.full((len(GENRES), width), zero_column, dtype=torch.long)
        for g, cols in enumerate(columns):
            index[g, : len(cols)] = torch.as_tensor(cols, dtype=torch.long)
        self.register_buffer("tag_index", index, persistent=False)
        self.register_buffer(
            "scoreable", torch.tensor([bool(c) for c in columns]), persistent=False
        )

    def scores(self, pooled: torch.Tensor, tag_logits: torch.Tensor) -> torch.Tensor:
        """Genre scores ``[B, n_genres]`` (positive, summing to 1), as the prior uses them."""
        probs = torch.cat(
            [
                torch.sigmoid(tag_logits),
                torch.sigmoid(self.mtt_head(pooled)),
                torch.zeros_like(tag_logits[:, :1]),
            ],
            dim=1,
        )  # [B, 50 + n_mtt + 1]
        evidence = probs[:, self.tag_index].amax(dim=2)  # [B, n_genres]
        total = evidence.sum(dim=1, keepdim=True)
        fallback = (self.scoreable / self.scoreable.sum()).to(evidence.dtype)
        scores = torch.where(total > 0, evidence / total.clamp_min(1e-30), fallback)
        return neutral_unscored(scores, self.scoreable)

    def forward(self, pooled: torch.Tensor, tag_logits: torch.Tensor) -> torch.Tensor:
        """The log prior ``[B, n_genres]`` to add to a head's logits."""
        return self.weight * torch.log(self.scores(pooled, tag_logits).clamp_min(SCORE_FLOOR))
