"""Mail Send request validation as SendGrid does it: the limits, reserved headers and address shape, and one
``{"errors": [...]}`` entry per problem found.
"""

from __future__ import annotations

import re
import time
from typing import Any

ErrorDict = dict[str, str | None]
JsonDict = dict[str, Any]


MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_SUBSTITUTIONS_BYTES = 10_000
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
MAX_PAYLOAD_BYTES = 30 * 1024 * 1024
MAX_SCHEDULE_AHEAD_SECONDS = 72 * 3600
RATE_LIMIT = 600
# SendGrid refuses to let callers override these; compared lower-cased.
RESERVED_HEADERS = frozenset(
    {
        "x-sg-id",
        "x-sg-eid",
        "received",
        "dkim-signature",
        "content-type",
        "content-transfer-encoding",
        "to",
        "from",
        "subject",
        "reply-to",
        "cc",
        "bcc",
    }
)
# Pragmatic "looks like an address" check: local@domain.tld, no spaces or angle brackets.
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)


def api_error(message: str, field: str | None = None) -> ErrorDict:
    """One entry of SendGrid's ``{"errors": [...]}`` list."""
    return {"message": message, "field": field, "help": None}


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _str_map_bytes(mapping: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in mapping.items())


def _check_address(value: Any, path: str, errors: list[ErrorDict]) -> str | None:
    """Validate an ``{"email": ..., "name": ...}`` object; returns the email when valid."""
    if not isinstance(value, dict):
        errors.append(api_error("Each email object must be a JSON object with an email parameter.", path))
        return None
    email = value.get("email")
    if not isinstance(email, str) or not EMAIL_RE.match(email):
        errors.append(api_error("Does not contain a valid address.", f"{path}.email"))
        return None
    if "name" in value and not isinstance(value["name"], str):
        errors.append(api_error("Invalid type. Expected: string.", f"{path}.name"))
    return email


def _check_recipient_list(
    items: Any, path: str, rejected: frozenset[str], seen: set[str], errors: list[ErrorDict]
) -> int:
    """Validate a to/cc/bcc array; returns how many recipients it holds."""
    if not isinstance(items, list):
        errors.append(api_error("Invalid type. Expected: array.", path))
        return 0
    for i, item in enumerate(items):
        email = _check_address(item, f"{path}.{i}", errors)
        if email is None:
            continue
        key = email.lower()
        if key in rejected:
            errors.append(api_error(f"The email address {email} was rejected.", f"{path}.{i}.email"))
        if key in seen:
            errors.append(_duplicate_error(email, path))
        seen.add(key)
    return len(items)


def _duplicate_error(email: str, path: str) -> ErrorDict:
    message = (
        "Each email address in the personalization block should be unique between to, cc, and bcc. "
        f"We found the first duplicate instance of [{email}] in the {path} field."
    )
    return api_error(message, path.rsplit(".", 1)[0])  # SendGrid names the personalization


def _check_headers(value: Any, path: str, errors: list[ErrorDict]) -> None:
    if value is None:
        return
    if not _is_str_map(value):
        errors.append(api_error("Invalid type. Headers must be an object of string keys and values.", path))
        return
    for name in value:
        if name.lower() in RESERVED_HEADERS:
            errors.append(api_error(f"The header {name} is reserved and cannot be set.", f"{path}.{name}"))


def _check_custom_args(value: Any, top_level: dict[str, str], path: str, errors: list[ErrorDict]) -> None:
    """custom_args are string->string; a personalization's plus the top level's stay <= 10,000 bytes."""
    if value is None:
        return
    if not _is_str_map(value):
        errors.append(api_error("Invalid type. custom_args values must be strings.", path))
        return
    merged = {**top_level, **value}
    if _str_map_bytes(merged) > MAX_CUSTOM_ARGS_BYTES:
        message = (
            "The custom_args for a given personalization plus the custom_args for the message "
            f"can not exceed {MAX_CUSTOM_ARGS_BYTES} bytes."
        )
        errors.append(api_error(message, path))


