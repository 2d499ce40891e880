"""Keyword lists: the checksums of the built-in lists against published valid numbers and their near misses, and
the examiner's terms (literals in UTF-16 text, accents, hostile regular expressions, files that are not UTF-8).

Valid numbers come from their publishers, never from the code under test: card numbers from the networks' test
numbers (as the payment processors' documentation lists them: Visa 4111 1111 1111 1111 …), IBANs from SWIFT's IBAN
Registry examples, Bitcoin addresses from BIP 173/350's test vectors and the Bitcoin wiki, Ethereum addresses from
EIP-55's examples. A near miss changes one character: every checksum here must catch it.
"""

from __future__ import annotations

import dataclasses
import random
import string
from pathlib import Path

import pytest
from stdnum import luhn

from cybertriage.analyzers import keyword_lists as kl
from cybertriage.analyzers.keywords import _matches, match_text, raw_text
from cybertriage.errors import UsageError

CARDS = ["4111111111111111", "4012888888881881", "5555555555554444", "5105105105105100", "378282246310005",
         "371449635398431", "6011111111111117", "3530111333300000", "2223003122003222"]
IBANS = ["GB29NWBK60161331926819", "DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300",
         "BE68539007547034", "CH9300762011623852957", "ES9121000418450200051332"]
BITCOIN = ["1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
           "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",  # BIP 173
           "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",  # BIP 350
           "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs"]  # BIP 350: witness version 2
BITCOIN_INVALID = ["bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",  # BIP 350: bech32 not bech32m
                   "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",  # BIP 350: v0 with bech32m
                   "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh"]  # BIP 350: v0 with bech32m
ETHEREUM = ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"]


def _one_changed(value: str, alphabet: str, start: int = 0) -> list[str]:
    """Every string that differs from `value` in one character of `alphabet` (from position `start`)."""
    return [value[:index] + other + value[index + 1:] for index in range(start, len(value))
            for other in alphabet if other != value[index] and value[index] in alphabet]


def _one_changed_in_kind(value: str, start: int) -> list[str]:
    """Every string that differs from `value` in one digit for another or one letter for another: what ISO 7064's
    mod 97-10 is proven to catch (a letter for a digit changes the number's length, which it does not always)."""
    return [value[:index] + other + value[index + 1:] for index in range(start, len(value))
            for other in (string.digits if value[index].isdigit() else string.ascii_uppercase) if other != value[index]]


@pytest.mark.parametrize("number", CARDS)
def test_card_numbers_and_their_near_misses(number: str) -> None:
    assert kl.card_number(number) == (number, len(number))
    spaced = " ".join(number[i:i + 4] for i in range(0, len(number), 4))
    assert kl.card_number(spaced) == (number, len(spaced))
    assert kl.card_number(spaced + " 12345") == (number, len(spaced))  # ran into the next number
    misses = _one_changed(number, string.digits)
    assert misses and not [miss for miss in misses if kl.card_number(miss)]


@pytest.mark.parametrize("number", IBANS)
def test_ibans_and_their_near_misses(number: str) -> None:
    assert kl.iban_number(number) == (number, len(number))
    spaced = " ".join(number[i:i + 4] for i in range(0, len(number), 4))
    assert kl.iban_number(spaced) == (number, len(spaced))
    assert kl.iban_number(spaced + " GB29 NWBK") == (number, len(spaced))
    misses = _one_changed_in_kind(number, start=2)
    assert not [miss for miss in misses if kl.iban_number(miss) == (miss, len(miss))]


@pytest.mark.parametrize("address", BITCOIN)
def test_bitcoin_addresses_and_their_near_misses(address: str) -> None:
    assert kl.bitcoin_address(address) in ((address, len(address)), (address.lower(), len(address)))
    alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l" if address.lower().startswith("bc1") else \
        "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    sample = address.lower() if address.lower().startswith("bc1") else address
    misses = _one_changed(sample, alphabet, start=4)
    assert misses and not [miss for miss in misses if kl.bitcoin_address(miss)]


@pytest.mark.parametrize("address", BITCOIN_INVALID)
def test_bip350_invalid_addresses(address: str) -> None:
    assert kl.bitcoin_address(address) is None


@pytest.mark.parametrize("address", ETHEREUM)
def test_ethereum_checksums_and_their_near_misses(address: str) -> None:
    assert kl.eip55(address.lower()) == address
    assert kl.ethereum_address(address) == (address.lower(), 42)
    assert kl.ethereum_address(address.lower()) == (address.lower(), 42)  # all one case: no checksum to hold
    flipped = [address[:i] + address[i].swapcase() + address[i + 1:] for i in range(2, 42) if address[i].isalpha()]
    assert flipped and not [miss for miss in flipped if kl.ethereum_address(miss)]


