"""The fill pass: the model run over a stack's planned windows, blended, and written.

:mod:`.settings` says how a pass streams (threads, blocks, strips: memory, never the bits);
:mod:`.batches` cuts the model's inputs and composes a date's output; :mod:`.fill_pass` runs
the self-check and the fill of each group of dates on one device.
"""
