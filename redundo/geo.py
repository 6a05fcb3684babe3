"""Where each region is: the provider, the city and the country behind every region code we accept.

A blast radius is a city: the Strasbourg fire took SBG1 to SBG4 at once, so two regions of one
city count as one site. Only regions whose city we know, and whose prices the catalogue carries,
are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["AWS_REGIONS", "OVH_INSTANCE_REGIONS", "OVH_STORAGE_REGIONS", "Location", "Provider", "locate"]

Provider = Literal["ovh", "aws"]


@dataclass(frozen=True)
class Location:
    """One region of one provider, with the city whose disasters it shares."""

    provider: Provider
    region: str
    city: str
    country: str

    def __str__(self) -> str:
        return f"{self.provider.upper()} {self.region} ({self.city}, {self.country})"

    def same_city(self, other: Location) -> bool:
        return (self.city, self.country) == (other.city, other.country)


def _table(provider: Provider, rows: dict[str, tuple[str, str]]) -> dict[str, Location]:
    return {code: Location(provider, code, city, country) for code, (city, country) in rows.items()}


# OVHcloud Public Cloud compute regions (ovh/docs, Public Cloud regions availability).
OVH_INSTANCE_REGIONS = _table(
    "ovh",
    {
        "GRA7": ("Gravelines", "FR"),
        "GRA9": ("Gravelines", "FR"),
        "GRA11": ("Gravelines", "FR"),
        "SBG5": ("Strasbourg", "FR"),
        "SBG7": ("Strasbourg", "FR"),
        "RBX-A": ("Roubaix", "FR"),
        "EU-WEST-PAR": ("Paris", "FR"),
        "DE1": ("Frankfurt", "DE"),
        "UK1": ("London", "GB"),
        "WAW1": ("Warsaw", "PL"),
        "BHS5": ("Beauharnois", "CA"),
    },
)

# OVHcloud Object Storage (S3) regions (ovh/docs, object_storage/s3_location, 2024-08-09).
OVH_STORAGE_REGIONS = _table(
    "ovh",
    {
        "GRA": ("Gravelines", "FR"),
        "SBG": ("Strasbourg", "FR"),
        "RBX": ("Roubaix", "FR"),
        "EU-WEST-PAR": ("Paris", "FR"),
        "DE": ("Frankfurt", "DE"),
        "UK": ("London", "GB"),
        "WAW": ("Warsaw", "PL"),
        "BHS": ("Beauharnois", "CA"),
    },
)

# AWS regions whose S3, Lightsail and transfer prices the catalogue carries.
AWS_REGIONS = _table(
    "aws",
    {
        "eu-west-3": ("Paris", "FR"),
        "eu-central-1": ("Frankfurt", "DE"),
    },
)


def locate(provider: Provider, region: str, *, storage: bool = False) -> Location:
    """The Location of a region code; KeyError when the code is not one we accept."""
    if provider == "aws":
        return AWS_REGIONS[region]
    return (OVH_STORAGE_REGIONS if storage else OVH_INSTANCE_REGIONS)[region]
