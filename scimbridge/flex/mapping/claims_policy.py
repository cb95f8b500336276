"""A Graph claims-mapping policy (Twilio's Flex SSO guide), translated to scimbridge's mapping.

Does: read a policy in either form Graph and Twilio's guide show it (Graph's answer to
``GET /policies/claimsMappingPolicies/{id}``, whose ``definition`` is an array of escaped JSON
strings, or the unescaped ``{"ClaimsMappingPolicy": …}`` object); translate every ``ClaimsSchema``
entry into the ``[flex.attributes]`` rule that writes the worker attribute SSO writes from it, the
Entra provisioning mapping that brings the property to scimbridge, or a note saying why it cannot
be carried over. Does not: read or write files, or print (``claims_import``, ``config_merge``).

How SSO turns a claim into a worker attribute (Twilio's "Configuring SSO and IdP in Flex"): a bare
``SamlClaimType`` becomes the attribute of that name; a namespaced one (``http://…/emailaddress``)
is ignored, except the NameID, which is the worker's ``friendly_name``; every value is a string
except ``roles`` (split on commas), and a name suffix types it (``skill.int``, ``vip.boolean``,
``languages.stringarray``). ``email``, ``full_name`` and ``roles`` are mandatory for a login.

Refused (:class:`PolicyError`, one line naming the entry): text that is not JSON or not a policy,
an entry without ``ID``/``ExtensionID`` or with a ``Source`` other than ``user``, an ``ID`` this
module does not know, two entries writing one attribute, and a claim that would write a key no
claim may set (``routing``, ``routing.*``, ``disabled_skills``, ``team_sid``) or no worker key at
all. An extension property's claim arrives as the FlexAgent extension attribute of the same name,
camel-cased where the name has dots (``channel.chat.capacity`` → ``channelChatCapacity``), which
the notes point out. Nothing is half-translated: a policy gives a whole :class:`Translation` or an
error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scimbridge.flex.mapping.config import valid_target

FLEX_AGENT_EXTENSION = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
NAME_ID = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
MANDATORY_CLAIMS = ("email", "full_name", "roles")
ROLES_EXPRESSION = "AppRoleAssignmentsComplex([appRoleAssignments])"
# Claim name suffixes Flex SSO casts by, and the rule type that gives the same JSON type.
SUFFIX_TYPES = {"string": "string", "int": "int", "boolean": "bool", "stringarray": "string_list"}
UNSUPPORTED_SUFFIXES = ("intarray", "booleanarray")
_EXTENSION_ID = re.compile(r"extension_([^_]+)_(.+)", re.IGNORECASE)
_SCIM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")

# Graph user property (ID, lower case) → (the Entra attribute in the provisioning mapping, the SCIM
# attribute Entra's mapping for scimbridge writes it to, which is also the rule's source).
STANDARD_PROPERTIES: dict[str, tuple[str, str]] = {
    "userprincipalname": ("userPrincipalName", "userName"),
    "displayname": ("displayName", "displayName"),
    "mail": ("mail", 'emails[type eq "work"].value'),
    "givenname": ("givenName", "name.givenName"),
    "surname": ("surname", "name.familyName"),
    "jobtitle": ("jobTitle", "title"),
    "department": ("department", f"{ENTERPRISE}:department"),
    "companyname": ("companyName", f"{ENTERPRISE}:organization"),
    "employeeid": ("employeeId", f"{ENTERPRISE}:employeeNumber"),
    "mailnickname": ("mailNickname", "externalId"),
    "preferredlanguage": ("preferredLanguage", "preferredLanguage"),
    "usertype": ("userType", "userType"),
    "telephonenumber": ("telephoneNumber", 'phoneNumbers[type eq "work"].value'),
    "mobile": ("mobile", 'phoneNumbers[type eq "mobile"].value'),
    "facsimiletelephonenumber": ("facsimileTelephoneNumber", 'phoneNumbers[type eq "fax"].value'),
    "streetaddress": ("streetAddress", 'addresses[type eq "work"].streetAddress'),
    "city": ("city", 'addresses[type eq "work"].locality'),
    "state": ("state", 'addresses[type eq "work"].region'),
    "postalcode": ("postalCode", 'addresses[type eq "work"].postalCode'),
    "country": ("country", 'addresses[type eq "work"].country'),
    "physicaldeliveryofficename": (
        "physicalDeliveryOfficeName",
        'addresses[type eq "other"].formatted',
    ),
    "assignedroles": (ROLES_EXPRESSION, "roles"),
}


class PolicyError(ValueError):
    """The input is not a policy this module can translate; the message is one line."""


@dataclass(frozen=True)
class ClaimEntry:
    """One ``ClaimsSchema`` entry: ``number`` counts from 1, ``label`` names it for messages."""

    number: int
    claim: str
    property_id: str
    extension: bool

    @property
    def label(self) -> str:
        kind = "ExtensionID" if self.extension else "ID"
        return f"ClaimsSchema entry {self.number} ({kind} {self.property_id!r})"


@dataclass(frozen=True)
class ProvisioningMapping:
    """An attribute mapping the Entra admin adds: ``entra`` → ``scim`` (for ``claim``)."""

    entra: str
    scim: str
    claim: str
    custom: bool = False  # the SCIM attribute must first be added to customappsso's list


@dataclass(frozen=True)
class Translation:
    """What a policy becomes: rule tables by worker key, Entra mappings, and what is left over."""

    attributes: dict[str, dict[str, str]]
    provisioning: tuple[ProvisioningMapping, ...]
    not_carried: tuple[str, ...]
    name_id_source: str | None  # the SCIM attribute the NameID's property arrives in


def read_policy(text: str) -> list[ClaimEntry]:
    """The claim entries of a policy in either form; raises :class:`PolicyError`."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise PolicyError(f"not JSON: {exc}") from None
    policies = _policies(document)
    entries: list[ClaimEntry] = []
    for policy in policies:
        schema = policy.get("ClaimsSchema")
        if not isinstance(schema, list):
            raise PolicyError("the ClaimsMappingPolicy has no ClaimsSchema list")
        for raw in schema:
            entries.append(_entry(len(entries) + 1, raw))
    return entries


