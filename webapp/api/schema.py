"""The error answers every operation can give, declared in the OpenAPI schema.

A drf-spectacular post-processing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]), so a
new endpoint is covered without anyone remembering to: which codes apply follows from what
the operation takes. Codes a view gives for its own reasons (409, 503) are declared on the
view. Schemathesis (tests/webapp/test_schema_fuzz.py) fails on any code not declared here.
"""

from __future__ import annotations

from typing import Any

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
    "description": "What went wrong, in a sentence.",
}
INVALID = {
    "type": "object",
    "description": (
        'Bad input: each field named with what is wrong with it ({"text": ["..."]}); '
        'problems not tied to one field under "non_field_errors", or one "detail".'
    ),
    "additionalProperties": {
        "anyOf": [
            {"type": "array", "items": {"type": "string"}},  # {"text": ["..."]}
            {"type": "string"},  # {"detail": "..."}
            {"type": "object"},  # a nested serializer's errors
        ]
    },
}

METHODS = ("get", "put", "post", "patch", "delete")


def _answers(operation: dict[str, Any]) -> dict[str, str]:
    """status -> description of the error answers ``operation`` can give."""
    parameters = operation.get("parameters", [])
    takes_query = any(p.get("in") == "query" for p in parameters)
    takes_path = any(p.get("in") == "path" for p in parameters)
    takes_body = "requestBody" in operation
    answers = {
        "401": "The token is unknown or expired, or this needs a signed-in user.",
        "403": "Not allowed: a session request without its CSRF token, or missing rights.",
        "429": "Too many requests; `Retry-After` says when to try again.",
    }
    if takes_query or takes_body:
        answers["400"] = "Bad input; each problem is named next to its field."
    if takes_path or any(p.get("name") == "page" for p in parameters):
        answers["404"] = "No such object of yours (or no such page)."
    if takes_body:
        answers["415"] = "The body is not in a media type this operation reads."
    return answers


def declare_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    schemas.setdefault("Invalid", INVALID)
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in _answers(operation).items():
                if code in responses and responses[code].get("content"):
                    continue  # the view declared its own body for it
                name = "Invalid" if code == "400" else "Error"
                responses[code] = {
                    "description": responses.get(code, {}).get("description") or description,
                    "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                    },
                }
    return result
