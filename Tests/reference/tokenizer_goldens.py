#!/usr/bin/env python3
"""Writes the tokenizer goldens from HF `tokenizers` (the reference for FashionData's WordPieceTokenizer).

    /usr/bin/python3 -m pip install --break-system-packages tokenizers   # tested with tokenizers 0.23.3
    /usr/bin/python3 Tests/reference/tokenizer_goldens.py

Reads the vocab from the embedded Swift literal (Sources/FashionData/Tokenizer/BertUncasedVocab.swift), builds
`tokenizers.BertWordPieceTokenizer(vocab, lowercase=True)` (= BertTokenizerFast for bert-base-uncased) and writes:

* goldens/tokenizer_strings.jsonl: one {"text", "ids", "tokens"} per line for >= 300 varied strings;
  ids include [CLS]/[SEP], no truncation.
* goldens/tokenizer_codepoints.tsv: for every code point c, how "a" + c + "b" is normalised and
  pre-tokenised (BertNormalizer + BertPreTokenizer), where that differs from one unchanged word.
  Line: START[-END] TAB words, words separated by " ", each word its scalars in hex joined by ".",
  with "=" standing for c itself; runs of code points with the same words share a line.
"""
import json
import os
import random
import re
import sys
import unicodedata

import tokenizers
from tokenizers import BertWordPieceTokenizer
from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VOCAB_SWIFT = os.path.join(ROOT, "Sources/FashionData/Tokenizer/BertUncasedVocab.swift")
OUT_DIR = os.path.join(HERE, "goldens")


def embedded_vocab():
    src = open(VOCAB_SWIFT, encoding="utf-8").read()
    m = re.search(r'static let text = (#+)"""\n(.*)\n"""\1\n', src, re.S)
    if not m:
        sys.exit(f"{VOCAB_SWIFT}: no vocab literal found")
    return m.group(2).split("\n")


def reference_tokenizer():
    vocab = {tok: i for i, tok in enumerate(embedded_vocab())}
    assert len(vocab) == 30522 and vocab["[UNK]"] == 100 and vocab["[CLS]"] == 101
    return BertWordPieceTokenizer(vocab, lowercase=True)


