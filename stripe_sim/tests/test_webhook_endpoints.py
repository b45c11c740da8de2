"""Webhook endpoint management (delivery: test_webhook_delivery.py)."""

import pytest
import stripe

from stripe_sim import SimulatorServer
from stripe_sim.tests.conftest import make_client


def test_create_update_list_retrieve_delete(client):
    created = client.webhook_endpoints.create(
        params={
            "url": "http://127.0.0.1:8069/api/payments/webhook/",
            "enabled_events": [
                "checkout.session.completed",
                "payment_intent.succeeded",
                "payment_intent.payment_failed",
            ],
            "description": "Omochi",
        }
    )
    assert created.id.startswith("we_")
    assert created.object == "webhook_endpoint"
    assert created.secret.startswith("whsec_")
    assert created.status == "enabled"

    fetched = client.webhook_endpoints.retrieve(created.id)
    assert "secret" not in fetched
    assert fetched.enabled_events == created.enabled_events

    updated = client.webhook_endpoints.update(
        created.id,
        params={
            "url": "https://shop.example/api/payments/webhook/",
            "enabled_events": ["*"],
            "disabled": True,
            "metadata": {"env": "test"},
        },
    )
    assert updated.url == "https://shop.example/api/payments/webhook/"
    assert updated.enabled_events == ["*"]
    assert updated.status == "disabled"
    assert updated.metadata.to_dict() == {"env": "test"}
    assert (
        client.webhook_endpoints.update(created.id, params={"disabled": False}).status
        == "enabled"
    )

    listed = client.webhook_endpoints.list()
    assert listed.object == "list"
    assert [e.id for e in listed.data] == [created.id]

    deleted = client.webhook_endpoints.delete(created.id)
    assert deleted.deleted is True
    assert client.webhook_endpoints.list().data == []


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"enabled_events": ["*"]}, "url"),
        ({"url": "not a url", "enabled_events": ["*"]}, "url"),
        ({"url": "https://x.example/hook"}, "enabled_events"),
        ({"url": "https://x.example/hook", "enabled_events": ["no.such"]}, None),
    ],
)
def test_create_validation(client, params, param):
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.webhook_endpoints.create(params=params)
    if param:
        assert info.value.param == param


def test_configured_webhook_survives_reset():
    with SimulatorServer(
        webhook_url="http://127.0.0.1:8069/api/payments/webhook/",
        webhook_secret="whsec_configured",
    ) as sim:
        sim.reset()
        targets = sim.state.webhook_targets()
        assert [(e["url"], s) for e, s in targets] == [
            ("http://127.0.0.1:8069/api/payments/webhook/", "whsec_configured")
        ]
        listed = make_client(sim).v1.webhook_endpoints.list()
        assert listed.data[0].enabled_events == ["*"]
