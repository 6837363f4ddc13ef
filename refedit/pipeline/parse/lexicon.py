"""Word lists for the rules parser: qualifiers, colours and materials, plurals, vague words."""

from __future__ import annotations

from refedit.core.english import (  # noqa: F401  (the parser's vocabulary includes the shared English words)
    COLOURS,
    IE_WORDS,
    INVARIANT,
    IRREGULAR_PLURALS,
    MATERIALS,
    PLURALIA_TANTUM,
    US_WORDS,
)

SPATIAL_WORDS: dict[str, str] = {
    "left": "left", "leftmost": "left", "left-most": "left",
    "right": "right", "rightmost": "right", "right-most": "right",
    "top": "top", "topmost": "top", "upper": "top", "uppermost": "top", "highest": "top",
    "bottom": "bottom", "bottommost": "bottom", "lower": "bottom", "lowest": "bottom", "lowermost": "bottom",
    "middle": "middle", "center": "middle", "centre": "middle", "central": "middle",
    "front": "front", "foreground": "front", "nearest": "front", "closest": "front", "closer": "front", "nearer": "front",
    "back": "back", "background": "back", "rear": "back", "farthest": "back", "furthest": "back", "further": "back",
    "farther": "back", "distant": "back", "distance": "back", "higher": "top",
}  # fmt: skip
SIZE_WORDS: dict[str, str] = {
    **dict.fromkeys(("big", "bigger", "biggest", "large", "larger", "largest", "huge", "giant"), "largest"),
    **dict.fromkeys(("small", "smaller", "smallest", "little", "tiny", "littlest", "shortest", "tiniest", "teeniest"), "smallest"),
    **dict.fromkeys(("tallest", "massive", "enormous", "gigantic"), "largest"),
    # "the taller man", "the thinner tree": of two, the one at that end
    **dict.fromkeys(("taller", "wider", "thicker", "fatter"), "largest"),
    **dict.fromkeys(("shorter", "thinner", "narrower", "skinnier"), "smallest"),
}
#: "the smaller of the two": the comparative names the extreme of the pair
COMPARATIVE_SIZES: dict[str, str] = {"smaller": "smallest", "bigger": "biggest", "larger": "largest", "taller": "tallest",
                                     "shorter": "shortest"}  # fmt: skip
