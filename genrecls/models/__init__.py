"""Neural network architectures, one module per architecture.

- :mod:`genrecls.models.musicnn`: the pretrained musicnn tagger (Pons & Serra, 2019),
  rebuilt in PyTorch, with its exact log-mel preprocessing and tag lists.
"""
