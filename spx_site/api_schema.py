"""The OpenAPI schema class: drf-spectacular's, plus the house error shape on every operation
(400 bad input, 401/403 credentials, 404, 405, 413, 415, 429, 500), so a client and schemathesis know every
status an endpoint can answer with and its body."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers

# The error body lives here, not in spx_site.api: DRF imports this module while loading its settings,
# and spx_site.api imports rest_framework.views.


class ErrorSerializer(serializers.Serializer):
    """The error shape of every /api/ response with a 4xx/5xx status."""

    error = serializers.CharField(help_text="what went wrong, in words")
    fields = serializers.DictField(help_text="per-field messages for bad input; empty otherwise")  # type: ignore[assignment]


ERROR_STATUSES = {
    "400": "bad input (per-field messages in `fields`) or a malformed body",
    "401": "missing or wrong credentials",
    "403": "credentials that may not do this (a read-only token on a write)",
    "404": "no such object",
    "405": "method not allowed",
    "413": "request body too large (over DATA_UPLOAD_MAX_MEMORY_SIZE)",
    "415": "unsupported media type",
    "429": "too many requests (rate limited; the Retry-After header says when to try again)",
    "500": "internal error (logged; never a traceback)",
}


# Nested serializers with house names (``TradeDetailApi.OutputSerializer``) are named after their view.
GENERIC_SERIALIZER_NAMES = {"InputSerializer", "OutputSerializer", "StatsSerializer", "BucketSerializer"}


class AutoSchema(SpectacularAutoSchema):
    def _get_serializer_name(self, serializer: Any, direction: Any, bypass_extensions: bool = False) -> str:
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        cls = serializer if isinstance(serializer, type) else type(serializer)
        outer, _, inner = cls.__qualname__.rpartition(".")
        if outer and inner in GENERIC_SERIALIZER_NAMES:
            name = outer.rsplit(".", 1)[-1].removesuffix("Api") + name
        return name

    def _map_serializer_field(self, field: Any, direction: Any, bypass_extensions: bool = False) -> dict[str, Any]:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if schema.get("format") == "time":  # ours are New York wall-clock times ("10:00", "10:00:00"), no UTC offset:
            schema.pop("format")  # JSON Schema's "time" format demands one
            schema["pattern"] = r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"
        return schema

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, description in ERROR_STATUSES.items():
            if code in responses:
                continue
            body = self._get_response_for_code(ErrorSerializer, code)
            body["description"] = description
            responses[code] = body
        return responses


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "snapshots.api_auth.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <key>`: a per-user token (read-only or operator) from /api-tokens/ or `manage.py api_token`"}


class AdminApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "snapshots.api_auth.ApiKeyAuthentication"
    name = "adminApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": "X-API-Key",
                "description": "ADMIN_API_KEY: required on /api/admin/* when set; also accepted for reads and writes"}
