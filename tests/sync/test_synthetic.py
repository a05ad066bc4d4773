from __future__ import annotations

from sync.model import decode_contact, encode
from sync.synthetic import synthetic_contacts


def test_population_is_deterministic_and_round_trips_through_json():
    first = list(synthetic_contacts(50, seed=3))
    again = list(synthetic_contacts(50, seed=3))
    assert [encode(c) for c in first] == [encode(c) for c in again]
    assert all(decode_contact(encode(c)) == c for c in first)
    assert any(c.deals for c in first) and any(c.events for c in first)
    assert all(len(c.events) <= 30 and len(c.activities) <= 10 and len(c.deals) <= 3 for c in first)
