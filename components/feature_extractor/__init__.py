"""CNN features at scale: backbones, the Beam RunInference job and the FeatureExtractor TFX component.

Import submodules directly (`backbones`, `parsing`, `pipeline`, `component`): this package stays
import-light so `parsing` can be used without Beam or TFX.
"""