def _policies(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, Mapping) and isinstance(document.get("value"), list):
        found = document["value"]  # a Graph list answer: exactly one policy, please
        if len(found) != 1:
            raise PolicyError(f"the Graph answer lists {len(found)} policies; pass one of them")
        document = found[0]
    if isinstance(document, Mapping) and "definition" in document:
        definition = document["definition"]
        if not isinstance(definition, list) or not all(isinstance(d, str) for d in definition):
            raise PolicyError("definition must be an array of JSON strings, as Graph returns it")
        policies: list[Mapping[str, Any]] = []
        for number, item in enumerate(definition, 1):
            try:
                inner = json.loads(item)
            except ValueError as exc:
                raise PolicyError(f"definition[{number - 1}] is not JSON: {exc}") from None
            policies.extend(_policies(inner))
        return policies
    if isinstance(document, Mapping) and isinstance(document.get("ClaimsMappingPolicy"), Mapping):
        return [document["ClaimsMappingPolicy"]]
    raise PolicyError(
        'not a claims-mapping policy: expected {"ClaimsMappingPolicy": …} or Graph\'s answer '
        "with a definition array"
    )


def _entry(number: int, raw: Any) -> ClaimEntry:
    where = f"ClaimsSchema entry {number}"
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where} is not an object")
    claim = raw.get("SamlClaimType")
    if not isinstance(claim, str) or not claim.strip():
        raise PolicyError(f"{where} has no SamlClaimType (Flex reads SAML claims only)")
    source = raw.get("Source")
    if not isinstance(source, str) or source.casefold() != "user":
        raise PolicyError(
            f"{where} ({claim!r}) has Source {source!r}; only user properties can be provisioned"
        )
    ids = [key for key in ("ID", "ExtensionID") if key in raw]
    if len(ids) != 1 or not isinstance(raw[ids[0]], str) or not raw[ids[0]].strip():
        raise PolicyError(f"{where} ({claim!r}) needs exactly one of ID or ExtensionID")
    return ClaimEntry(number, claim.strip(), raw[ids[0]].strip(), extension=ids[0] == "ExtensionID")


