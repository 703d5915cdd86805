"""Turn bytes into text for any charset label a real mailer writes, including wrong and missing labels.

Japanese mail is the reason this module exists: helpdesks keep garbling it (Zammad #6144, #4680, #3115;
FreeScout #3122, #3124, #5356). The rules, each with its case:

- ISO-2022-JP is decoded as CP50220 (iso-2022-jp-ms) when the strict codec fails, because Outlook and
  Windows mailers put NEC row 13 (circled digits, ㈱) and IBM extensions into "ISO-2022-JP" mail.
- Shift_JIS is decoded as CP932 and EUC-JP falls back to EUC-JIS-2004, the supersets mailers really send.
- GB2312 is decoded as GB18030, a superset of the GBK that "GB2312" mail really carries (zammad mail031/046).
- A label whose strict decode fails, or no label at all, is replaced by detection (zammad mail093:
  an encoded-word labelled ISO-2022-JP that holds Shift_JIS).
"""

from __future__ import annotations

import codecs
import re
from functools import cache

import charset_normalizer

# Labels mailers write, mapped to the Python codec of the superset they really mean (WHATWG Encoding
# Standard does the same for latin1/ascii -> windows-1252 and the GB family -> GB18030).
_ALIASES: dict[str, str] = {
    "iso-2022-jp": "iso2022_jp",
    "iso-2022-jp-ms": "iso2022_jp",
    "cp50220": "iso2022_jp",
    "cp50221": "iso2022_jp",
    "cp50222": "iso2022_jp",
    "csiso2022jp": "iso2022_jp",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "csshiftjis": "cp932",
    "cp932": "cp932",
    "euc-jp": "euc_jp",
    "x-euc-jp": "euc_jp",
    "eucjp": "euc_jp",
    "cp51932": "euc_jp",
    "gb2312": "gb18030",
    "iso-gb2312": "gb18030",
    "csgb2312": "gb18030",
    "x-gbk": "gb18030",
    "gbk": "gb18030",
    "cp936": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "utf-7": "utf-7",
}

# Fallback decoders to try after the labelled codec fails strictly, per family.
_FAMILY_FALLBACKS: dict[str, tuple[str, ...]] = {
    "euc_jp": ("euc_jis_2004",),
    "cp932": ("shift_jis_2004",),
}

# The codecs detection tries in order for bytes without a usable label: UTF-8 is self-validating, and
# CP932 / EUC-JP are the two 8-bit Japanese encodings our customers' mailers emit.
_JAPANESE_CANDIDATES = ("utf-8", "cp932", "euc_jp")

# Up to this many bytes (a raw 8-bit subject) there is too little text to tell CP932 from GBK by
# hiragana; our customers write Japanese, so Japanese wins (milter-manager raw-cp932.eml: ①②③).
_SHORT = 64
# What charset-normalizer may answer for mail; on short strings it also proposes code pages no
# mailer uses (cp1006, mac_*), where windows-1252 is the better bet.
_MAIL_CHARSETS = frozenset(
    [
        "cp1250",
        "cp1251",
        "cp1252",
        "cp1253",
        "cp1254",
        "cp1255",
        "cp1256",
        "cp1257",
        "cp1258",
        "koi8_r",
        "koi8_u",
        "latin_1",
        "iso8859_2",
        "iso8859_5",
        "iso8859_7",
        "iso8859_8",
        "iso8859_9",
        "iso8859_15",
        "gb18030",
        "gb2312",
        "gbk",
        "big5",
        "big5hkscs",
        "cp949",
        "euc_kr",
        "cp874",
        "tis_620",
        "cp932",
        "euc_jp",
        "shift_jis",
        "utf_8",
        "ascii",
    ]
)
_CJK_CHARSETS = frozenset(
    ["gb18030", "gb2312", "gbk", "big5", "big5hkscs", "cp949", "euc_kr", "cp932", "euc_jp", "shift_jis"]
)
_FEW_HIGH_BYTES = 8
_SANDWICHED = re.compile(r"[A-Za-z][^\x00-\x7f]{1,2}[A-Za-z]")
_JIS_ESCAPE = re.compile(rb"\x1b[\$\(]")
_HIRAGANA = re.compile(r"[\u3041-\u309f]")
_KANA = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc]")
# Kana, kanji, CJK punctuation, full-width forms and the NEC row 13 symbols (①, ㈱, ㍻).
_CJK = re.compile(r"[\u2460-\u24ff\u3000-\u30ff\u3200-\u33ff\u4e00-\u9fff\uff01-\uff9f]")
_SUSPICIOUS = re.compile(r"[\ufffd\u0080-\u009f\ue000-\uf8ff]")


