"""Webhook endpoints of the simulated account."""

import copy

from .errors import resource_missing
from .ids import new_id
from .params import (
    WEBHOOK_PARAMS,
    WEBHOOK_UPDATE_PARAMS,
    enabled_events_param,
)
from .validation import (
    as_bool,
    as_metadata,
    as_url,
    check_allowed,
    expand_list,
    merge_metadata,
    require,
)


def event_matches(enabled_events, event_type: str) -> bool:
    """Whether an endpoint with ``enabled_events`` wants ``event_type``."""
    return "*" in enabled_events or event_type in enabled_events


class WebhookEndpoints:
    """Webhook endpoints of the simulated account: a part of
    :class:`~stripe_sim.state.SimulatorState` (its lock, clock, objects and
    events)."""

    def create_webhook_endpoint(self, params: dict, secret: str | None = None):
        """``POST /v1/webhook_endpoints``; the answer alone carries ``secret``."""
        params = dict(params)
        check_allowed(params, WEBHOOK_PARAMS)
        with self._lock:
            endpoint = {
                "id": new_id("we"),
                "object": "webhook_endpoint",
                "api_version": params.get("api_version"),
                "application": None,
                "created": self.now(),
                "description": params.get("description"),
                "enabled_events": enabled_events_param(
                    require(params, "enabled_events")
                ),
                "livemode": False,
                "metadata": as_metadata(params.get("metadata")),
                "status": "enabled",
                "url": as_url(require(params, "url"), "url"),
            }
            self._objects[endpoint["id"]] = endpoint
            self._webhook_secrets[endpoint["id"]] = secret or new_id("whsec")
            return {
                **copy.deepcopy(endpoint),
                "secret": self._webhook_secrets[endpoint["id"]],
            }

    def add_webhook_endpoint(
        self, url: str, secret: str | None = None, enabled_events=("*",)
    ) -> dict:
        """Register an endpoint directly (the CLI's ``--webhook-url``)."""
        return self.create_webhook_endpoint(
            {"url": url, "enabled_events": list(enabled_events)}, secret=secret
        )

    def update_webhook_endpoint(self, endpoint_id: str, params: dict) -> dict:
        """``POST /v1/webhook_endpoints/{id}``."""
        params = dict(params)
        check_allowed(params, WEBHOOK_UPDATE_PARAMS)
        with self._lock:
            endpoint = self._objects.get(endpoint_id)
            if endpoint is None or endpoint["object"] != "webhook_endpoint":
                raise resource_missing(
                    "webhook_endpoint", endpoint_id, "webhook_endpoint"
                )
            if "url" in params:
                endpoint["url"] = as_url(params["url"], "url")
            if "enabled_events" in params:
                endpoint["enabled_events"] = enabled_events_param(
                    params["enabled_events"]
                )
            if "description" in params:
                endpoint["description"] = params["description"] or None
            if "metadata" in params:
                endpoint["metadata"] = merge_metadata(
                    endpoint["metadata"], params["metadata"], "metadata"
                )
            if "disabled" in params:
                disabled = as_bool(params["disabled"], "disabled")
                endpoint["status"] = "disabled" if disabled else "enabled"
            return self.expand(endpoint, expand_list(params))

    def delete_webhook_endpoint(self, endpoint_id: str) -> dict:
        """``DELETE /v1/webhook_endpoints/{id}``."""
        with self._lock:
            self.get_object(endpoint_id, "webhook_endpoint")
            del self._objects[endpoint_id]
            self._webhook_secrets.pop(endpoint_id, None)
            return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}

    def webhook_target(self, endpoint_id: str) -> tuple[dict, str] | None:
        """One enabled endpoint with its current secret, or ``None`` when it was
        deleted or disabled."""
        with self._lock:
            endpoint = self._objects.get(endpoint_id)
            if (
                endpoint is None
                or endpoint["object"] != "webhook_endpoint"
                or endpoint["status"] != "enabled"
            ):
                return None
            return copy.deepcopy(endpoint), self._webhook_secrets[endpoint_id]

    def webhook_delivered(self, event_id: str) -> None:
        """One endpoint acknowledged ``event_id``: decrement ``pending_webhooks``."""
        with self._lock:
            event = self._objects.get(event_id)
            if event is not None and event["object"] == "event":
                event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)

    def webhook_targets(self) -> list[tuple[dict, str]]:
        """Enabled endpoints with their signing secrets (for delivery)."""
        with self._lock:
            return [
                (copy.deepcopy(obj), self._webhook_secrets[obj["id"]])
                for obj in self._objects.values()
                if obj["object"] == "webhook_endpoint" and obj["status"] == "enabled"
            ]
