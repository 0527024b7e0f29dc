"""The pure part of the right to erasure: pseudonyms, scrubbing text, rewriting JSON, and
the replacements by digest that the other services apply."""

from __future__ import annotations

from tierline_shared.privacy import (
    ERASED,
    Eraser,
    apply_replacements,
    digest,
    identity_of,
    pseudonym,
    scrub_text,
    subject_digest,
)

ADA = identity_of(["u-1001", "crm-77"], ["ada@example.com"], ["Ada Park"], "u-1001")


def test_the_pseudonym_is_stable_and_says_nothing() -> None:
    assert pseudonym("u-1001") == pseudonym(" u-1001 ") == ADA.pseudonym
    assert ADA.pseudonym.startswith("erased-") and "1001" not in ADA.pseudonym
    assert pseudonym("u-1002") != ADA.pseudonym
    assert subject_digest("email", "Ada@Example.com ") == subject_digest("email",
                                                                         "ada@example.com")
    assert subject_digest("id", "ada@example.com") != subject_digest("email",
                                                                     "ada@example.com")


def test_scrub_removes_the_persons_identifiers_and_masks_contacts() -> None:
    text = ("Ada Park (ADA@example.com, +44 20 7946 0958) says u-1001's VPN drops; "
            "Ada asked for a call. Ask bob@example.org. Ticket u-10010 is unrelated.")
    out = scrub_text(text, ADA)
    assert "Ada" not in out and "ada@" not in out.lower() and "7946" not in out
    assert "bob@example.org" not in out and "[email]" in out and "[phone]" in out
    assert f"{ADA.pseudonym}'s VPN drops" in out and "u-10010" in out
    assert out.count(ERASED) == 3


def test_name_parts_match_only_as_written() -> None:
    will = identity_of(["cust-9"], [], ["Will Young"], "cust-9")
    assert scrub_text("Will says it will work", will) == f"{ERASED} says it will work"


def test_values_ids_become_the_pseudonym_contacts_go_text_is_scrubbed() -> None:
    eraser = Eraser(ADA)
    detail = {"customer": {"customer_id": "crm-77", "name": "Ada Park",
                           "email": "ada@example.com", "plan": "gold", "vip": True},
              "reasons": [{"field": "customer", "value": "crm-77", "confidence": 0.9}],
              "service": {"name": "VPN"}, "count": 3}
    out = eraser.json(detail)
    assert out == {"customer": {"customer_id": ADA.pseudonym, "name": None, "email": None,
                                "plan": "gold", "vip": True},
                   "reasons": [{"field": "customer", "value": ADA.pseudonym,
                                "confidence": 0.9}],
                   "service": {"name": "VPN"}, "count": 3}
    assert eraser.requester({"id": "u-1001", "name": "Ada Park", "email": "ada@example.com",
                             "vip": False, "plan": "gold"}) == {
        "id": ADA.pseudonym, "vip": False, "plan": "gold"}


def test_the_persons_own_words_go_whole() -> None:
    eraser = Eraser(ADA)
    mine = eraser.entry({"text": "my router is at Elm Street 4", "public": True}, True)
    theirs = eraser.entry({"text": "Called Ada Park back", "public": True}, False)
    assert mine == {"text": ERASED, "public": True}
    assert theirs == {"text": f"Called {ERASED} back", "public": True}


def test_replacements_carry_digests_not_the_data_and_rewrite_another_copy() -> None:
    eraser = Eraser(ADA)
    eraser.take_touched()
    title = eraser.text("Ada Park cannot log in")
    words = eraser.own_words("still broken, call me on 020 7946 0958")
    eraser.value("u-1001")
    replacements = eraser.take_touched()
    assert eraser.take_touched() == {}
    flat = repr(replacements)
    assert "Ada" not in flat and "7946" not in flat and "u-1001" not in flat
    stored = {"requester_id": "u-1001", "title": "Ada Park cannot log in",
              "comment": "still broken, call me on 020 7946 0958", "score": 2,
              "other": "unrelated text"}
    assert apply_replacements(stored, replacements) == {
        "requester_id": ADA.pseudonym, "title": title, "comment": words, "score": 2,
        "other": "unrelated text"}
    assert apply_replacements("Ada Park cannot log in", {}) == "Ada Park cannot log in"
    assert replacements[digest("u-1001")] == ADA.pseudonym


def test_a_contact_erased_as_a_value_stays_erased_when_seen_again() -> None:
    eraser = Eraser(ADA)
    assert eraser.value("ada@example.com") is None
    assert eraser.value("ada@example.com") is None
    assert eraser.text("ada@example.com") == ERASED
    assert eraser.changes[digest("ada@example.com")] == ERASED
