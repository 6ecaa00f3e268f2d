"""PII masking: what must be masked, what must not, and parity with datatrove's PIIFormatter."""

import json

import pytest

from thresher.contracts.schema import RawRecord
from thresher.filters.chain import DocumentChain
from thresher.filters.pii import EMAIL_REPLACEMENT, IP_REPLACEMENT, IPV6_REPLACEMENT, PHONE_REPLACEMENT, PIIMasker
from thresher.filters.registry import load_recipe, parse_recipe

from conftest import need_data


def masked(text: str, **options) -> str:
    return PIIMasker(**options).mask(text)[0]


@pytest.mark.parametrize(
    "email",
    [
        "john.doe@gmail.com",
        "j_smith+news@mail.example.co.uk",
        "Info@Bakery-Berlin.de",
        "o'brien@ucd.ie",
        "first.last@sub.domain.university.edu",
    ],
)
def test_emails_are_masked(email):
    assert masked(f"Write to {email} for details.") == f"Write to {EMAIL_REPLACEMENT[0]} for details."


def test_email_replacements_take_turns_and_restart_with_each_document():
    masker = PIIMasker()
    text = "Sales: anna@shop.com, support: ben@shop.com, press: cleo@shop.com."
    expected = f"Sales: {EMAIL_REPLACEMENT[0]}, support: {EMAIL_REPLACEMENT[1]}, press: {EMAIL_REPLACEMENT[0]}."
    assert masker.mask(text)[0] == expected
    assert masker.mask(text)[0] == expected  # not "firstname.lastname@..." first: the cycle restarted


@pytest.mark.parametrize("text", ["ssh root@localhost", "user@host", "@handle and @other", "5 @ $3 each"])
def test_addresses_without_a_dotted_domain_are_not_emails(text):
    assert masked(text) == text


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "151.101.1.69", "203.0.114.5"])
def test_public_ipv4_addresses_are_masked(ip):
    assert masked(f"The server at {ip} answered.") == f"The server at {IP_REPLACEMENT[0]} answered."


@pytest.mark.parametrize(
    "ip", ["10.0.0.1", "192.168.1.1", "172.16.5.4", "127.0.0.1", "100.64.0.1", "192.0.2.1", "0.0.0.0"]
)
def test_private_and_reserved_ipv4_addresses_are_kept_as_datatrove_keeps_them(ip):
    assert masked(f"Set the gateway to {ip} first.") == f"Set the gateway to {ip} first."


def test_private_ipv4_addresses_are_masked_when_only_public_is_off():
    assert masked("gateway 10.0.0.1", only_remove_public_ips=False) == f"gateway {IP_REPLACEMENT[0]}"


@pytest.mark.parametrize("text", ["section 1.2.3.4.5 applies", "serial 1234.5.6.78", "build 10.0.19041.1"])
def test_dotted_numbers_longer_than_an_address_are_not_cut_into_one(text):
    assert masked(text) == text


@pytest.mark.parametrize(
    "ip",
    ["2001:4860:4860::8888", "2606:4700:4700::1111", "2a00:1450:4001:811::200e", "2a03:2880:f10c:83:face:b00c:0:25de"],
)
def test_public_ipv6_addresses_are_masked(ip):
    assert masked(f"It resolves to {ip}.") == f"It resolves to {IPV6_REPLACEMENT[0]}."


@pytest.mark.parametrize(
    "text",
    [
        "loopback ::1",
        "link-local fe80::1%eth0",
        "docs use 2001:db8::1",
        "ULA fd12:3456:789a::1",
        "a hex joke beef::cafe",
        "at 12:30:45 sharp",
        "std::vector<int>",
        "ratio 3:2:1",
    ],
)
def test_non_public_ipv6_and_colon_text_are_kept(text):
    assert masked(text) == text


@pytest.mark.parametrize(
    "phone",
    [
        "(212) 555-0147",
        "(212)555-0147",
        "212-555-0147",
        "212.555.0147",
        "212 555 0147",
        "+1 212 555 0147",
        "+1 (212) 555-0147",
        "1-800-555-0199",
    ],
)
def test_north_american_phone_numbers_are_masked(phone):
    assert masked(f"Call {phone} today.") == f"Call {PHONE_REPLACEMENT[0]} today."


@pytest.mark.parametrize(
    "phone",
    [
        "+44 20 7946 0958",
        "+44 (0)20 7946 0958",
        "+33 1 23 45 67 89",
        "+49 30 1234567",
        "+91-98765-43210",
        "+81 3-1234-5678",
        "+385(0)51 228 148",
        "+442079460958",
    ],
)
def test_international_phone_numbers_are_masked(phone):
    assert masked(f"Call {phone} today.") == f"Call {PHONE_REPLACEMENT[0]} today."