HAND = [
    "", " ", "   ", "\t", "\n", "\r\n", " \t\n\r ", "\u3000", "\u00a0\u00a0",
    "hello world", "Hello, World!", "HELLO WORLD", "unaffable", "Unaffable jeans",
    "Slim-fit jeans", "Denim!", "don't", "it's 38\" long", "38\" waist", "100 %", "100%", "50% off!!!",
    "3.5 oz", "1,299.99 USD", "$49.99", "€120", "£75.00", "¥5000", "size: 10/12", "UK 8 / EU 36 / US 4",
    "W32 L34", "XXL", "xs-s-m-l-xl", "2-pack", "#1 best-seller", "@fashion_brand", "under_score_words",
    "email: someone@example.com", "https://www.example.com/shop?item=123&color=red#reviews",
    "http://fashion.net/a/b/c.html", "www.zara.com", "C:\\Users\\shop\\file.txt", "a/b\\c|d~e^f`g",
    "Café", "café crème", "naïve façade", "Crème brûlée", "ÀÉÎÕÜ àéîõü", "Ångström", "Søren Kierkegaard",
    "Łódź", "Straße", "STRASSE", "ẞ", "Ǆemal ǅemal ǆemal", "İstanbul", "ıi", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
    "ﬁne ﬂower", "Ⅻ ⅻ", "①②③", "x²+y³", "½ cup", "™ ® ©", "°C", "µm", "Ω Ω", "K K",
    "ΑΒΓΔ ΕΖΗΘ", "ΟΔΥΣΣΕΥΣ", "Ελληνικά", "σίσυφος ΣΊΣΥΦΟΣ", "ΆΈΉΊΌΎΏ", "ПРИВЕТ МИР", "Привет, мир!",
    "Україна ЇЖАК", "Ёлка", "Қазақстан", "Մայր Աթոռ", "ႠႡႢ", "ᏣᎳᎩ",
    "中文字符", "我喜欢这件红色连衣裙。", "日本語のテキスト", "カタカナ ひらがな 漢字", "한국어 텍스트", "한글",
    "mixed中文and English", "價格：１２０元", "〈标题〉「引用」", "𠀀𠀁 𪜀", "\U0002B820\U0002B920\U0002CEAF",
    "\uF900\uFA0E", "\U0002F800", "العربية نص", "עברית", "हिन्दी पाठ", "ไทย ภาษา", "Tiếng Việt có dấu",
    "emoji 😀😃😄", "👗👠👜", "👩‍👩‍👧‍👦 family", "🇫🇷 flag", "❤️ love", "thumbs 👍🏽", "🥰🫠🪡", "✨NEW✨",
    "zero\u200bwidth", "zero\u200cwidth\u200djoiner", "\ufeffBOM start", "soft\u00adhyphen", "word\u2060joiner",
    "nul\x00byte", "bell\x07char", "esc\x1b[0m", "del\x7fchar", "vt\x0bff\x0c", "nel\x85line", "ls\u2028ps\u2029",
    "replacement \ufffd char", "private \ue000\uf8ff", "\U000F0000plane15", "tag\U000E0041\U000E007F",
    "e\u0301 a\u0300 o\u0308", "Z\u0351\u0352\u0353algo", "n\u0303", "a\u0345", "x\u20dd", "\u0301leading",
    "ã\u0323", "\u1e69", "q\u0307\u0323", "\u0b55ok", "\u0bcd\u0b9f", "stra\u00dfe", "\u1734x",
    "\u166d\U000111c9", "\u2e42\u2e43\u2e5d", "\u00b7\u0387", "\u037e;", "¿Qué? ¡Sí!", "«guillemets» „quotes“",
    "‘single’ “double”", "em—dash en–dash", "ellipsis… end", "bullet • point", "a…b", "dot·dot", "§12 ¶3",
    "[CLS] cls [SEP]", "[MASK] dress", "a[MASK]b", "[mask] lower", "[PAD][UNK]", "[UNK]", "[SEP", "[[CLS]]",
    "##ing", "unbelievable", "antidisestablishmentarianism", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "a" * 100, "b" * 101, "ab" * 60 + " short", "é" * 101, "中" * 120, "x" * 99 + "é",
    "supercalifragilisticexpialidocious" * 3, "word " * 50, "!!!???...", "---", "***", "((()))", "a.b.c",
    "tab\tseparated\tvalues", "line1\nline2\nline3", "  leading and trailing  ", "multiple     spaces",
    "0", "0123456789", "1st 2nd 3rd 4th", "1990s", "24/7", "9:30am", "12:00 PM", "2023-10-05", "v1.2.3",
    "$$$", "a&b", "rock'n'roll", "O'Neill's", "mother-in-law", "e.g. i.e. etc.", "U.S.A.", "Mr. & Mrs. Smith",
    "100% cotton, machine wash cold", "Made in Italy 🇮🇹", "Regular fit · Mid-rise · 5-pocket styling",
    "Oversized hoodie with kangaroo pocket; 80% cotton/20% polyester.",
    "Women's leather ankle boots — side zip, 6 cm heel", "Men’s slim fit chinos (W30/L32)",
    "Silk scarf 90×90 cm", "Dry clean only. Do not tumble dry.", "RRP: £1,250 — now £625!",
    "Ribbed knit beanie | one size", "Pleated midi skirt in crêpe de Chine", "Bouclé tweed jacket",
    "Moiré taffeta gown", "Lamé party top", "Broderie anglaise blouse", "Mousseline dress", "Piqué polo shirt",
    "GUCCI Marmont matelassé shoulder bag", "Yves Saint Laurent", "Dolce & Gabbana", "Maison Margiela",
    "Acne Studios", "Comme des Garçons", "Hermès Birkin 35", "Chloé", "Balmain", "A.P.C.", "Sacai x Nike",
    "ΖΑΡΑ φόρεμα", "ПЛАТЬЕ красное", "Vestido rojo de mujer", "Robe d'été fleurie", "Sommerkleid für Damen",
    "Jurk met bloemenprint", "Vestito lungo elegante", "Sukienka letnia w kwiaty", "Kadın elbise",
    "ドレス ワンピース", "连衣裙 女装 夏季", "원피스 여름", "Váy nữ mùa hè",
]