def translate(entries: list[ClaimEntry]) -> Translation:
    """Translate ``entries``; raises :class:`PolicyError` naming the first entry refused."""
    attributes: dict[str, dict[str, str]] = {}
    provisioning: list[ProvisioningMapping] = []
    notes: list[str] = []
    name_id_source: str | None = None
    written: dict[str, ClaimEntry] = {}
    for entry in entries:
        if entry.claim.casefold() == NAME_ID:
            entra, scim = _property(entry)
            name_id_source = scim
            provisioning.append(ProvisioningMapping(entra, scim, "NameID"))
            continue
        if "/" in entry.claim or ":" in entry.claim:
            notes.append(
                f"{entry.label}: the claim {entry.claim!r} is namespaced, and Flex ignores "
                "namespaced claims, so SSO writes nothing from it; nothing to carry over"
            )
            continue
        target, rule_type = _target(entry)
        if target in written:
            raise PolicyError(
                f"{entry.label}: writes the worker attribute {target!r}, as "
                f"{written[target].label} already does"
            )
        written[target] = entry
        if target == "roles":
            provisioning.append(_roles_mapping(entry, notes))
            continue
        if entry.extension:
            _property(entry)  # a well-formed extension_<appId>_<name>, or refused
            # Named after the worker key, so that custom_extensions alone would give it too.
            name = scim_attribute_name(target)
            scim = f"{FLEX_AGENT_EXTENSION}:{name}"
            if name != target:
                notes.append(
                    f"{entry.label}: the worker key {target!r} cannot be a SCIM attribute name, "
                    f"so Entra provisions it as {name!r} and a rule writes {target!r}; with "
                    f"[flex] custom_extensions = true the worker also gets {name!r} (set it to "
                    "false if no other extension attribute needs it)"
                )
            entra = entry.property_id
            provisioning.append(ProvisioningMapping(entra, scim, entry.claim, custom=True))
        else:
            entra, scim = _property(entry)
            provisioning.append(ProvisioningMapping(entra, scim, entry.claim))
        rule = {"source": scim}
        if rule_type != "string":
            rule["type"] = rule_type
        attributes[target] = rule
    for claim in MANDATORY_CLAIMS:
        if claim not in written:
            notes.append(
                f"the policy has no {claim!r} claim, which Flex requires for a login (error "
                f"45050); scimbridge writes {claim!r} from its built-in rule (see check-config)"
            )
    return Translation(attributes, tuple(provisioning), tuple(notes), name_id_source)


def _property(entry: ClaimEntry) -> tuple[str, str]:
    if entry.extension:
        match = _EXTENSION_ID.fullmatch(entry.property_id)
        if not match or not _SCIM_NAME.fullmatch(match.group(2)):
            raise PolicyError(
                f"{entry.label}: not a directory extension property (extension_<appId>_<name>)"
            )
        return entry.property_id, f"{FLEX_AGENT_EXTENSION}:{match.group(2)}"
    known = STANDARD_PROPERTIES.get(entry.property_id.casefold())
    if known is None:
        raise PolicyError(
            f"{entry.label}: unknown user property; known: {', '.join(sorted(STANDARD_PROPERTIES))}"
        )
    return known


def _target(entry: ClaimEntry) -> tuple[str, str]:
    """The worker key SSO writes from ``entry`` and the rule type giving the same JSON type."""
    base, _, suffix = entry.claim.rpartition(".")
    if base and suffix in UNSUPPORTED_SUFFIXES:
        raise PolicyError(
            f"{entry.label}: the claim {entry.claim!r} gives a list of {suffix[:-5]}s, which a "
            "mapping rule cannot produce; use .stringarray or map it by hand"
        )
    target, rule_type = (
        (base, SUFFIX_TYPES[suffix])
        if base and suffix in SUFFIX_TYPES
        else (
            entry.claim,
            "string",
        )
    )
    if entry.claim == "roles":
        return "roles", "string_list"
    reason = valid_target(target)
    if reason:
        raise PolicyError(f"{entry.label}: the claim {entry.claim!r} is refused: the name {reason}")
    if entry.extension and not _SCIM_NAME.fullmatch(scim_attribute_name(target)):
        raise PolicyError(
            f"{entry.label}: the claim {entry.claim!r} gives no SCIM attribute name, so Entra "
            f"cannot provision it in {FLEX_AGENT_EXTENSION}; map it by hand"
        )
    return target, rule_type


def scim_attribute_name(target: str) -> str:
    """The FlexAgent attribute for the worker key ``target``: the key itself where SCIM allows
    it, else camel case (``channel.chat.capacity`` → ``channelChatCapacity``: SCIM attribute
    names have no dots)."""
    if _SCIM_NAME.fullmatch(target):
        return target
    first, *rest = (part for part in re.split(r"[^A-Za-z0-9]+", target) if part)
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _roles_mapping(entry: ClaimEntry, notes: list[str]) -> ProvisioningMapping:
    if entry.extension or entry.property_id.casefold() != "assignedroles":
        notes.append(
            f"{entry.label}: roles come from the user's app roles in scimbridge (the built-in "
            f"roles rule, [flex.role_map]); map {ROLES_EXPRESSION} to roles instead"
        )
    else:
        notes.append(
            f"{entry.label}: SSO writes the app role values as they are; scimbridge writes the "
            "Flex roles among them (admin, supervisor, agent, wfo.*) and drops others, so name "
            "other values in [flex.role_map] (check-config --user shows any dropped)"
        )
    return ProvisioningMapping(ROLES_EXPRESSION, "roles", entry.claim)
