"""English word knowledge every stage may need: colour and material words, singular forms, articles. The
parser classifies words with it; the segmenter's CLIP attribute filter writes its contrast prompts with it."""

from __future__ import annotations

COLOURS = frozenset(
    "red green blue yellow orange purple violet pink brown black white grey gray silver gold golden beige "
    "turquoise cyan magenta teal navy maroon crimson scarlet lavender lilac olive tan ivory cream khaki "
    "bronze copper amber indigo emerald ruby coral peach mint charcoal blonde blond auburn fuchsia burgundy mauve "
    "azure cobalt periwinkle chartreuse ochre vermilion cerulean sepia tangerine apricot sage taupe jade "
    "sapphire amethyst champagne mocha caramel cognac ecru greige celadon seafoam cornflower ultramarine aquamarine "
    "aqua eggshell pewter saffron pistachio oatmeal aubergine putty gunmetal ginger mustard brunette plum".split()
)
MATERIALS = frozenset(
    "wooden wood metal metallic glass marble stone plastic golden gold silver bronze copper steel iron "
    "leather paper concrete brick crystal ice rubber velvet woolen wool denim ceramic porcelain chrome "
    "transparent shiny matte rusty striped checkered furry fluffy polka-dotted aluminium aluminum granite silk "
    "cotton wicker linen satin bamboo cork tiled polka-dot suede canvas gingham plaid paisley houndstooth herringbone "
    "pinstriped argyle brass travertine terrazzo quartz walnut mahogany teak ebony rattan jute sisal zellige onyx resin "
    "acrylic felt tweed corduroy fleece mohair cashmere chiffon tulle sequined stainless oak pine terracotta sequin "
    "cobblestone cobbled flagstone tie-dye tie-dyed nylon polyester lace lycra spandex vinyl pewter enamel lacquered".split()
)
#: the basic colours and materials the CLIP attribute filter contrasts a look with, and the words of each family: a
#: look is never contrasted with its own family ("gray" with "grey", "navy" with "blue"), which CLIP cannot tell apart
COLOUR_FAMILIES: dict[str, frozenset[str]] = {k: frozenset(v.split()) for k, v in {
    "red": "crimson scarlet maroon burgundy ruby vermilion coral",
    "green": "olive teal emerald mint jade sage chartreuse celadon seafoam pistachio",
    "blue": "navy azure cobalt cerulean sapphire indigo periwinkle cornflower ultramarine aquamarine aqua turquoise cyan teal",
    "yellow": "gold golden amber mustard saffron ochre blonde blond champagne",
    "white": "ivory cream eggshell ecru oatmeal champagne",
    "black": "charcoal ebony",
    "grey": "gray silver charcoal pewter gunmetal greige taupe putty",
    "brown": "beige tan khaki bronze copper mocha caramel cognac auburn brunette sepia taupe ginger ochre greige",
    "orange": "tangerine apricot peach copper ginger amber coral saffron",
    "pink": "magenta fuchsia coral peach mauve",
    "purple": "violet lavender lilac mauve plum aubergine amethyst magenta indigo",
}.items()}  # fmt: skip
MATERIAL_FAMILIES: dict[str, frozenset[str]] = {k: frozenset(v.split()) for k, v in {
    "wooden": "wood oak pine walnut mahogany teak ebony bamboo wicker rattan cork",
    "metal": "metallic steel iron chrome aluminium aluminum stainless brass pewter golden gold silver bronze copper",
    "plastic": "acrylic vinyl resin nylon polyester",
    "glass": "crystal transparent",
    "stone": "marble granite concrete brick cobblestone cobbled flagstone terrazzo travertine quartz onyx",
}.items()}  # fmt: skip

#: grounds things stand on anywhere inside their outline in a photo ("the car on the road", "the dog on the lawn"), not
#: only on their top edge as on a table
GROUNDS = frozenset("road street lane path pavement sidewalk driveway field lawn grass beach sand snow floor river lake sea "
                    "pitch court track stage platform bridge roof runway parking car park carpet rug".split())
#: patterns among the material words: contrasted with a plain one ("a striped shirt" vs "a plain shirt"), not with
#: materials, and not with one another ("pinstriped" vs "striped" is a family again)
PATTERNS = frozenset("striped checkered polka-dotted polka-dot gingham plaid paisley houndstooth herringbone pinstriped "
                     "argyle tie-dye tie-dyed".split())