@pytest.mark.parametrize(
    "text",
    [
        "Founded in 1998, rebuilt in 2024.",
        "On 2024-01-15, 15.03.2024 and 03/15/2024 at 10:30.",
        "It costs $1,299.99, or 212.55 EUR, or 1 299 990 yen.",
        "Upgrade from 3.11.4 to 3.12.0 (build 20240115).",
        "ISBN 978-0-306-40615-7 and ISBN 0-306-40615-2 and ISBN-13: 9780306406157.",
        "Beverly Hills, CA 90210-1234; New York, NY 10001.",
        "+5 points; up +20 30 40 50; 1,234,567,890 visits.",
        "Order 2125550147 shipped; call 555-0147 locally.",
        "Card 4111-1111-1111-1111 and tracking 212-555-0147-88.",
    ],
)
def test_years_dates_prices_versions_isbns_zips_and_ids_are_not_phone_numbers(text):
    assert masked(text) == text


def test_each_kind_can_be_switched_off():
    text = "mail ann@shop.com, host 8.8.8.8, phone (212) 555-0147"
    assert masked(text, remove_emails=False).startswith("mail ann@shop.com, host 22.")
    assert "8.8.8.8" in masked(text, remove_ips=False) and "ann@" not in masked(text, remove_ips=False)
    assert masked(text, remove_phones=False).endswith("(212) 555-0147")


def test_score_counts_each_kind_decide_keeps_and_the_call_sets_the_text():
    masker = PIIMasker()
    doc = {"text": "a@b.org and c@d.org, 8.8.8.8 and 2001:4860:4860::8888, (212) 555-0147"}
    assert masker.score(doc) == {"emails": 2.0, "ips": 2.0, "phones": 1.0}
    decision = masker(doc)
    assert decision.keep and decision.scores == masker.score(doc)
    assert decision.fields == {"text": masker.mask(doc["text"])[0]}


def test_a_recipe_stage_masks_the_kept_text_and_stores_the_counts():
    recipe = parse_recipe({"stages": [{"name": "extract", "kind": "extract"}, {"name": "pii", "kind": "pii"}]})
    text = "Mail ann@shop.com or call +44 20 7946 0958."
    outcome = DocumentChain(recipe).process(RawRecord("x.jsonl", 0, len(text), "jsonl", id="x", text=text))
    assert outcome.status == "kept"
    assert outcome.doc["text"] == f"Mail {EMAIL_REPLACEMENT[0]} or call {PHONE_REPLACEMENT[0]}."
    scores = {"extract.replacement_share": 0.0, "pii.emails": 1.0, "pii.ips": 0.0, "pii.phones": 1.0}
    assert outcome.doc["scores"] == scores


def test_fineweb_recipe_masks_as_fineweb_did_just_before_dedup():
    stages = load_recipe("fineweb").stages
    assert [s.kind for s in stages[-3:]] == ["pii", "exact_dedup", "minhash_dedup"]
    assert stages[-3].options == {"remove_phones": False}  # PIIFormatter(): e-mails and IPs


# Parity with datatrove's PIIFormatter (e-mails and IPv4), a fresh one per text: thresher restarts
# the replacement cycle with every document, datatrove's counter runs over the whole pipeline.
PARITY_TEXTS = [
    "Contact jane.doe@example.com or j.smith@mail.co.uk; webmaster@[192.168.0.1] bounces.",
    "DNS 8.8.8.8, 1.1.1.1 and 9.9.9.9; LAN 192.168.1.1 and 10.0.0.1; loopback 127.0.0.1.",
    "Logged from 66.249.66.1 (crawler) then 203.0.113.9 (docs range) then 172.217.3.110.",
    "Three addresses a@x.io, b@y.io, c@z.io and seven hosts 4.4.4.4 5.5.5.5 6.6.6.6 7.7.7.7 8.8.4.4 80.80.80.80 90.1.1.1",
    "No personal data here: version 3.11.4, 2024-01-15, $1,299.99, user@localhost.",
]


def _datatrove_formatter():
    pii = pytest.importorskip("datatrove.pipeline.formatters.pii")
    return pii.PIIFormatter()


@pytest.mark.parametrize("text", PARITY_TEXTS)
def test_emails_and_ipv4_are_masked_exactly_as_datatrove_masks_them(text):
    assert masked(text, remove_phones=False) == _datatrove_formatter().format(text)


def test_parity_with_datatrove_on_real_web_text():
    texts = []
    for path in [
        ("dclm-human-quality-annotations", "majority_data.jsonl"),
        ("commoncrawl-records", "ccnet-jsonl", "cc_en_head-0091.jsonl"),
    ]:
        texts += [json.loads(line)["text"] for line in need_data(*path).read_text().splitlines()]
    masker = PIIMasker(remove_phones=False)
    emails = 0
    for text in texts:
        ours, counts = masker.mask(text)
        assert ours == _datatrove_formatter().format(text)
        emails += counts["emails"]
    assert emails > 0  # the set holds addresses, so the comparison tested something