def codec_for(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when we do not know the label."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode(data: bytes, label: str | None = None) -> str:
    """Decode `data` using its label when it decodes cleanly, otherwise the best detected charset.

    Never raises: the last resort keeps every decodable character and marks the rest with U+FFFD.
    """
    if data.isascii() and not _JIS_ESCAPE.search(data):
        if b"+" in data and codec_for(label) == "utf-7":
            return _try(data, "utf-7") or data.decode("ascii")
        return data.decode("ascii")
    codec = codec_for(label)
    if _JIS_ESCAPE.search(data) and (codec is None or codec == "iso2022_jp" or data.isascii()):
        return decode_iso2022jp(data)
    if codec == "cp1252" and _try(data, "utf-8") is not None:
        # 8-bit bytes under an ASCII or Latin-1 label that form valid multi-byte UTF-8 are UTF-8
        # (mikel/mail raw_email6); real Latin-1 text almost never happens to be valid UTF-8.
        codec = "utf-8"
    if codec is not None:
        text = _try(data, codec)
        if text is not None:
            return text
        for fallback in _FAMILY_FALLBACKS.get(codec, ()):
            text = _try(data, fallback)
            if text is not None:
                return text
    return detect_and_decode(data, preferred=codec)


def detect_and_decode(data: bytes, preferred: str | None = None) -> str:
    """Decode bytes whose charset is missing or wrong: Japanese candidates first, then charset-normalizer."""
    if _JIS_ESCAPE.search(data):
        return decode_iso2022jp(data)
    best: tuple[float, str] | None = None
    for codec in _JAPANESE_CANDIDATES:
        text = _try(data, codec)
        if text is None:
            continue
        if codec == "utf-8":
            return text  # Valid multi-byte UTF-8 is almost never an accident.
        score = _japanese_score(text)
        if best is None or score > best[0]:
            best = (score, text)
    # Japanese prose is rarely without hiragana; Chinese decoded as CP932 is (zammad mail023), so
    # that case goes on to the general detector.
    if (
        best is not None
        and best[0] >= 0.5
        and (_hiragana_share(best[1]) >= 0.1 or _short_japanese(data, best[1]))
    ):
        return best[1]
    guess = charset_normalizer.from_bytes(data).best()
    if guess is not None and guess.encoding in _MAIL_CHARSETS:
        text = str(guess)
        western = _try(data, "cp1252")
        # Short Latin strings (raw 8-bit subjects) are where detectors guess wrong between the
        # Latin code pages; Western European (windows-1252) is by far the most common.
        if western is not None and all(ord(ch) < 0x250 for ch in text):
            return western
        # Two or three CJK characters from a handful of 8-bit bytes are more likely "äöüß"
        # (zammad mail105: Latin-1 read as Big5-HKSCS by the detector).
        if western is not None and guess.encoding in _CJK_CHARSETS and _high_bytes(data) < _FEW_HIGH_BYTES:
            return western
        return text
    western = _try(data, "cp1252")
    if western is not None:
        return western
    if best is not None:
        return best[1]
    return data.decode(preferred or "cp1252", errors="replace")


def decode_iso2022jp(data: bytes) -> str:
    """ISO-2022-JP read as CP50220: strict JIS X 0208 first, then the Microsoft extensions via CP932."""
    text = _try(data, "iso2022_jp")
    if text is not None:
        return text
    return _decode_iso2022jp_ms(data)


def _try(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _high_bytes(data: bytes) -> int:
    return len(data) - len(data.translate(None, bytes(range(0x80, 0x100))))


def _short_japanese(data: bytes, text: str) -> bool:
    """A short string is Japanese unless a "kanji" sits between Latin letters, as Latin-1 "ção" does."""
    return len(data) <= _SHORT and not _SANDWICHED.search(text)


def _hiragana_share(text: str) -> float:
    wide = sum(1 for ch in text if ord(ch) > 0x7F)
    return len(_HIRAGANA.findall(text)) / wide if wide else 0.0


def _japanese_score(text: str) -> float:
    """Share of the non-ASCII characters that are kana or common CJK, penalising control/private-use."""
    wide = sum(1 for ch in text if ord(ch) > 0x7F)
    if wide == 0:
        return 0.0
    good = len(_CJK.findall(text)) + len(_KANA.findall(text))
    bad = len(_SUSPICIOUS.findall(text))
    return (good - 4 * bad) / wide


_ESCAPES: dict[bytes, str] = {
    b"\x1b(B": "ascii",
    b"\x1b(J": "ascii",  # JIS X 0201 Roman: differs from ASCII only in yen/overline, kept as ASCII.
    b"\x1b(I": "kana",  # JIS X 0201 half-width katakana (CP50222; not allowed by RFC 1468 but sent).
    b"\x1b$@": "jis",
    b"\x1b$B": "jis",
    b"\x1b$(B": "jis",
    b"\x1b$(Q": "jis",
    b"\x1b$(O": "jis",
    b"\x1b$(D": "jis0212",
}
_ESCAPE_SPLIT = re.compile(rb"(\x1b(?:\(B|\(J|\(I|\$@|\$B|\$\(B|\$\(Q|\$\(O|\$\(D))")


def _decode_iso2022jp_ms(data: bytes) -> str:
    """Decode ISO-2022-JP by mapping each JIS pair to CP932, which holds NEC row 13 and IBM rows 89-92.

    The JIS-to-Shift_JIS arithmetic maps rows 89-92 onto 0xED/0xEE, exactly CP932's NEC-selected IBM
    extensions, so this is CP50220 without a hand-made table.
    """
    out: list[str] = []
    mode = "ascii"
    for chunk in _ESCAPE_SPLIT.split(data):
        if chunk in _ESCAPES:
            mode = _ESCAPES[chunk]
            continue
        if not chunk:
            continue
        if mode == "ascii":
            # SO/SI (0x0E/0x0F) shift half-width katakana in CP50221 mail.
            out.append(_decode_shifted(chunk))
        elif mode == "kana":
            out.append(bytes(b | 0x80 if 0x21 <= b <= 0x5F else b for b in chunk).decode("cp932", "replace"))
        elif mode == "jis0212":
            out.append(_decode_pairs(chunk, _jis0212_pair))
        else:
            out.append(_decode_pairs(chunk, _jis_pair))
    return "".join(out)


def _decode_shifted(chunk: bytes) -> str:
    if b"\x0e" not in chunk:
        return chunk.decode("cp932", "replace")
    parts: list[str] = []
    shifted = False
    for piece in re.split(rb"([\x0e\x0f])", chunk):
        if piece == b"\x0e":
            shifted = True
        elif piece == b"\x0f":
            shifted = False
        elif shifted:
            parts.append(bytes(b | 0x80 for b in piece).decode("cp932", "replace"))
        else:
            parts.append(piece.decode("cp932", "replace"))
    return "".join(parts)


def _decode_pairs(chunk: bytes, pair: object) -> str:
    assert callable(pair)
    out: list[str] = []
    i = 0
    n = len(chunk)
    while i < n:
        b = chunk[i]
        if b in (0x0A, 0x0D, 0x20, 0x09) or i + 1 >= n:
            # Line ends inside a 2-byte run are a mailer bug; keep them as the mailer meant.
            out.append(chr(b) if b < 0x80 else "\ufffd")
            i += 1
            continue
        out.append(pair(b, chunk[i + 1]))
        i += 2
    return "".join(out)


@cache
def _jis_pair(a: int, b: int) -> str:
    if not (0x21 <= a <= 0x7E and 0x21 <= b <= 0x7E):
        return "\ufffd"
    s1 = ((a + 1) >> 1) + (0x70 if a <= 0x5E else 0xB0)
    s2 = b + (0x1F if a & 1 else 0x7E)
    if a & 1 and s2 >= 0x7F:
        s2 += 1
    if 0xF0 <= s1 <= 0xF9:
        # CP932 user-defined area (carrier emoji in au ISO-2022-JP mail): Microsoft maps it to the
        # Private Use Area U+E000-U+E757, 188 code points per lead byte.
        return chr(0xE000 + (s1 - 0xF0) * 188 + s2 - 0x40 - (1 if s2 >= 0x80 else 0))
    text = bytes((s1, s2)).decode("cp932", "replace")
    if "\ufffd" in text and a >= 0x75:
        # Rows 0x75-0x7E hold carrier emoji (au/KDDI) that have no standard mapping; GETA MARK is
        # the conventional Japanese stand-in for a character that cannot be shown.
        return "\u3013"
    return text


@cache
def _jis0212_pair(a: int, b: int) -> str:
    return bytes((0x8F, a | 0x80, b | 0x80)).decode("euc_jp", "replace")
