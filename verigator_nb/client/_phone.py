"""What the outcome log keeps of a phone number: its country, its range and its type.

SMS pumping shows as traffic to one country or one block of numbers that never verifies, so
the log needs to know where a number is and what kind it is, never the number itself:

- ``country``: the ISO region of its country calling code (``+44...`` -> ``GB``);
- ``number_range``: the calling code and the national digits with the last
  ``RANGE_DROPPED_DIGITS`` dropped (``+44 7400 123456`` -> ``+44 740012``), a block of 10,000
  numbers: consecutive numbers share it, one person's number is not told apart in it;
- ``number_type``: its kind in ``phonenumbers``' metadata, in words (``mobile``,
  ``fixed line``, ``premium rate``, ``toll free``, ``voip`` ... or ``unknown``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import PhoneNumberType

from verigator_nb.schema import PREMIUM_RATE

__all__ = ["RANGE_DROPPED_DIGITS", "PhoneFacts", "phone_facts", "region_of"]

RANGE_DROPPED_DIGITS: Final = 4  # a range is a block of 10**4 numbers
_TYPE_NAMES: Final = {
    value: name.lower().replace("_", " ")
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}
_UNKNOWN: Final = _TYPE_NAMES[PhoneNumberType.UNKNOWN]
# The schema names the premium-rate type for the analysis; it must be phonenumbers' word.
assert _TYPE_NAMES[PhoneNumberType.PREMIUM_RATE] == PREMIUM_RATE


@dataclass(frozen=True)
class PhoneFacts:
    """What the log keeps of one number (each None when the number cannot be read)."""

    country: str | None
    number_range: str | None
    number_type: str | None


_NOTHING: Final = PhoneFacts(None, None, None)


def phone_facts(number: str) -> PhoneFacts:
    """The country, range and type of an E.164 number; all None when it does not parse.

    The range and the type come from the number as dialled, valid or not: a number
    ``phonenumbers`` does not know is of type ``unknown``, its range still its digits.
    """
    if not isinstance(number, str):
        return _NOTHING
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return _NOTHING
    code = parsed.country_code or 0
    region = phonenumbers.region_code_for_country_code(code)
    national = phonenumbers.national_significant_number(parsed)
    kept = national[: max(0, len(national) - RANGE_DROPPED_DIGITS)]
    kind = phonenumbers.number_type(parsed)
    return PhoneFacts(
        None if region == phonenumbers.UNKNOWN_REGION else region,
        f"+{code} {kept}".rstrip(),
        _TYPE_NAMES.get(kind, _UNKNOWN),
    )


def region_of(number: str) -> str | None:
    """The ISO region of a number's country code (``+44...`` -> ``GB``), None if unknown."""
    return phone_facts(number).country
