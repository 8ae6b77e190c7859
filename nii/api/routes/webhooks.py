"""/v1/webhooks: clearance systems' subscriptions (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from nii.api.deps import ServicesDep, WebhookAdminDep
from nii.api.schemas import SubscriptionCreated, SubscriptionIn, SubscriptionOut, error_responses
from nii.store import audit, outbox
from nii.webhooks import signing_key

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ERRORS = error_responses(401, 403, 404, 409)
SubId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]


@router.post("", response_model=SubscriptionCreated, status_code=201, responses=ERRORS)
def add_subscription(
    services: ServicesDep, admin: WebhookAdminDep, body: SubscriptionIn
) -> SubscriptionCreated:
    """Subscribe an endpoint to case events; the signing key is returned only now."""
    with services.db.session() as s:
        sub = outbox.add_subscription(
            s, name=body.name, url=str(body.url), event_types=tuple(body.event_types)
        )
        audit.append(
            s, actor=f"{admin.role}:{admin.name}", action="webhook.subscribed", payload=sub.to_json()
        )
    out = SubscriptionOut.of(sub)
    return SubscriptionCreated(
        **out.model_dump(), signing_key=signing_key(services.settings.secret_key, sub.id)
    )


@router.get("", response_model=list[SubscriptionOut], responses=ERRORS)
def list_subscriptions(services: ServicesDep, admin: WebhookAdminDep) -> list[SubscriptionOut]:
    """Every subscription."""
    with services.db.session() as s:
        return [SubscriptionOut.of(x) for x in outbox.list_subscriptions(s)]


@router.delete("/{subscription_id}", response_model=SubscriptionOut, responses=ERRORS)
def remove_subscription(
    services: ServicesDep, admin: WebhookAdminDep, subscription_id: SubId
) -> SubscriptionOut:
    """Stop delivering to a subscription (its history stays)."""
    with services.db.session() as s:
        sub = outbox.deactivate_subscription(s, subscription_id)
        audit.append(
            s, actor=f"{admin.role}:{admin.name}", action="webhook.unsubscribed", payload=sub.to_json()
        )
    return SubscriptionOut.of(sub)