def test_built_in_lists_over_text() -> None:
    text = ("Pay 4111 1111 1111 1111 not 4111 1111 1111 1112; IBAN GB29 NWBK 6016 1331 9268 19 GB29 NWBK 6016 1331 "
            "9268 18; mail jo.doe@example.org; call +44 20 7946 0958; 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN1 is no address"
            "; one against the next: +44 20 7946 0958 4111 1111 1111 1111 12345 DE89 3704 0044 0532 0130 00 "
            "GB29 NWBK 6016 1331 9268 19")
    found = match_text(kl.BUILTIN_LISTS.values(), text).found
    assert {key: hits.count for key, hits in found.items()} == {
        ("card-numbers", "4111111111111111"): 2, ("ibans", "GB29NWBK60161331926819"): 2,
        ("ibans", "DE89370400440532013000"): 1, ("e-mail-addresses", "jo.doe@example.org"): 1,
        ("phone-numbers", "+442079460958"): 2}
    start, end = found[("ibans", "GB29NWBK60161331926819")].places[0]
    assert text[start:end] == "GB29 NWBK 6016 1331 9268 19"


def _terms(*lines: str) -> kl.KeywordList:
    return kl.KeywordList("case", tuple(kl.parse_term(line, "test") for line in lines))


def test_literal_found_in_utf16_text_with_its_offset() -> None:
    text = "Rendez-vous at the DOCKS, bring the Ledger.\n"
    for encoding in ("utf-16", "utf-16-le", "utf-16-be"):
        data = text.encode(encoding)
        decoded, _ = raw_text(data)
        found = match_text([_terms("docks", "ledger")], decoded).found
        assert [hits.places for hits in found.values()] == [[(19, 24)], [(36, 42)]], encoding
        assert decoded[19:24] == "DOCKS"


def test_fuzzy_term_ignores_accents_and_one_typing_error() -> None:
    text = "Zoë met Zoe, then Björnsson and Bjornson; not Zoey nor Bjorn."
    found = match_text([_terms("~zoe", "~Björnsson")], text).found
    assert [text[s:e] for s, e in found[("case", "~zoe")].places] == ["Zoë", "Zoe"]
    assert [text[s:e] for s, e in found[("case", "~Björnsson")].places] == ["Björnsson", "Bjornson"]


def test_regular_expression_terms() -> None:
    text = "Order #A-1234 and order #b-99; money  transfer"
    found = match_text([_terms(r"re:#[a-z]-\d+", r"re:money\s+\w+")], text).found
    assert [text[s:e] for s, e in found[("case", r"re:#[a-z]-\d+")].places] == ["#A-1234", "#b-99"]
    assert [text[s:e] for s, e in found[("case", r"re:money\s+\w+")].places] == ["money  transfer"]


@pytest.mark.parametrize("pattern", [r"(a|aa)+$", r"(\d|\d\d)+$", r"(x|xx)+y"])
def test_catastrophic_regular_expression_refused(pattern: str) -> None:
    with pytest.raises(UsageError, match="backtracks catastrophically"):
        kl.parse_term("re:" + pattern, "keyword file terms.txt, line 3")


