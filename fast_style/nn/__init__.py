"""The networks: layers that hold one row per style, the one transformer (one, many or, folded, any style), and
inference-time surgery (exact sub-pixel forms)."""
