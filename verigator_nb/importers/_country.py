"""The ``country`` of an imported row, from what the export says about the phone; the phone
number itself is read, turned into its region and dropped, as the client does.

- ``country_of_number``: the client's own rule (``client.region_of``: the ISO region of the
  number's country calling code), cached by calling code for exports with a million numbers.
- ``country_of_mcc``: the mobile country code of the network the message went to, for the
  countries below; any other code gives no country rather than a guess.
"""

from __future__ import annotations

import re
from functools import lru_cache

from verigator_nb.client._resources import region_of

__all__ = ["country_of_mcc", "country_of_number"]

# E.164: "+", then 8 to 15 digits. Its country calling code (1 to 3 digits, prefix-free) is in
# its first three digits, and such a number always parses, so "+" and three digits decide
# its region exactly.
_E164 = re.compile(r"\+[1-9]\d{7,14}")

# ITU-T E.212 mobile country codes of single-country MCCs (a code shared by several countries
# or territories is left out on purpose).
_MCC_REGIONS = {
    "202": "GR", "204": "NL", "206": "BE", "208": "FR", "214": "ES", "216": "HU", "219": "HR",
    "222": "IT", "226": "RO", "228": "CH", "230": "CZ", "231": "SK", "232": "AT", "234": "GB",
    "235": "GB", "238": "DK", "240": "SE", "242": "NO", "244": "FI", "246": "LT", "247": "LV",
    "248": "EE", "250": "RU", "255": "UA", "260": "PL", "262": "DE", "268": "PT", "272": "IE",
    "284": "BG", "286": "TR", "293": "SI", "302": "CA", "310": "US", "311": "US", "312": "US",
    "313": "US", "314": "US", "315": "US", "316": "US", "334": "MX", "404": "IN", "405": "IN",
    "406": "IN", "410": "PK", "420": "SA", "440": "JP", "441": "JP", "450": "KR", "452": "VN",
    "460": "CN", "470": "BD", "502": "MY", "505": "AU", "510": "ID", "515": "PH", "520": "TH",
    "525": "SG", "530": "NZ", "602": "EG", "621": "NG", "655": "ZA", "722": "AR", "724": "BR",
    "730": "CL", "732": "CO",
}  # fmt: skip


@lru_cache(maxsize=1024)
def _region_by_prefix(prefix: str) -> str | None:
    # A valid number with this prefix: only its calling code matters to ``region_of``.
    return region_of(prefix + "0" * 8)


def country_of_number(number: object) -> str | None:
    """The ISO region of a phone number's calling code, or ``None`` (not a number, or unknown)."""
    if not isinstance(number, str):
        return None
    if _E164.fullmatch(number):
        return _region_by_prefix(number[:4])
    return region_of(number)


def country_of_mcc(mcc: object) -> str | None:
    """The ISO region of a mobile country code (``"234"`` -> ``"GB"``), or ``None``."""
    code = mcc if isinstance(mcc, str) else str(mcc) if isinstance(mcc, int) else ""
    return _MCC_REGIONS.get(code)
