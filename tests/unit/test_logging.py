"""Requester emails and phone numbers never reach the logs."""

import io
import json
import logging

from tierline_shared.logging import JsonFormatter, PersonalDataFilter, mask_personal_data


def test_a_logged_email_and_phone_number_come_out_masked() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("intake"))
    handler.addFilter(PersonalDataFilter())
    log = logging.getLogger("tierline.test.pii")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("requester %s called from %s", "ada.park@example.com", "+44 20 7946 0958",
                    extra={"requester": {"email": "ada@example.com", "phone": "(555) 010-4477"},
                           "ticket_id": "123e4567-e89b-12d3-a456-426614174000",
                           "at": "2026-11-25T09:00:00Z", "offset": 1234567890})
        try:
            raise ValueError("bad address bob@example.org")
        except ValueError:
            log.exception("failed for 0044 7700 900123")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    for secret in ("ada.park@example.com", "ada@example.com", "7946", "010-4477",
                   "bob@example.org", "7700 900123"):
        assert secret not in text, secret
    first, second = (json.loads(line) for line in text.splitlines() if line.startswith("{"))
    assert first["event"] == "requester [email] called from [phone]"
    assert first["requester"] == {"email": "[email]", "phone": "[phone]"}
    assert first["ticket_id"] == "123e4567-e89b-12d3-a456-426614174000"
    assert first["at"] == "2026-11-25T09:00:00Z" and first["offset"] == 1234567890
    assert "[email]" in second["exc"] and second["event"] == "failed for [phone]"


def test_dates_ids_and_small_numbers_are_left_alone() -> None:
    for text in ("2026-11-25", "P1 ticket 42 of 1000", "10.0.0.1:9092", "v1.2.3",
                 "took 12.5 ms", "INC0010021"):
        assert mask_personal_data(text) == text
    assert mask_personal_data("call 555-010-4477 now") == "call [phone] now"
