"""vistflow trainer: the references' captioning/storytelling models as a TFX Trainer module.

run.py        TFX entry point `run_fn(fn_args)`; train.py the one training loop, `train(...)`
              (fit.py: Keras fit over the epochs, the best epoch restored)
hparams.py    HParams / DecodingConfig (custom_config) with the papers' defaults
data.py       feature SequenceExamples -> model inputs (per-image rows or stories); the
              vocabulary (002's preprocessing) is the floor's vistflow/vocabulary.py, shared
              with retrieval/
models/       mrnn, show_tell, show_attend_tell, global_context, seq2seq_story (registry.py)
decoding.py   one batched in-graph decoder: greedy, beam, sampling
inference.py  Captioner: features or image bytes -> captions/stories (the exported graph)
export.py     SavedModel export (signatures serving_default, story, from_features,
              story_from_features), reexport with other decoding settings
callbacks.py  resumable checkpoints, early stopping, loss curve; results.py the results CSV
"""
