"""Country and language codes: ISO 3166-1 alpha-2 (``pycountry``) and BCP 47 (``langcodes``).

A benchmark is organised by country-language pair, so a mistyped code would silently create a new
"country"; every code is checked against the standards' registries shipped in those packages (no
network).
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=512)
def is_country(code: str) -> bool:
    """True when ``code`` is an assigned ISO 3166-1 alpha-2 code (upper case, e.g. ``KE``)."""
    import pycountry

    return isinstance(code, str) and len(code) == 2 and code.isupper() and pycountry.countries.get(alpha_2=code) is not None


@lru_cache(maxsize=512)
def country_name(code: str) -> str:
    """English short name of an ISO 3166-1 alpha-2 code (the code itself if unknown)."""
    import pycountry

    c = pycountry.countries.get(alpha_2=code)
    return getattr(c, "common_name", None) or (c.name if c else code)


@lru_cache(maxsize=512)
def is_language(tag: str) -> bool:
    """True when ``tag`` is a well-formed BCP 47 tag whose language subtag is registered (``ar``,
    ``zh-Hant``, ``sw-KE``)."""
    import langcodes

    # langcodes accepts ``en_US``; BCP 47 separates subtags with hyphens only.
    return isinstance(tag, str) and bool(tag) and "_" not in tag and langcodes.tag_is_valid(tag)


def base_language(tag: str) -> str:
    """The language subtag of a BCP 47 tag, lower case (``zh-Hant-TW`` -> ``zh``)."""
    return tag.split("-", 1)[0].lower()
