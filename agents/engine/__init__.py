"""The in-process replay engine: fast backtests on the same service cores and shells the Faust
workers run (DESIGN §1.1), with no broker between them.

| module | job |
|---|---|
| ``config.py`` | EngineConfig (run id, batching, venue, regime, health); SimVenue and S6 from the bundle |
| ``services.py`` | the services of one run on one event-time clock and the run's Redis prefix |
| ``engine.py`` | the hops, in order, per record (module docstring) |
| ``coalesce.py`` | S2 fed once per bar, not per micro-batch: the same events, a quarter of the time less |
| ``regime.py`` | S2's daily regime job run at each UTC midnight of event time |
| ``records.py`` | the run's ClickHouse rows through one batching sink |
| ``result.py`` | what a run hands back |
| ``run.py`` | ``run_backtest(records, bundle, redis, backend)``; ``drop_keys`` |
"""

from agents.engine.config import EngineConfig, positions_for, venue_config
from agents.engine.engine import Engine
from agents.engine.result import BacktestResult
from agents.engine.run import drop_keys, run_backtest

__all__ = [
    "BacktestResult",
    "Engine",
    "EngineConfig",
    "drop_keys",
    "positions_for",
    "run_backtest",
    "venue_config",
]