def _check_substitutions(value: Any, path: str, errors: list[ErrorDict]) -> None:
    if value is None:
        return
    if not _is_str_map(value):
        errors.append(api_error("Invalid type. Substitution values must be strings.", path))
    elif _str_map_bytes(value) > MAX_SUBSTITUTIONS_BYTES:
        message = f"The total size of substitutions may not exceed {MAX_SUBSTITUTIONS_BYTES} bytes per personalization."
        errors.append(api_error(message, path))


def _check_send_at(value: Any, path: str, errors: list[ErrorDict]) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        errors.append(api_error("Invalid type. Expected: integer (unix timestamp).", path))
    elif value > time.time() + MAX_SCHEDULE_AHEAD_SECONDS:
        errors.append(api_error("Scheduled sends may be at most 72 hours in the future.", path))


def _check_personalization(
    pers: Any, index: int, top_custom_args: dict[str, str], rejected: frozenset[str], errors: list[ErrorDict]
) -> int:
    """Validate one personalization; returns its recipient count (to + cc + bcc)."""
    path = f"personalizations.{index}"
    if not isinstance(pers, dict):
        errors.append(api_error("Each personalization must be a JSON object.", path))
        return 0
    to = pers.get("to")
    if not isinstance(to, list) or not to:
        message = (
            "The to array is required for all personalization objects, and must have at least one "
            "email object with a valid email address."
        )
        errors.append(api_error(message, f"{path}.to"))
    seen: set[str] = set()
    count = 0
    for kind in ("to", "cc", "bcc"):
        if pers.get(kind) is not None:
            count += _check_recipient_list(pers[kind], f"{path}.{kind}", rejected, seen, errors)
    if "from" in pers:
        _check_address(pers["from"], f"{path}.from", errors)
    if "subject" in pers and not isinstance(pers["subject"], str):
        errors.append(api_error("Invalid type. Expected: string.", f"{path}.subject"))
    _check_headers(pers.get("headers"), f"{path}.headers", errors)
    _check_substitutions(pers.get("substitutions"), f"{path}.substitutions", errors)
    _check_custom_args(pers.get("custom_args"), top_custom_args, f"{path}.custom_args", errors)
    _check_send_at(pers.get("send_at"), f"{path}.send_at", errors)
    if "dynamic_template_data" in pers and not isinstance(pers["dynamic_template_data"], dict):
        errors.append(api_error("Invalid type. Expected: object.", f"{path}.dynamic_template_data"))
    return count


def _check_personalizations(body: JsonDict, rejected: frozenset[str], errors: list[ErrorDict]) -> None:
    items = body.get("personalizations")
    if not isinstance(items, list) or not items:
        message = "The personalizations field is required and must have at least one personalization."
        errors.append(api_error(message, "personalizations"))
        return
    if len(items) > MAX_PERSONALIZATIONS:
        message = (
            f"The personalization block is limited to {MAX_PERSONALIZATIONS} personalizations per API "
            f"request. You have provided {len(items)} personalizations. Please consider splitting this "
            "into multiple requests and resending your request."
        )
        errors.append(api_error(message, "personalizations"))
        return
    top_args = body.get("custom_args")
    top_args = top_args if _is_str_map(top_args) else {}
    total = sum(_check_personalization(p, i, top_args, rejected, errors) for i, p in enumerate(items))
    if total > MAX_RECIPIENTS:
        message = f"There is a limit of {MAX_RECIPIENTS} total recipients (to + cc + bcc) per request."
        errors.append(api_error(message, "personalizations"))


def _check_from(body: JsonDict, errors: list[ErrorDict]) -> None:
    sender = body.get("from")
    if not isinstance(sender, dict) or "email" not in sender:
        message = (
            "The from object must be provided for every email send. It is an object that requires "
            'the email parameter, but may also contain a name parameter.  e.g. {"email" : '
            '"example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.'
        )
        errors.append(api_error(message, "from.email"))
        return
    _check_address(sender, "from", errors)


