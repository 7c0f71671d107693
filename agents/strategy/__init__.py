"""S3, the strategy engine: L0 gate, L1 rule DSL, L2 model, entry intents (spec §A S3, B1, B7, B9).

The pure core (``core.decide``) imports no broker, no Redis client and no Faust; the shell parts
(``model_runner``, ``gate_step``, ``inputs``, ``shell``) carry out what the core asks for.
"""
