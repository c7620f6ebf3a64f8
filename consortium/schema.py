"""The OpenAPI schema's error answers, in one place for every app's API.

Every operation documents the errors any endpoint can give (400, 401, 403, 404, 409 on
writes, 415 where a body is sent, 429, 503), each in the one error shape
of consortium.api.exception_handler: {"message": "...", "extra": {"fields": {...}}}.
drf-spectacular only documents what a view declares (its 2xx answer); the errors come
from shared machinery (validation, authentication, permissions, throttles, the database
being restarted), so they are added here rather than on each view."""

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.permissions import AllowAny

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
BODY_METHODS = ("POST", "PUT", "PATCH")


class ErrorExtraSerializer(serializers.Serializer):
    fields = serializers.DictField(
        required=False,
        help_text="For invalid input (400): each field's name with its messages (nested for "
        "nested input; `non_field_errors` for rules over several fields).",
    )

    existing = serializers.DictField(
        required=False,
        help_text="For a registration of a patient your institution already has (400): "
        "that record's `register_number`, `url` (this API) and `page` (the browser's).",
    )

    class Meta:
        ref_name = "ErrorExtra"


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="What went wrong, in words for a person.")
    extra = ErrorExtraSerializer()

    class Meta:
        ref_name = "Error"


ERRORS = {
    400: "Invalid input: `message` says what, `extra.fields` names each field and its rule.",
    401: "No valid credentials: sign in or send `Authorization: Token <key>`.",
    403: "Not allowed for your role or institutions, or two-factor authentication is missing.",
    404: "Not found, or not visible to you (also a page number past the last page).",
    409: "Changed meanwhile: the `version` you sent is older than the record's; reload it.",
    415: "The body is not in a media type the operation takes (or cannot be read as one).",
    429: "Too many requests: wait the `Retry-After` seconds and try again.",
    503: "Briefly unavailable (the database is restarting): retry after `Retry-After` seconds.",
}

RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before trying again.",
    }
}


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with the shared error answers on every operation."""

    def error_codes(self) -> list[int]:
        public = not self.view.get_authenticators() and all(
            isinstance(p, AllowAny) for p in self.view.get_permissions()
        )
        return [
            code
            for code in ERRORS
            if not (public and code in (401, 403))
            and not (code == 409 and self.method not in WRITE_METHODS)
            and not (code == 415 and self.method not in BODY_METHODS)
        ]

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self.error_codes():
            if str(code) in responses:
                continue
            # Error bodies are JSON whatever the operation's success answer is.
            response = self._get_response_for_code(
                ErrorSerializer, str(code), media_types=["application/json"]
            )
            response["description"] = ERRORS[code]
            if code in (429, 503):
                response["headers"] = RETRY_AFTER
            responses[str(code)] = response
        return responses
