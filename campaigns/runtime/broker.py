"""Where the broker is: the configured URL, or the embedded Redis of a running `serve`."""

from __future__ import annotations

from campaigns.errors import CampaignsError
from campaigns.settings import Settings


class BrokerUnavailableError(CampaignsError):
    pass


def broker_url(settings: Settings) -> str:
    if settings.broker_url is not None:
        return settings.broker_url.get_secret_value()
    from campaigns.runtime.embedded import find_embedded_redis

    running = find_embedded_redis(settings.data_dir)
    if running is None:
        raise BrokerUnavailableError(
            f"no broker: start `campaigns serve` (data dir {settings.data_dir.resolve()}) "
            "or set CAMPAIGNS_BROKER_URL"
        )
    return running.broker_url
