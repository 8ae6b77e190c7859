"""Webhook delivery: the outbox worker, CloudEvents bodies, HMAC-SHA256 signatures.

Never imports fastapi; the API manages subscriptions through `nii.store.outbox`.
"""

from nii.webhooks.delivery import SIGNATURE_HEADER, WebhookDeliverer, sign, signing_key, verify_signature

__all__ = ["SIGNATURE_HEADER", "WebhookDeliverer", "sign", "signing_key", "verify_signature"]