ORDINAL_WORDS: dict[str, int] = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "last": -1, "penultimate": -2,
    "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "6th": 6, "7th": 7, "8th": 8, "9th": 9, "10th": 10,
    "eleventh": 11, "twelfth": 12, "11th": 11, "12th": 12, "13th": 13, "14th": 14, "15th": 15, "16th": 16,
    "17th": 17, "18th": 18, "19th": 19, "20th": 20,
}  # fmt: skip
SHADES = frozenset("light dark bright pale deep matte neon pastel".split())
#: multi-word object names whose first word spaCy may tag as an adjective or verb
COMPOUND_NOUNS = frozenset(
    "hot dog|polka dot|stop sign|fire hydrant|traffic light|teddy bear|wine glass|cell phone|tennis racket|baseball bat|"
    "baseball glove|potted plant|dining table|remote control|parking meter|sports ball|hair drier|tennis ball|"
    "picture frame|coffee table|ice cream|polar bear|hot air balloon|christmas tree|street lamp|cutting board|"
    "coffee mug|wine bottle|water bottle|fire truck|school bus|sports car|police car|trash can|garbage can|"
    "soccer ball|golf ball|living room|parking lot|door handle|bus stop|tv stand|shoe rack|mobile phone|ice cream cone|"
    "front door|back door|car door|coffee cup|tea cup|flower pot|plant pot|trash bag|street light|street sign|"
    "light switch|power line|window frame|table lamp|floor lamp|desk lamp|office chair|swimming pool|baseball cap|"
    "cowboy hat|top hat|bow tie|tank top|wedding dress|shopping bag|shopping cart|golf cart|washing machine|"
    "paper towel|toilet paper|car seat|front wheel|back wheel|rear wheel|side mirror|ceiling fan|ceiling light|"
    "picnic table|park bench|fire escape|hand rail|guard rail|stop light|lamp post|mail box|post box|phone booth|"
    "garden gnome|bird house|dog house|cat tree|hot tub|bath tub|kitchen sink|front yard|back yard|wrist watch|"
    "boat dock|rubber duck|coke can|soda can|beer can|golden retriever|living room floor|living room wall|for sale sign|"
    "dog bowl|best man|fire extinguisher|dog bed|walking stick|cake table|flower girl|dog hair|tote bag|oak tree|pine tree|"
    "pine cone|oak leaf|pine needle|avocado toast|bite mark|paving stone|sticky note|roof rack|construction crane|"
    "rear window|rocking horse|laptop screen|menu board|book cover|wheelie bin|front gate|ice cube|moving box|"
    "bathroom counter|living room window|red eye|porch light|display stand|accent wall|light fixture|drying rack|double-decker bus|traffic cone|"
    "pendant light|high chair|swing set|bunk bed|pizza box|pool float|umbrella stand|watering can|bin bag|paper lantern|"
    "garden shed|sewing machine|beach umbrella|beach ball|beach towel|pool noodle|bird feeder|bird bath|flower bed|"
    "fire pit|ironing board|laundry basket|recycling bin|mailbox post|lawn mower|wheel barrow|garden hose|light stand|"
    "rose bush|reading chair|console table|draining rack|steering wheel cover|steering wheel|rear-view mirror|back seat|"
    "wrapping paper|number candle|paint can|sauce drip|pendant light|shop sign|delivery van|coffee tin|fire alarm|"
    "head table|corner sofa|shaker unit|wine glass|name tag|price tag|price card|ice bucket|cake stand".split("|")
)
DETERMINERS = ("all of the", "all the", "both of the", "both the", "all", "every", "each", "both",
               "the", "a", "an", "this", "that", "these", "those", "some")  # fmt: skip
ALL_WORDS = frozenset({"all", "every", "each", "both"})
#: how many a target names ("the two cups on the left", "2 of the mugs"): number words and numerals of 2 to 99
CARDINALS: dict[str, int] = {
    **{w: n for n, w in enumerate("two three four five six seven eight nine ten eleven twelve".split(), 2)},
    **{str(n): n for n in range(2, 100)},
}  # fmt: skip
#: nouns for the photo itself ("the photo", "this selfie"); "the picture frame" and "the scene" may be objects or places
PHOTO_NOUNS = frozenset("photo picture image shot pic screenshot photograph selfie snapshot headshot scan".split())
#: the photo as the place things are in or taken out of ("out of the frame", "in this scene", "from my selfie")
PHOTO_PLACES = PHOTO_NOUNS | frozenset("frame scene skyline panorama".split())
#: regular-expression alternations of them, the longest first
PHOTO_NOUN_WORDS = "|".join(sorted(PHOTO_NOUNS, key=len, reverse=True))
PHOTO_PLACE_WORDS = "|".join(sorted(PHOTO_PLACES, key=len, reverse=True))
IMAGE_WORDS = frozenset(
    "it|this|image|photo|picture|scene|scan|whole image|whole photo|whole picture|whole scene|entire image|"
    "entire photo|entire picture|photograph|everything|whole thing|entire thing|weather|season|time of day|day|"
    "lighting|colors|colours|color tones|colour tones|tones|mood|atmosphere|overall look|whole look|shot|pic|"
    "whole shot|entire shot|snap|selfie|screenshot|whole screenshot|headshot|snapshot|this one|whole listing photo|"
    "listing photo|class photo|our class photo|old photo|faded photo|wedding photo|sunset shot".split("|")
)
VAGUE_WORDS = frozenset(
    "nicer better good great pop cool prettier pretty beautiful awesome amazing nice best different "
    "interesting fun funnier better-looking something anything".split()
)
#: qualities a photo cannot show by any one change ("make the house look more expensive", "make it go viral")
VAGUE_QUALITIES = VAGUE_WORDS | frozenset(
    "expensive pricier professional pleasing productive faster viral cursed aesthetic appealing attractive impressive "
    "exciting fun funner luxurious premium fancy fancier classy classier appetising appetizing tasty tastier delicious "
    "yummy yummier somehow".split()
)
PRONOUNS = frozenset("it this that something anything everything him her them me you".split())
#: nouns naming a property of the object before/after them ("the shirt colour", "the colour of the car")
ATTRIBUTE_NOUNS = frozenset("colour color colours colors texture material pattern finish hue".split())
#: who looks at the photo, never an object in it ("closest to the camera", "waving at the camera"); with a distance
#: word, "the lens" is the camera's too (alone it may be a pair of glasses' lens)
VIEWERS = frozenset("camera viewer photographer".split())
VIEWER_PATTERN = "|".join(sorted(VIEWERS | {"lens"}))
#: words that open a relation to another object after the head ("the lamp near the bed")
RELATION_WORDS = frozenset(
    "near beside besides behind between among amongst above below under beneath underneath across against "
    "opposite inside outside atop alongside beyond toward towards past along around facing".split()
)
#: words that open a relation only when "to" follows ("next to", "close to")
#: participles before "to" that place a thing on or by another ("pinned to the fridge", "chained to the railing")
PARTICIPLES_BEFORE_TO = frozenset("pinned taped stuck glued nailed stapled clipped attached fixed chained tied tethered "
                                  "locked leaning leaned propped".split())