def fashion_descriptions(n, seed):
    rng = random.Random(seed)
    adjectives = ["slim", "relaxed", "oversized", "cropped", "tailored", "distressed", "vintage", "pleated",
                  "quilted", "ribbed", "embroidered", "sequinned", "high-waisted", "double-breasted", "sheer",
                  "Washed", "BRUSHED", "Crinkled", "garment-dyed", "water-repellent", "Naïve", "Matelassé"]
    materials = ["cotton", "linen", "silk", "wool", "cashmere", "denim", "leather", "suede", "nylon",
                 "polyester", "viscose", "crêpe", "satin", "velvet", "jersey", "twill", "poplin", "tweed",
                 "mohair", "Lyocell", "organic cotton", "recycled polyamide", "lambskin"]
    garments = ["T-shirt", "shirt", "blouse", "dress", "skirt", "jeans", "trousers", "shorts", "jacket",
                "coat", "parka", "blazer", "sweater", "cardigan", "hoodie", "sneakers", "boots", "loafers",
                "sandals", "tote bag", "backpack", "belt", "scarf", "beanie", "sunglasses", "jumpsuit"]
    colors = ["black", "white", "navy", "ecru", "beige", "khaki", "olive", "burgundy", "ivory", "charcoal",
              "Bordeaux", "ROSE", "sky-blue", "off-white", "multicolour", "café au lait"]
    details = ["two side pockets", "a concealed zip fastening", "tonal stitching", "a spread collar",
               "ribbed cuffs and hem", "a drawstring waist", "logo embroidery at chest", "raw-edge hems",
               "gold-tone hardware", "a 38\" inseam", "adjustable straps", "a relaxed, boxy silhouette",
               "contrast piping", "mother-of-pearl buttons", "a 100 % recycled lining", "a back vent"]
    cares = ["Machine wash at 30°C.", "Dry clean only.", "Hand wash cold; lay flat to dry.",
             "Do not bleach!", "Iron on low heat (max 110°C).", "Model is 1.78 m / 5'10\" and wears size M."]
    origins = ["Made in Portugal.", "Made in Italy.", "Imported.", "Designed in Paris — made in Morocco.",
               "Fabriqué en France.", "Hergestellt in Deutschland."]
    out = []
    for _ in range(n):
        parts = [
            f"{rng.choice(adjectives).capitalize()} {rng.choice(colors)} {rng.choice(materials)} "
            f"{rng.choice(garments)} with {rng.choice(details)} and {rng.choice(details)}.",
            f"{rng.randint(30, 100)}% {rng.choice(materials)}, {rng.randint(0, 70)}% {rng.choice(materials)}.",
        ]
        for _ in range(rng.randint(0, 3)):
            parts.append(rng.choice(cares + origins))
        if rng.random() < 0.3:
            parts.append(f"Ref. {rng.randint(1000, 99999)}/{rng.choice('ABCDEFGH')}{rng.randint(1, 99)}")
        if rng.random() < 0.2:
            parts.append(f"€{rng.randint(20, 2000)},{rng.randint(0, 99):02d}")
        out.append(" ".join(parts))
    return out


def random_unicode_strings(n, seed):
    """Strings drawn from assigned code points of many scripts and classes (marks, controls, symbols)."""
    rng = random.Random(seed)
    pools = [range(0x20, 0x7F), range(0xA0, 0x250), range(0x300, 0x370), range(0x370, 0x400),
             range(0x400, 0x530), range(0x590, 0x700), range(0x900, 0x980), range(0xE00, 0xE80),
             range(0x1100, 0x1200), range(0x1E00, 0x1F00), range(0x2000, 0x2070), range(0x20A0, 0x2150),
             range(0x2E00, 0x2E60), range(0x3000, 0x3100), range(0x4E00, 0x4F00), range(0xAC00, 0xAD00),
             range(0xFB00, 0xFB50), range(0xFE30, 0xFF70), range(0x1F300, 0x1FAFF), range(0x0, 0x20)]
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randint(1, 40)):
            c = chr(rng.choice(rng.choice(pools)))
            if unicodedata.category(c) != "Cs":
                chars.append(c)
        out.append("".join(chars))
    return out


def all_strings():
    strings = list(HAND)
    strings += fashion_descriptions(150, seed=7)
    strings += random_unicode_strings(120, seed=11)
    strings += [s.upper() for s in HAND[60:100]]
    seen, unique = set(), []
    for s in strings:
        if s not in seen:
            seen.add(s)
            unique.append(s)
    return unique


def write_strings(tok):
    path = os.path.join(OUT_DIR, "tokenizer_strings.jsonl")
    strings = all_strings()
    with open(path, "w", encoding="utf-8") as f:
        for s in strings:
            enc = tok.encode(s)
            f.write(json.dumps({"text": s, "ids": enc.ids, "tokens": enc.tokens}, ensure_ascii=False) + "\n")
    print(f"wrote {path}: {len(strings)} strings")


def write_codepoints():
    normalizer = BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    pre = BertPreTokenizer()
    runs = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        s = "a" + c + "b"
        words = [w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(s))]
        if words == [s]:
            continue
        payload = " ".join(".".join("=" if ch == c else "%x" % ord(ch) for ch in w) for w in words)
        if runs and runs[-1][1] == cp - 1 and runs[-1][2] == payload:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp, payload])
    path = os.path.join(OUT_DIR, "tokenizer_codepoints.tsv")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# tokenizers {tokenizers.__version__}: BertNormalizer(lowercase) + BertPreTokenizer of 'a'+c+'b'\n")
        for start, end, payload in runs:
            span = "%x" % start if start == end else "%x-%x" % (start, end)
            f.write(f"{span}\t{payload}\n")
    print(f"wrote {path}: {len(runs)} runs")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    write_strings(reference_tokenizer())
    write_codepoints()


if __name__ == "__main__":
    main()
