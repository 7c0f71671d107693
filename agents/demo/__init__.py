"""``chimera demo``: replay real recorded data through the pipeline on the embedded stack and
summarise the run from its ClickHouse record.

| module | job |
|---|---|
| ``cli.py`` | the command: files, bundle, stack, migrate, run, summary |
| ``defaults.py`` | what is traded when not told: the bundle by the data's symbols, the regime |
| ``stack.py`` | start the embedded parts the run needs; stop only those it started |
| ``runner.py`` | the seam between the demo and what runs the pipeline (Totals, RunOutcome) |
| ``inprocess.py`` | the default runner: the in-process engine (``agents.engine``) |
| ``kafka.py`` | ``--kafka``: the Faust workers over Kafka (its contract; not built yet) |
| ``summary.py`` | the figures read back from ClickHouse, checked against the runner's totals |
"""
