"""Webhook consumer: POST each event, HMAC-signed, to configured HTTPS endpoints."""
