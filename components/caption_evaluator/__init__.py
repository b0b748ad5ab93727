"""CaptionEvaluator: decode an eval split with the candidate and the blessed baseline, score, bless."""