def _check_subject(body: JsonDict, errors: list[ErrorDict]) -> None:
    subject = body.get("subject")
    if subject is not None and not isinstance(subject, str):
        errors.append(api_error("Invalid type. Expected: string.", "subject"))
        return
    if subject or body.get("template_id"):
        return
    items = body.get("personalizations") or []
    if all(isinstance(p, dict) and p.get("subject") for p in items):
        return
    message = (
        "The subject is required. You can get around this requirement if you use a template with a "
        "subject defined or if every personalization has a subject defined."
    )
    errors.append(api_error(message, "subject"))


def _check_content_block(block: Any, path: str, errors: list[ErrorDict]) -> None:
    if not isinstance(block, dict):
        errors.append(api_error("Each content block must be an object with type and value.", path))
        return
    mime = block.get("type")
    if not isinstance(mime, str) or not mime or any(c in mime for c in ";\r\n"):
        errors.append(
            api_error("The content type must be a string at least one character in length.", f"{path}.type")
        )
    value = block.get("value")
    if not isinstance(value, str) or not value:
        errors.append(
            api_error("The content value must be a string at least one character in length.", f"{path}.value")
        )


def _check_content(body: JsonDict, errors: list[ErrorDict]) -> None:
    content = body.get("content")
    if content is None and body.get("template_id"):
        return
    if not isinstance(content, list) or not content:
        message = (
            "Unless a valid template_id is provided, the content parameter is required. There must be at "
            "least one defined content block. We typically suggest both text/plain and text/html blocks "
            "are included, but only one block is required."
        )
        errors.append(api_error(message, "content"))
        return
    for i, block in enumerate(content):
        _check_content_block(block, f"content.{i}", errors)
    types = [block.get("type") for block in content if isinstance(block, dict)]
    if "text/plain" in types[1:]:
        message = (
            "If present, text/plain content must be first, followed by text/html and then any other content."
        )
        errors.append(api_error(message, "content.0.type"))


def _check_categories(body: JsonDict, errors: list[ErrorDict]) -> None:
    categories = body.get("categories")
    if categories is None:
        return
    if not isinstance(categories, list) or len(categories) > MAX_CATEGORIES:
        errors.append(
            api_error(
                f"The categories parameter may not have more than {MAX_CATEGORIES} items.", "categories"
            )
        )
        return
    for i, name in enumerate(categories):
        if not isinstance(name, str) or not name or len(name) > MAX_CATEGORY_LENGTH:
            message = f"A category must be a string of 1 to {MAX_CATEGORY_LENGTH} characters."
            errors.append(api_error(message, f"categories.{i}"))


def _check_extras(body: JsonDict, errors: list[ErrorDict]) -> None:
    """Optional top-level objects that only need the right shape."""
    if body.get("reply_to") is not None:
        _check_address(body["reply_to"], "reply_to", errors)
    for i, item in enumerate(body.get("reply_to_list") or []):
        _check_address(item, f"reply_to_list.{i}", errors)
    asm = body.get("asm")
    if asm is not None and (not isinstance(asm, dict) or not isinstance(asm.get("group_id"), int)):
        errors.append(api_error("The asm object requires an integer group_id.", "asm.group_id"))
    for name in ("mail_settings", "tracking_settings"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            errors.append(api_error("Invalid type. Expected: object.", name))
    if body.get("template_id") is not None and not isinstance(body["template_id"], str):
        errors.append(api_error("Invalid type. Expected: string.", "template_id"))
    if body.get("custom_args") is not None and not _is_str_map(body["custom_args"]):
        errors.append(api_error("Invalid type. custom_args values must be strings.", "custom_args"))
    _check_headers(body.get("headers"), "headers", errors)
    _check_send_at(body.get("send_at"), "send_at", errors)


def validate_mail_send(body: Any, rejected: frozenset[str] = frozenset()) -> list[ErrorDict]:
    """All of SendGrid's documented 400s we model, in SendGrid's error shape; [] means valid."""
    if not isinstance(body, dict):
        return [api_error("Bad Request")]
    errors: list[ErrorDict] = []
    _check_from(body, errors)
    _check_personalizations(body, rejected, errors)
    _check_subject(body, errors)
    _check_content(body, errors)
    _check_categories(body, errors)
    _check_extras(body, errors)
    return errors
