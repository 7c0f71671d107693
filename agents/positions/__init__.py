"""S6, the position manager: trailing stop ladder, partial take-profit, add-ons, risk release,
auto-treasury (spec §A S6, B1.3, B3, B7, B8).

| module | job |
|---|---|
| ``config.py`` | PositionConfig: frozen, validated, ``rev`` = hash of its JSON |
| ``state.py`` | the per-symbol book (Faust table value), JSON-round-trippable |
| ``events.py`` | the core's inputs and effects |
| ``core.py`` | pure: ``step(book, event, ctx) -> (book, effects)`` |
| ``results.py`` | order results: fills, order states, the close |
| ``fills.py`` / ``levels.py`` | exact fill accounting; price levels, ROE, liquidation |
| ``protect.py`` | the stop and final take-profit, replaced make-before-break |
| ``manage.py`` | the management tick: guard, stagnation, TP rungs, trailing, add-ons |
| ``intents.py`` / ``records.py`` | wire intents with deterministic ids; events, rows, mirrors |
| ``treasury.py`` | pure auto-treasury decision and its PENDING row |
| ``inputs.py`` | ticks, ATR and entry plans from the other topics |
| ``service.py`` | the shell: Redis mirror, gate release, locks; collects what the agent sends |

The core imports no broker, no Redis client and no Faust.
"""
