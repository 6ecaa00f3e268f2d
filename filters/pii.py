"""Masking of personal data: e-mail addresses, IP addresses (IPv4 and IPv6) and phone numbers.

FineWeb's pipeline ends with datatrove's `PIIFormatter()` (datatrove
`pipeline/formatters/pii.py`), which replaces e-mail addresses and public IPv4 addresses.
`PIIMasker` does the same with datatrove's regexes and replacement strings, and adds what
datatrove does not cover: IPv6 addresses and phone numbers (dolma tags those with its
`pii_regex_*` taggers, `python/dolma/taggers/pii.py`, but does not mask them).

- E-mails: datatrove's regex, unchanged (an RFC 5322-style local part, then a dotted domain or a
  bracketed IPv4 literal; so `user@localhost`, which has no dot, is not an address). Replaced by
  datatrove's `email@example.com` / `firstname.lastname@example.org` in turn (example.com/.org
  are reserved for documentation, RFC 2606).
- IPv4: datatrove's regex (four octets 0-255), with one difference: a match may not sit inside a
  longer dotted number, so `1.2.3.4.5` or `1234.5.6.78` is not cut to an address (datatrove
  masks `1.2.3.4` in `1.2.3.4.5`). As in datatrove only public addresses are masked
  (`ipaddress`'s `is_global`: not 10.0.0.1, 192.168.x.x, 127.0.0.1, 100.64.x.x, ...), and the
  replacements are datatrove's six addresses in turn ("randomly generated ... they did not respond
  to ping requests at the time the list was created", its comment says: public addresses, not
  reserved ones; e.g. `22.214.171.124`).
- IPv6 (not in datatrove): a run of hex groups and colons that `ipaddress.IPv6Address` accepts. In
  public-only mode (the default) it must also be global unicast (2000::/3, RFC 4291, where every
  assigned public address lies) and `is_global`, which keeps hex words such as `beef::cafe` and the
  documentation prefix 2001:db8::/32 unmasked. Replaced by `2001:db8::1` (RFC 3849 documentation
  prefix, never routed).
- Phone numbers (not in datatrove): conservative, so that years, dates, prices, ZIP codes,
  version numbers and ISBNs are never taken for one. Two forms only: North American numbers
  (NANP: area code and exchange start with 2-9, a separator between the groups, optional `+1`),
  e.g. `(212) 555-0147`, `212-555-0147`, `+1 212.555.0147`, `1-800-555-0199`; and international
  numbers written with a `+` and a country code other than 1, e.g. `+44 20 7946 0958`,
  `+44 (0)20 7946 0958`, `+33 1 23 45 67 89`, `+91-98765-43210`, `+442079460958`, with 9 to 15
  digits in all (E.164 allows at most 15; 10 at least when written without separators).
  Undelimited 10-digit runs (`2125550147`) and 7-digit local numbers (`555-0147`) are left
  alone: as bare digits they are as often ids, counts or timestamps. Replaced by `555-0100`, the
  first of the numbers NANPA reserves for fiction (555-0100 to 555-0199).

Replacements cycle through their tuple as datatrove's do, but the cycle restarts with every
document: datatrove keeps one counter for the whole run, so the replacement a document gets would
depend on the order in which a worker saw the documents, which Beam does not fix.

`score` counts what is masked (`emails`, `ips`, `phones`); `decide` always keeps; `__call__` also
sets `decision.fields = {"text": masked}`, which the chain applies to kept documents.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence

from thresher.filters.base import Decision, DocumentFilter

# datatrove PIIFormatter, verbatim
EMAIL_REGEX = re.compile(
    r"\b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9](?:["
    r"A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|["
    r"01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)])"
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
# datatrove's pattern between guards: no digit (or "digit.") before, no digit (or ".digit") after.
IPV4_REGEX = re.compile(rf"(?<!\d)(?<!\d\.)(?:{_OCTET}\.){{3}}{_OCTET}(?!\.?\d)")
# Candidates only; IPv6Address decides. A sentence may end right after one ("... 2001:4860::8888.").
IPV6_REGEX = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:]|\.\w)")
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")

_NANP = (
    r"(?:\+?1[-. ]?)?"  # optional country code
    r"(?:\([2-9]\d{2}\)[-. ]?|[2-9]\d{2}[-. ])"  # area code: "(212) ", "(212)", "212-", "212.", "212 "
    r"[2-9]\d{2}[-. ]\d{4}"  # exchange and line number
)
_INTERNATIONAL = (
    r"\+[2-9]\d{0,2}"  # country code (+1 is the NANP form above)
    r"(?:(?:[-. ]?\(0\)[-. ]?|[-. ])\d{1,8}(?:[-. ]\d{1,8}){0,5}"  # "+44 (0)20 7946 0958", "+33 1 23 45 67 89"
    r"|\d{9,12})"  # or compact: "+442079460958"
)
# Not inside a word or a longer number: nothing word-like, "+", "-" or "." before; after, no word
# character, no "-" and no ".5" / ",5" continuing the number.
PHONE_REGEX = re.compile(rf"(?<![\w+\-.])(?:{_NANP}|{_INTERNATIONAL})(?![\w\-]|[.,]\d)")
PHONE_DIGITS = (9, 15)  # E.164: at most 15 digits, country code included; 9 keeps "+20 30 40 50" out

# datatrove PIIFormatter defaults
EMAIL_REPLACEMENT = ("email@example.com", "firstname.lastname@example.org")
IP_REPLACEMENT = (
    "22.214.171.124",
    "126.96.36.199",
    "188.8.131.52",
    "184.108.40.206",
    "220.127.116.11",
    "18.104.22.168",
)
IPV6_REPLACEMENT = ("2001:db8::1",)  # RFC 3849 documentation prefix
PHONE_REPLACEMENT = ("555-0100",)  # NANPA: 555-0100..555-0199 are reserved for fictional use


def is_public_ipv4(candidate: str) -> bool:
    # datatrove public_ip_validator
    try:
        return ipaddress.IPv4Address(candidate).is_global
    except ValueError:
        return False


def is_public_ipv6(candidate: str) -> bool:
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return address in _GLOBAL_UNICAST and address.is_global


def is_ipv6(candidate: str) -> bool:
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def is_ipv4(candidate: str) -> bool:
    try:
        ipaddress.IPv4Address(candidate)
    except ValueError:
        return False
    return True


def is_phone_number(candidate: str) -> bool:
    # "(0)" is the trunk prefix dialled only from inside the country: not part of the number.
    digits = sum(c.isdigit() for c in candidate.replace("(0)", ""))
    return PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]


def mask(
    text: str, regex: re.Pattern, replacements: Sequence[str], valid: Callable[[str], bool] | None = None
) -> tuple[str, int]:
    """`text` with every valid match of `regex` replaced, cycling through `replacements` from the
    first; and how many were replaced."""
    count = 0

    def replace(match: re.Match) -> str:
        nonlocal count
        if valid is not None and not valid(match.group(0)):
            return match.group(0)
        replacement = replacements[count % len(replacements)]
        count += 1
        return replacement

    return regex.sub(replace, text), count


def _as_tuple(replacements: Sequence[str] | str) -> tuple[str, ...]:
    replacements = (replacements,) if isinstance(replacements, str) else tuple(replacements)
    if not replacements:
        raise ValueError("a replacement list needs at least one string")
    return replacements


class PIIMasker(DocumentFilter):
    name = "pii"

    def __init__(
        self,
        remove_emails: bool = True,  # datatrove PIIFormatter
        remove_ips: bool = True,  # datatrove PIIFormatter (IPv4); IPv6 is thresher's addition
        remove_phones: bool = True,  # not in datatrove: thresher's conservative regex (module docstring)
        only_remove_public_ips: bool = True,  # datatrove PIIFormatter
        email_replacement: Sequence[str] | str = EMAIL_REPLACEMENT,
        ip_replacement: Sequence[str] | str = IP_REPLACEMENT,
        ipv6_replacement: Sequence[str] | str = IPV6_REPLACEMENT,
        phone_replacement: Sequence[str] | str = PHONE_REPLACEMENT,
    ):
        self.remove_emails = remove_emails
        self.remove_ips = remove_ips
        self.remove_phones = remove_phones
        self.only_remove_public_ips = only_remove_public_ips
        self.email_replacement = _as_tuple(email_replacement)
        self.ip_replacement = _as_tuple(ip_replacement)
        self.ipv6_replacement = _as_tuple(ipv6_replacement)
        self.phone_replacement = _as_tuple(phone_replacement)

    def mask(self, text: str) -> tuple[str, dict[str, float]]:
        """The masked text and how many of each kind were masked."""
        emails = ips = phones = 0
        # E-mails first, as datatrove does: an address with an IP literal ("a@[8.8.8.8]") is one e-mail.
        if self.remove_emails:
            text, emails = mask(text, EMAIL_REGEX, self.email_replacement)
        if self.remove_ips:
            public = self.only_remove_public_ips
            text, v4 = mask(text, IPV4_REGEX, self.ip_replacement, is_public_ipv4 if public else is_ipv4)
            text, v6 = mask(text, IPV6_REGEX, self.ipv6_replacement, is_public_ipv6 if public else is_ipv6)
            ips = v4 + v6
        # Phones last: a dotted IPv4 address is gone by then, so it cannot be read as digit groups.
        if self.remove_phones:
            text, phones = mask(text, PHONE_REGEX, self.phone_replacement, is_phone_number)
        return text, {"emails": float(emails), "ips": float(ips), "phones": float(phones)}

    def score(self, doc: Mapping) -> dict[str, float]:
        return self.mask(doc["text"])[1]

    def decide(self, scores: Mapping[str, float]) -> Decision:
        return Decision(True)  # masking never drops a document

    def __call__(self, doc: Mapping) -> Decision:
        text, scores = self.mask(doc["text"])
        decision = self.decide(scores)
        decision.scores = scores
        decision.fields = {"text": text}  # applied by the chain to the kept document
        return decision