RELATION_BEFORE_TO = frozenset("next close closer closest nearer nearest adjacent".split())
#: words that intensify a relation ("right next to", "just behind"); "right" there is no side
RELATION_INTENSIFIERS = frozenset("right just directly immediately".split())
#: comparatives the tagger often takes for nouns after a noun ("make the image brighter")
COMPARATIVES = frozenset(
    "taller shorter longer wider narrower thicker thinner higher deeper brighter darker lighter heavier older "
    "younger fatter slimmer skinnier happier sadder angrier warmer cooler colder hotter redder bluer greener "
    "whiter blacker shinier fluffier rounder sharper softer smoother cleaner dirtier fuller emptier "
    "bolder stronger weaker wetter drier sunnier cloudier calmer rougher dimmer duller neater tidier sleepier cosier cozier "
    "more less".split()
)
#: states and looks people ask for after the object ("make the dog wet", "make his hair messy") that the small
#: tagger often takes for nouns or verbs there
STATE_ADJECTIVES = frozenset(
    "wet dry dirty clean messy muddy dusty sandy rusty mossy curly straight wavy frizzy spiky stormy foggy misty "
    "snowy icy rainy sunny cloudy windy frosty frozen glossy shiny sparkly glittery glowing sparkling blurry sharp "
    "burnt burned broken cracked shattered torn wrinkled melted old new young ancient modern vintage retro "
    "futuristic fancy elegant cute scary spooky creepy happy sad angry smiling bald hairy fat thin skinny muscular asleep awake dead alive upset tired "
    "tall short long wide narrow round square spotted dotted colorful colourful invisible translucent opaque "
    "empty full open closed lit glowing overgrown abandoned haunted flooded wintry autumnal tropical plaid lace "
    "camo camouflage paisley floral terracotta mustard khaki sequined plain smooth rough calm oval circular "
    "rectangular triangular curved".split()
)
#: first words of two-word colour names ("royal blue", "forest green", "hot pink"): with the colour they are the look
COLOUR_PREFIXES = frozenset(
    "royal sky navy forest hot baby army cherry lime olive mint sea midnight powder electric blood wine rose lemon "
    "steel slate bottle emerald ruby sand coffee chocolate candy fire ocean dusty burnt jet pitch snow pearl apple "
    "kelly hunter dusky ice off sage blush dapple racing pastel ash strawberry honey egg".split()
)
#: frequent typing slips of words the rules read, and what was meant ("teh car": the car)
TYPOS: dict[str, str] = {"teh": "the", "hte": "the", "th": "the", "wiht": "with", "wtih": "with", "iwth": "with",
                         "adn": "and", "nad": "and", "taht": "that", "ot": "to", "fo": "of", "thier": "their",
                         "infront": "in front", "ontop": "on top", "backround": "background", "backgroud": "background",
                         "colur": "colour", "clor": "color", "ppl": "people", "u": "you", "ur": "your", "peoples": "people",
                         "frm": "from", "fom": "from", "shud": "should", "shld": "should", "abit": "a bit", "alittle": "a little",
                         "nxt": "next", "bhind": "behind", "blue-ish": "bluish", "r": "are", "shes": "she is", "hes": "he is",
                         "theyre": "they are", "thats": "that is", "lmaooo": "lmao", "lmaoo": "lmao", "midle": "middle",
                         "thrid": "third", "secnd": "second", "rite": "right", "lft": "left", "calender": "calendar",
                         "huskey": "husky", "scafolding": "scaffolding", "scaffoling": "scaffolding",
                         "bycicle": "bicycle", "bicylce": "bicycle", "ya": "you", "em": "them", "yer": "your"}  # fmt: skip
