"""S4 order router: a pure core (``core.step``) deciding venue calls per execution style
(``styles/``), and the shell (``service.RouterService``) that carries them out on a venue and Redis
and produces ``ord.results`` and the ``orders`` / ``fills`` / ``strategy_events`` rows."""
