"""Build ccxt's Binance clients: ``binance`` (spot) and ``binanceusdm`` (USDT-M), REST and WebSocket.

``binanceusdm`` is ccxt's ``binance`` with ``defaultType: swap`` / ``defaultSubType: linear`` and
only linear markets loaded. Test environment: ccxt 4.5 refuses Binance's futures testnet for
private calls ("not supported anymore ... use demo trading"), so ``binance_testnet=True`` switches
both clients to Binance *demo trading* (demo-api / demo-fapi hosts; one demo key pair serves
spot and futures). Demo trading has no ``sapi`` wallet endpoints: transfers need live keys.
"""

from __future__ import annotations

import logging
from typing import Any

import ccxt.async_support as ccxt_async

from chimera.model import Market
from chimera.settings import Settings


class RedactSecrets(logging.Filter):
    """ccxt logs request headers at DEBUG (the API key travels in ``X-MBX-APIKEY``): blank them out."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, *secrets: str) -> None:
        self._secrets.update(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if any(s in text for s in self._secrets):
            for secret in self._secrets:
                text = text.replace(secret, "***")
            record.msg, record.args = text, None
        return True


def ccxt_logger(settings: Settings) -> logging.Logger:
    """The logger handed to ccxt instead of its module logger, with the key and secret redacted."""
    logger = logging.getLogger("agents.connectors.binance.ccxt")
    redact = next((f for f in logger.filters if isinstance(f, RedactSecrets)), None)
    if redact is None:
        redact = RedactSecrets()
        logger.addFilter(redact)
    redact.add(settings.binance_api_key.get_secret_value(), settings.binance_api_secret.get_secret_value())
    return logger


def rest_config(
    settings: Settings, market: Market, session: Any | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The constructor dict for one REST client; ``session`` replaces aiohttp's (tests only)."""
    config: dict[str, Any] = {
        "apiKey": settings.binance_api_key.get_secret_value(),
        "secret": settings.binance_api_secret.get_secret_value(),
        "enableRateLimit": True,
        "logger": ccxt_logger(settings),
        "options": {
            "fetchMarkets": {"types": ["spot"] if market is Market.SPOT else ["linear"]},
            "fetchCurrencies": False,  # a private sapi call per load; we need no currency metadata
            "fetchMargins": False,  # no margin trading here
            "warnOnFetchOpenOrdersWithoutSymbol": False,
        },
    }
    if session is not None:
        config["session"] = session
    config.update(overrides or {})
    return config


class KeepBinanceCode:
    """Mixin: pin Binance's ``code`` and ``msg`` on the exception ccxt raises for an error answer.

    ccxt words its exceptions as "binance <msg>" when it recognises the message, dropping the
    code; the port's errors need the code (-2010 vs -2013 vs -1007).
    """

    def handle_errors(self, code: int, reason: str, url: str, method: str, headers: Any, body: Any,
                      response: Any, *rest: Any) -> Any:  # fmt: skip
        try:
            return super().handle_errors(code, reason, url, method, headers, body, response, *rest)  # type: ignore[misc]
        except Exception as exc:
            if isinstance(response, dict) and "code" in response:
                exc.binance_code = response.get("code")  # type: ignore[attr-defined]
                exc.binance_msg = str(response.get("msg", ""))  # type: ignore[attr-defined]
            raise


class SpotClient(KeepBinanceCode, ccxt_async.binance):
    pass


class UsdmClient(KeepBinanceCode, ccxt_async.binanceusdm):
    pass


def build_rest(
    settings: Settings, market: Market, session: Any | None = None, overrides: dict[str, Any] | None = None
) -> Any:
    cls = SpotClient if market is Market.SPOT else UsdmClient
    client = cls(rest_config(settings, market, session, overrides))
    if settings.binance_testnet:
        client.enable_demo_trading(True)
    return client


def build_ws(settings: Settings, market: Market) -> Any:
    """A ccxt.pro client for market data (public streams; imported lazily, it is heavy)."""
    import ccxt.pro as ccxt_pro

    cls = ccxt_pro.binance if market is Market.SPOT else ccxt_pro.binanceusdm
    client = cls(rest_config(settings, market))
    if settings.binance_testnet:
        client.enable_demo_trading(True)
    return client
