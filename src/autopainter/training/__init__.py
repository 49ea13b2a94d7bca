"""Training, laid out as edm's: the loop (``loop.train``) with one tick gate (``schedule``), and beside it
the step (``step``), the EMA (``ema``), resume state (``checkpoint``), device/precision/compile/DDP
(``runtime``, ``distributed``), the models of a run (``models``), run folders and stats (``runs``),
sample grids (``samples``), the batch sampler (``sampler``), signals (``signals``) and the release
export (``export``)."""