#: endings of adjectives ("stormy", "childish", "colourful", "rustic", "metallic"): the last word of "make the X Y"
ADJECTIVE_ENDINGS = ("y", "ish", "ful", "less", "ous", "ic", "ical", "ive", "able", "ible", "ed")
#: nouns with those endings that may end an object's name ("the toy", "the baby")
NOUNS_LIKE_ADJECTIVES = frozenset(
    "toy boy baby puppy kitty bunny pony body party city sky lady family army fairy guy key monkey turkey donkey "
    "jersey trolley chimney alley valley hockey jockey money honey story candy berry cherry strawberry teddy daisy "
    "lily ivy jelly belly bay day way tray jockey ferry lorry buggy body hobby lobby pastry bakery gallery library "
    "factory battery bed sled shed seed weed reed picnic traffic music clinic mosaic cable table stable bible "
    "vegetable trunk".split()
)
#: a pronoun as written -> its canonical form (see :data:`refedit.pipeline.artifacts.PRONOUNS`)
PRONOUN_FORMS: dict[str, str] = {"him": "him", "he": "him", "her": "her", "she": "her", "them": "them", "they": "them",
                                 "it": "it"}  # fmt: skip
#: a possessive determiner -> the canonical pronoun of its owner ("her shirt": a shirt of her)
POSSESSIVE_PRONOUNS: dict[str, str] = {"his": "him", "her": "her", "their": "them", "its": "it"}
#: region words of the image -> :data:`refedit.pipeline.artifacts.REGIONS` ("the right side", "the top half")
REGION_WORDS: dict[str, str] = {
    "left": "left", "right": "right", "top": "top", "upper": "top", "bottom": "bottom", "lower": "bottom",
    "middle": "center", "center": "center", "centre": "center", "background": "background",
    "foreground": "foreground",
}  # fmt: skip
#: nouns that name a part of a region ("the left side", "the top half")
REGION_PARTS = frozenset("side half part portion area section edge third".split())
#: words of a position in the image, not of an object ("on the left side", "in the top left corner")
POSITION_WORDS = frozenset(SPATIAL_WORDS) | REGION_PARTS | frozenset("corner hand very far".split())
#: nouns that are no object to place a target by ("lying on its side", "on the way")
NON_OBJECT_NOUNS = frozenset("side way time fire purpose display sale top bottom front back edge other".split())
#: what people wear: "the man in the blue jacket" is dressed in it, not inside it
WEARABLES = frozenset(
    "jacket coat shirt t-shirt tshirt dress suit hat cap sweater jumper hoodie uniform skirt jeans shorts trousers "
    "pants costume gown scarf vest blouse raincoat overalls tuxedo apron helmet glasses sunglasses boots shoes "
    "sneakers outfit clothes bikini swimsuit robe kimono sari pajamas pyjamas cardigan sweatshirt tie mask "
    "clothing sundress tutu parka blazer leggings onesie poncho overcoat windbreaker tracksuit dungarees jumpsuit romper "
    "leotard veil headscarf hijab beanie bandana sari dhoti kilt cape cloak tiara crown top".split()
)
#: verbs that change how a part of the image looks -> the change ("blur the background": blurred)
LOOK_VERBS: dict[str, str] = {
    "blur": "blurred", "darken": "darker", "brighten": "brighter", "lighten": "lighter", "sharpen": "sharper",
    "desaturate": "desaturated", "pixelate": "pixelated", "saturate": "more saturated", "whiten": "whiter",
    "gild": "golden", "redden": "redder", "blacken": "blacker", "soften": "softer", "shrink": "smaller",
    "enlarge": "bigger", "scale up": "bigger", "scale down": "smaller", "thicken": "thicker", "widen": "wider",
    "lengthen": "longer", "shorten": "shorter", "trim": "trimmed", "cool down": "cooler", "warm up": "warmer",
    "tone down": "more muted", "colorize": "in full colour", "colourise": "in full colour", "colorise": "in full colour",
    "colourize": "in full colour",
}  # fmt: skip
#: nouns for text in the picture ("the text on the sign", "the word SALE", "the shop name"): an edit of them is a new
#: wording, kept as typed ("OPEN", "Luigi's"), on the same object
TEXT_WORDS = frozenset("text word words writing lettering letters caption title headline slogan name number numbers "
                       "wording inscription price date score".split())