def family(word: str, families: dict[str, frozenset[str]]) -> frozenset[str]:
    """The basic words of ``families`` that ``word`` is one of or belongs to ("gray" -> {"grey"}, "teal" -> {"green",
    "blue"}); empty for a word of none."""
    return frozenset(k for k, words in families.items() if word == k or word in words)


IRREGULAR_PLURALS: dict[str, str] = {
    "men": "man", "women": "woman", "people": "person", "children": "child", "mice": "mouse", "geese": "goose",
    "feet": "foot", "teeth": "tooth", "oxen": "ox", "knives": "knife", "leaves": "leaf", "wolves": "wolf",
    "shelves": "shelf", "loaves": "loaf", "scarves": "scarf", "halves": "half", "calves": "calf",
    "wives": "wife", "lives": "life", "thieves": "thief", "elves": "elf", "potatoes": "potato",
    "tomatoes": "tomato", "heroes": "hero", "mangoes": "mango", "dice": "die", "cacti": "cactus",
    "lenses": "lens", "canvases": "canvas", "gases": "gas", "atlases": "atlas", "irises": "iris",
}  # fmt: skip
#: nouns that end in -men and are no plural of -man
NOT_MEN = frozenset("specimen abdomen regimen hymen stamen omen amen women semen acumen".split())
#: singular nouns that end in -s ("the lens", "the canvas"), never plurals
SINGULAR_S = frozenset("lens canvas gas atlas iris chaos bias cosmos news tennis mattress trellis chassis thermos asbestos "
                       "hummus octopus".split())
US_WORDS = frozenset("bus walrus octopus cactus circus virus campus citrus platypus hippopotamus fungus".split())
IE_WORDS = frozenset("cookie movie pie tie zombie hippie goalie smoothie brownie selfie rookie lie".split())
#: the singular -> plural of :data:`IRREGULAR_PLURALS` (the first plural where two share a singular)
_IRREGULAR_SINGULARS: dict[str, str] = {}
for _plural_form, _singular_form in IRREGULAR_PLURALS.items():
    _IRREGULAR_SINGULARS.setdefault(_singular_form, _plural_form)
INVARIANT = frozenset(
    "sheep fish deer sunglasses eyeglasses scissors jeans pants trousers shorts series species clothes overalls "
    "leggings tights pyjamas pajamas binoculars".split()
)
#: plural-only nouns that take no article ("a man with sunglasses")
PLURALIA_TANTUM = frozenset(
    "sunglasses eyeglasses goggles scissors jeans pants trousers shorts pyjamas pajamas headphones clothes overalls "
    "leggings tights binoculars dungarees braces scrubs pliers tongs tweezers".split()
)


def plural(noun: str) -> str:
    """Plural of a singular English noun, the last word of a compound ("wine glass" -> "wine glasses"): irregulars,
    -es after a sibilant, -ies after a consonant; invariant nouns ("sheep") as they are."""
    *first, last = noun.split()
    if last in INVARIANT:
        return noun
    if irregular := _IRREGULAR_SINGULARS.get(last):
        last = irregular
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return " ".join([*first, last])


def singular(word: str) -> str:
    """Singular form of an English plural noun (irregulars, -ies, -es, -s)."""
    if word in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[word]
    if word in INVARIANT or word in SINGULAR_S or len(word) < 4:
        return word
    if word.endswith("men") and len(word) > 4 and word not in NOT_MEN:  # "fishermen", "snowmen", "policemen"
        return word[:-3] + "man"
    if word.endswith("ies"):
        return word[:-1] if word[:-1] in IE_WORDS else word[:-3] + "y"
    if word.endswith("uses") and word[:-2] in US_WORDS:
        return word[:-2]
    if word.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def with_article(phrase: str) -> str:
    """'tiger' -> 'a tiger', 'apple' -> 'an apple', 'green bus' -> 'a green bus'; plurals ('candles') and
    phrases that already have a determiner and plural-only nouns ('sunglasses') stay as they are."""
    words = phrase.split()
    if not words or words[0].lower() in ("a", "an", "the", "some") or singular(words[-1]) != words[-1]:
        return phrase
    if words[-1] in PLURALIA_TANTUM:
        return phrase
    return ("an " if words[0][0].lower() in "aeiou" else "a ") + phrase
