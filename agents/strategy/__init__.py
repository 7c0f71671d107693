"""S3, the strategy engine: L0 gate, L1 rule DSL, L2 model, entry intents (spec §A S3, B1, B7, B9).

The pure core (``core.decide``) imports no broker, no Redis client and no Faust, and returns the wire
contracts of ``topics.trading`` (``Decision``, ``OrderIntent``) plus a ``records.Trace``. The shell
parts carry out what it asks for: ``inputs`` (Redis), ``model_runner``, ``gate_step`` and ``shell``
(one decision), ``service`` (the active bundle read once per decision), ``wiring`` (what a worker
opens), ``agent`` (the Faust agent: feat.events -> ord.intents, sig.events, ``signals`` rows) and
``http`` (``POST /decide``).
"""