#: nouns that name no kind of object ("the thing on the left", "the stuff on the floor"): the generic head
GENERIC_HEADS = frozenset("thing stuff item object".split())  # singular: heads are compared singularised

#: people and animals: a participle before them describes what they do ("the sleeping dog", "the running man"),
#: while before a thing it usually names its use ("the walking frame", "the measuring cylinder")
ANIMATE = frozenset(
    "person man woman boy girl child kid baby toddler teen teenager guy lady gentleman gent people adult player runner "
    "skier surfer cyclist rider jockey dancer singer drummer guitarist musician bride groom student pupil teacher worker "
    "nurse doctor officer soldier chef waiter waitress customer tourist hiker climber swimmer diver skater skateboarder "
    "spectator passenger driver pilot mum mom dad mother father son daughter brother sister grandma grandpa grandad "
    "granddad nan nana gran granny uncle aunt auntie cousin friend husband wife twin dog puppy cat kitten horse pony foal "
    "cow calf bull sheep lamb goat pig piglet chicken hen rooster duck duckling goose swan bird eagle hawk owl owlet "
    "pigeon seagull gull parrot robin heron crow fish trout salmon carp pike shark whale dolphin seal bear cub lion "
    "tiger leopard cheetah elephant giraffe zebra monkey gorilla deer stag fox wolf rabbit bunny hare squirrel mouse rat "
    "hamster frog toad snake lizard turtle tortoise crab bee wasp butterfly moth fly spider ant insect animal pet "
    "creature beetle ladybird ladybug dragonfly bat otter badger hedgehog camel donkey mule alpaca llama kangaroo "
    "koala panda penguin flamingo".split()
)
#: participles that say what a thing is doing ("the burning candle", "the flashing light"), not what it is for
STATE_PARTICIPLES = frozenset(
    "burning flashing blinking boiling rising setting falling flying melting dripping leaking glowing smoking "
    "steaming floating hanging shining sparkling twinkling flickering crumbling peeling fading rotting wilting dying "
    "overflowing spilling blowing waving swaying moving spinning ticking ringing matching leaning standing lying "
    "missing remaining surrounding passing oncoming approaching "
    "following growing blooming flowering trailing towering looming rolling breaking crashing roaring howling "
    "barking grazing nesting perching soaring circling hovering parked".split()
)
