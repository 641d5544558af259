"""The events domain's typed errors, each with a stable code."""

from core.errors import InvalidRequestError, ResourceMissingError


class EventNotFound(ResourceMissingError):
    pass


class WebhookEndpointNotFound(ResourceMissingError):
    pass


class WebhookUrlInvalid(InvalidRequestError):
    default_code = "url_invalid"

    def __init__(self, message: str):
        super().__init__(message, param="url")


class WebhookEndpointDisabled(InvalidRequestError):
    default_code = "webhook_endpoint_disabled"