def test_slow_regular_expression_stops_at_its_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pattern that passes the probe but is slow on the real text stops at the time limit, said, with no hang."""
    monkeypatch.setattr(kl, "REGEX_TIMEOUT", 0.2)
    monkeypatch.setattr("cybertriage.analyzers.keywords.REGEX_TIMEOUT", 0.2)
    term = kl.Term("re:(b|bb)+$", "regex", kl.regex.compile(r"(b|bb)+$"))
    matching = match_text([kl.KeywordList("case", (term,))], "b" * 60 + "!")
    assert matching.unfinished == ["case: re:(b|bb)+$ timed out"]


@pytest.mark.parametrize(("line", "message"), [("re:(unclosed", "not a regular expression"),
                                               ("re:", "without a regular expression"),
                                               ("re:x*", "matches empty text"), ("~ ", "without a term")])
def test_bad_terms_are_usage_errors(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        kl.parse_term(line, "test")


def test_keyword_file_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    path.write_bytes("# suspects\nMüller\n".encode() + "Schröder\n".encode("latin-1"))
    with pytest.raises(UsageError, match=r"names.txt, line 3: not UTF-8 text \(byte 0xf6 at column 5\)"):
        kl.read_keyword_file(path)
    path.write_bytes("\ufeff# suspects\n\nMüller\nre:sch(r|l)oeder\n".encode())
    keywords = kl.read_keyword_file(path)
    assert keywords.name == "names" and [term.text for term in keywords.terms] == ["Müller", "re:sch(r|l)oeder"]


def test_builtin_list_choice() -> None:
    assert kl.builtin_lists("all") == tuple(kl.BUILTIN_LISTS)
    assert kl.builtin_lists("none") == ()
    assert kl.builtin_lists("ibans, card-numbers") == ("ibans", "card-numbers")
    with pytest.raises(UsageError, match="no built-in keyword list cards"):
        kl.builtin_lists("cards")


def test_fuzzy_search_around_its_parts_finds_what_a_whole_search_finds() -> None:
    """The fuzzy search looks only around places holding a part of the word whole; the regex module's search of the
    whole text is the reference."""
    chooser = random.Random(7)
    words = ["".join(chooser.choice("aeiostrnl_") for _ in range(chooser.randint(2, 9))) for _ in range(2000)]
    words += ["transfer", "trnsfer", "transfers", "tranzfer", "ztransfer", "transfer_x", "zoe"]
    text = " ".join(chooser.choice(words) for _ in range(100_000))
    for line in ("~transfer", "~zoe", "~transfers", "~rationale", "~trans fer"):
        term = kl.parse_term(line, "test")
        assert [m.span() for m in _matches(term, text, 60)] == [m.span() for m in term.pattern.finditer(text)], line


def test_a_file_of_many_values_keeps_the_first_thousand_and_says_so() -> None:
    numbers = [f"4{index:014d}" for index in range(1500)]
    text = " ".join(number + luhn.calc_check_digit(number) for number in numbers)
    matching = match_text([kl.BUILTIN_LISTS["card-numbers"]], text)
    assert len(matching.found) == 1000
    assert matching.unfinished == ["card-numbers: more than 1000 different values, the first kept"]


def test_a_pattern_of_empty_matches_finds_nothing_and_stops_nothing() -> None:
    keywords = kl.KeywordList("case", (kl.Term(r"re:\b", "regex", kl.regex.compile(r"\b")), kl.parse_term("docks", "t")))
    assert set(match_text([keywords], "at the docks").found) == {("case", "docks")}


def test_phone_number_in_other_digits_passes_its_sieve() -> None:
    """The outline the sieves read writes a digit of another script (Arabic-Indic here) as a digit: a number the
    pattern's own \\d finds is not sieved out."""
    text = "call +" + "٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨" + " today"
    found = match_text([kl.BUILTIN_LISTS["phone-numbers"]], text).found
    assert {key: hits.count for key, hits in found.items()} == {("phone-numbers", "+" + "٤٤٢٠٧٩٤٦٠٩٥٨"): 1}


def _unsieved(keywords: kl.KeywordList) -> kl.KeywordList:
    return dataclasses.replace(keywords, terms=tuple(dataclasses.replace(t, sieve=None) for t in keywords.terms))


def test_sieves_change_no_result() -> None:
    """Each built-in list over texts made of the characters its patterns read, valid values planted among them, finds
    what the same list finds by its pattern's search of the whole text, without the sieve."""
    chooser = random.Random(11)
    pieces = ["4", "1", "3", "0", "7", " ", "-", ".", "@", "+", "x", "bc1", "A", "Z", "k", "٣", "\ufffd", "é", "\n",
              *CARDS, *IBANS, *BITCOIN, *ETHEREUM, "jo.doe@example.org", "+44 20 7946 0958", "GB29 NWBK 6016 1331",
              "4111-1111-1111-1111", "5555 5555 5555 4444", "+" + "٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨"]
    texts = ["".join(chooser.choice(pieces) for _ in range(chooser.randint(1, 400))) for _ in range(400)]
    texts += ["".join(chooser.choice("0123456789 -") for _ in range(300)) for _ in range(50)]
    texts += [f"{chooser.choice(pieces[:19])}{value}{chooser.choice(pieces[:19])}" for value in pieces[19:]]  # one each
    for keywords in kl.BUILTIN_LISTS.values():
        plain = _unsieved(keywords)
        found = 0
        for text in texts:
            sieved, whole = match_text([keywords], text), match_text([plain], text)
            assert ({k: (h.count, h.places) for k, h in sieved.found.items()}
                    == {k: (h.count, h.places) for k, h in whole.found.items()}), (keywords.name, text)
            found += len(whole.found)
        assert found, keywords.name  # the texts hold values of every list


def test_sieves_pass_over_text_without_candidates() -> None:
    text = "id,when,amount\n" + "".join(f"{i},2026-12-06 10:{i % 60:02d},{i * 37 % 1000}.50 EUR\n" for i in range(500))
    sieves = {name: kind.terms[0].sieve for name, kind in kl.BUILTIN_LISTS.items()}
    outline = kl.Outline(text)
    assert [name for name, sieve in sieves.items() if sieve is None or sieve(outline)] == []
    card = sieves["card-numbers"]
    assert card is not None and card(kl.Outline("pay 4111-1111-1111-1111"))
