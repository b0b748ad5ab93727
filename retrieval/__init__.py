"""Visual-semantic alignment (reference 002, Karpathy & Fei-Fei, section 3.1) and retrieval.

Modules, in the order data flows through them:
  data.py       feature examples -> images (global vector + pooled region windows) and sentences
  regions.py    weight-free region windows over the backbone's local grid
  model.py      image regions and BRNN word vectors in one h-d space; S_kl = sum_t max_i v_i.s_t
  loss.py       the max-margin structured ranking loss (eq. 9)
  train.py      `train_alignment(...)`: SGD + momentum, clipping, dropout, validation selection
  embed.py      a trained model over whole splits; ranking.py: R@K / median rank / chance
  baselines.py  nearest-neighbour captioning (Table 2) and retrieval baselines
  mrf.py        chain-MRF word -> region alignment by exact dynamic programming (3.1.4)
  snippets.py   region <-> snippet pairs, as SequenceExamples the trainer's m-RNN learns from
  export.py     SavedModel encoders + index.py (the searchable embeddings) for `vistflow retrieve`

Where we depart from the paper, and why:
  * Regions: no R-CNN detector can be downloaded here. Regions are 25 fixed windows over the
    backbone's conv grid (two scales) average-pooled from the stored features, plus the whole
    image (its global vector, with its own projection because it lives in another space).
  * Features are standardised per dimension with training-split statistics (model.py): the
    seeded random `tiny` backbone's activations are ~0.01, which stalls SGD.
  * Loss: pairs of the same image inside a batch are not negatives (batches are drawn over
    sentences, several per image), and the sum is divided by the batch size (loss.py).
  * Word vectors start random (no word2vec download); a local word2vec text file can be given.
  * The MRF is solved as a maximisation of the affinities (the paper calls it an energy to
    minimise; mrf.py explains the sign), and beta may be calibrated to a target snippet length
    (snippets.calibrate_beta) since the paper leaves it free and its scale depends on the model.
  * A run whose word vectors all die (ReLU) stops and keeps its best epoch (train.py).
"""
