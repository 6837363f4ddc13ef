"""The offline rules parser: instruction templates over regular expressions, noun-phrase analysis with
spaCy (see :mod:`refedit.pipeline.parse.plan`). No key, no network."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from refedit.core.english import plural, singular
from refedit.errors import OutOfScope, UnclearInstruction
from refedit.pipeline.artifacts import EditPlan, Target
from refedit.pipeline.parse import lexicon
from refedit.pipeline.parse.letters import as_one_message
from refedit.pipeline.parse.spelling import corrected, object_nouns
from refedit.pipeline.nlp import known_words, load_nlp
from refedit.pipeline.parse.plan import (
    GLOBAL_TARGET,
    analyse_target,
    between_target,
    one_of,
    build_plan,
    clean_phrase,
    is_wording,
    noun_read_as_verb,
    strip_determiners,
)

#: first words of a command ("i want remove the dog": the wish is the command)
_COMMAND_WORDS = ("remove", "delete", "erase", "replace", "change", "make", "turn", "paint", "add", "put", "swap")
#: what people put before the command in a chat ("ok now, can you please remove the cup")
_POLITE = re.compile(
    r"^(?:(?:(?:would|will|are|were) you be able to|are you able to|(?:could|can|would) you possibly|would you be so kind as to|would you be so good as to|might i trouble you to|may i trouble you to|"
    r"i (?:should|would|'d) be (?:most |very |much )?obliged if(?: (?:you|someone) (?:could|would))?|please you can|"
    r"is possible to|is it possible for you to|i(?: would|'d) (?:really |so |very much |greatly )?appreciate (?:it )?if (?:you|someone|"
    r"somebody|anyone) (?:could|would|can)|may i ask (?:you )?to|might i ask (?:you )?to|is there any chance (?:you|someone|"
    r"somebody|anyone) (?:could|can|would)|(?:and )?one (?:more|last) thing:?|last one,? i promise|"
    r"i wonder if you (?:might|could|would)(?: be so kind as to)?|i(?: would|'d|should) be (?:most |very |ever so |so |"
    r"really )?grateful if you (?:could|would|might)|i(?: would|'d|should) be (?:most |very |ever so |so |really )?grateful if(?= the )|"
    r"would it be at all possible to|would you kindly|would it be possible,|"
    r"i was wondering (?:if|whether) it (?:might|would|could) be possible to|if it is not too much trouble,?(?: to)?|if it's not too much trouble,?(?: (?:could|can|would) you)?|can you to|"
    r"could you to|please to|please|pls|plz|kindly|can you|could you|would you|will you|can u|could u|i want you to|i'd like you to|"
    r"i need you to|help me|go ahead and|let's|lets|let us|i want to|i'd like to|i would like to|i need to|try to|"
    r"can we|could we|can i|could i|is it possible to|would it be possible to|any chance you can|any chance you could|"
    r"is there a way to|is there any way to|can someone|could someone|can somebody|could somebody|can anyone|could anyone|"
    r"would someone|would somebody|would anyone|is anyone able to|anyone able to|someone|somebody|anyone|"
    r"would love it if (?:someone|somebody|anyone|you) could|i'd love it if (?:someone|somebody|anyone|you) could|"
    r"looking for (?:someone|somebody|anyone) (?:to|who can)|need (?:someone|somebody) to|need help|"
    r"hi all|hey all|hi everyone|hello|hi+|hey+|yo|omg|so+|um+|uh+|lol|haha+|quick one:?|quick question:?|"
    r"mate|bro|bruh|dude|guys|folks|buddy|pal|hun|babe|fam|lads|sis|"
    r"i was wondering (?:if|whether) (?:you|someone|anyone) (?:could|can|would|might)|not sure if this is possible,? but|"
    r"i was hoping (?:you|someone|somebody|anyone) (?:could|would|might|can)|"
    r"i want you|"
    r"not sure if (?:you|anyone) can,? but|if possible|if you can|"
    r"how do i|how can i|how would i|how about we|what if we|why don't we|why don't you|"
    r"maybe we could|maybe we can|we should|we need to|can we just|"
    r"any chance|why not|maybe|perhaps|ok|okay|alright|hey|hi|now|also|then|and|next|just|so|actually|sorry|oops|"
    r"no wait|wait|i meant|i mean|undo that and|undo that,? then|"
    r"i (?:want|need|would like|'d like)(?= (?:" + "|".join(_COMMAND_WORDS) + r") ))\b(?:[ ,:]|—|–| - )*)+"
)
#: "how about making the sofa green": the gerund as the command
_GERUND = re.compile(r"^(?:how about|what about|(?:would you |do you |could you )?mind) (?P<v>making|removing|replacing|turning|changing|adding|putting|"
                     r"swapping|painting|erasing|deleting|getting rid of|giving|colou?ring) ")
_GERUNDS = {"making": "make", "removing": "remove", "replacing": "replace", "turning": "turn", "changing": "change",
            "adding": "add", "putting": "put", "swapping": "swap", "painting": "paint", "erasing": "erase",
            "deleting": "delete", "getting rid of": "get rid of", "giving": "give", "coloring": "color",
            "colouring": "colour"}  # fmt: skip
#: and after it ("remove the sign, thanks", "remove the cup too")
_TRAILING_PLEASE = re.compile(r"(?:[ ,]*\b(?:please|pls|plz|thanks|thank you|thx|ty|too|as well|also|for me|now|instead|"
                              r"over there|lol|haha+|lmao|asap|again|for (?:amazon|ebay|etsy|instagram|insta|facebook|"
                              r"tiktok|shopify|my (?:shop|store|website|listing|profile)|the listing)|like (?:it|they) "
                              r"used to be|like (?:it|they) (?:was|were)|like before|completely|entirely|totally|fully|altogether|a bit|"
                              r"a little|a little bit|slightly|a touch|a tad|ngl|tbh|af|rn|fr|lowkey|bro|fam|tho|imo|for (?:him|her|them|me|us)|properly|"
                              r"nicely|naturally|realistically|overall|"
                              r"if (?:that is|that's|it is|it's) "
                              r"possible|if possible|if you can|if you could|by (?:about |around |roughly )?\d+ ?%|"
                              r"for (?:the|a|my|our|his|her|their) (?:[a-z]+ )*?(?:photo|shot|pic|listing|post|page|ad|website|"
                              r"catalog|catalogue|invite|invitation|card|project|slide|presentation|assignment|homework|"
                              r"flyer|brochure|newsletter|claim|report)))+$")
#: "the dog that's on the couch" (never a possessive: "'s" after these words is "is")
_CONTRACTION = re.compile(r"\b(that|who|which|what|there|where)'s\b")
#: "a bit bigger", "a lot taller": the degree goes, the comparative is the change
_DEGREE = re.compile(
    r"\b(?:a (?:little )?bit|a little|a lot|a tad|a touch|slightly|much|way|somewhat|even|far|rather|quite) (?=(?:more|less|[a-z]{3,}ier|"
    + "|".join(sorted(lexicon.COMPARATIVES | {"bigger", "larger", "smaller"})) + r")\b)"
)
_FROM_IMAGE = re.compile(rf" (?:from|out of|off|in) (?:the|this|my|our) (?:[a-z]+ ){{0,3}}?(?:{lexicon.PHOTO_PLACE_WORDS})$| in this one$")
#: a forum post's tag ("[Request]", "Request:", "[Help]")
_TAG = re.compile(r"^(?:[!/][a-z]+\s+|(?:edit|img|image|imagine|bot|ai)\s+(?=(?:remove|replace|make|add|put|turn|change|"
                  r"swap|give|delete|erase|paint|blur|get|bg|[a-z]+ ->)\b)|\[[a-z ]+\]|(?:request|req|help|edit request|photoshop request|quick one|quick question|"
                  r"(?:posting|asking) (?:this )?(?:for|on behalf of) [a-z' ]+?):)\s*")
#: "..., he's the one on the right": who the target is, said after the command
_WHO_IS = re.compile(r"^(?:he|she|it|they)(?:'s| is| are|'re) the (?:one|ones|guy|girl|man|woman|person|kid) (?P<q>.+)$")
_ARTICLE = re.compile(r"^(?:a|an|the|some|one more|one|another|my|our|your|his|her|their)\s+")


@dataclass(frozen=True)
class Parsed:
    action: str
    target: str  # raw target phrase (or "" for global)
    replacement: str | None
    placement: str | None = None  # add only: where the new object goes relative to the target


#: "get the man on the right out of the picture": a removal
_OUT_OF_PICTURE = re.compile(rf"^(?:get|take|move) (?P<t>.+?) out of (?:the|this) (?:{lexicon.PHOTO_PLACE_WORDS})$")
#: the commands the templates know, for a first word typed wrong ("remvoe the cat")
COMMANDS = ("remove delete erase eliminate replace swap substitute exchange switch trade change make turn transform "
            "convert paint repaint recolour recolor colour color dye tint add put place draw insert give fill dress "
            "render blur darken brighten lighten sharpen desaturate increase decrease reduce").split()


#: what refedit cannot do: it edits an object in place
_UNSUPPORTED = re.compile(r"^(?:widen|zoom out|uncrop|outpaint|extend (?:the )?(?:frame|shot|photo|picture|canvas|image)|move|shift(?! the (?:hue|colou?r|tone|tint|shade))(?!.* from [a-z -]+ to )|drag|nudge|slide|reposition|rotate|flip|mirror|tilt|crop(?! out)|zoom|resize|rescale|"
                          r"relocate|straighten (?:the )?horizon|level (?:the )?horizon|fix (?:the )?horizon)\b")


def corrected_command(text: str) -> str | None:
    """``text`` with its first word replaced by the command it is a slip of (``remvoe`` -> ``remove``: close by
    :func:`difflib.get_close_matches`, ratio >= 0.8), or None when it is no such slip."""
    import difflib

    first, _, rest = text.partition(" ")
    if first in COMMANDS or len(first) < 4 or _UNSUPPORTED.match(text):
        return None
    close = difflib.get_close_matches(first, COMMANDS, n=1, cutoff=0.8)
    return f"{close[0]} {rest}" if close and rest else None


#: terminal escape sequences and other control characters pasted into an instruction: not words
_ESCAPES = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


#: "i want the car to be red", "i'd like the sky to be purple": make the car red
_WISH = re.compile(r"^(?:i (?:should like|want|wanted|need|wish|would like|would love|'d like|'d love|would prefer|'d prefer|prefer)|i'd like|"
                   r"i'd love|i'd prefer) (?P<t>.+?) to (?:be|become|look|turn|get) (?P<n>.+)$")
_LOOK = "|".join(sorted(lexicon.COLOURS | lexicon.MATERIALS, key=len, reverse=True))
_COLOUR_WORDS = "|".join(sorted(lexicon.COLOURS, key=len, reverse=True))
#: the object a statement is about ("the dog should be removed"): a determiner first, so no verb or pronoun is taken
_SUBJECT = r"(?P<t>(?:the|this|that|these|those|his|her|their|its|my|our|your|all the|both) .+?)"
_MODAL = r"(?:should|must|needs? to|has to|have to|could|can|might|may|ought to|will have to|is going to|are going to|is to|are to)"
_GONE = r"(?:removed|deleted|erased|gone|taken out|taken away|taken off|cut out|edited out|cropped out|wiped out|rubbed out)"
_PICTURE = rf"(?:the|this|my) (?:{lexicon.PHOTO_PLACE_WORDS})"
#: verbs of a change to a new look ("could the background be softened to a plain pale cream")
_SHIFTED = r"(?:softened|changed|darkened|lightened|brightened|warmed|cooled|shifted|toned|adjusted|altered|updated|recolou?red|tinted)"
#: statements of what the picture should look like, as the commands they mean (first match wins)
_STATEMENTS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    # "might the faded photograph be given a little more colour"
    (rf"^{_SUBJECT} {_MODAL} be given (?P<n>.+)$", r"give \g<t> \g<n>"),
    # "chef wants the garlic bread swapped for a salad", "my boss asked if the sign could be removed": the request reported
    (r"^(?!(?:i|we|you|they) )(?:(?:my|our|the) )?[a-z]+(?: [a-z]+)? (?:wants|wanted|needs|would like|'d like) "
     rf"{_SUBJECT} (?:swapped|replaced|exchanged) (?:with|for|by) (?P<n>.+)$", r"replace \g<t> with \g<n>"),
    (r"^(?!(?:i|we|you|they) )(?:(?:my|our|the) )?[a-z]+(?: [a-z]+)? (?:wants|asked|asks|wanted|needs|would like|'d like) "
     r"(?:if |whether |me to |us to |you to )?"
     rf"(?P<rest>{_SUBJECT} (?:{_MODAL} be .+|{_GONE}|(?:painted|coloured|colored) .+))$", r"\g<rest>"),
    # "the vase could be replaced with a lamp", "have the cat replaced by a fox"
    (rf"^{_SUBJECT} {_MODAL} be (?:replaced|swapped|exchanged|substituted) (?:with|by|for) (?P<n>.+)$", r"replace \g<t> with \g<n>"),
    (rf"^(?:have|get|i'd like|i would like|i want|i need|i'd prefer) {_SUBJECT} (?:replaced|swapped|exchanged|substituted) "
     r"(?:with|by|for) (?P<n>.+)$", r"replace \g<t> with \g<n>"),
    # "let there be a rainbow over the hills", "i'd like a snowman in the front yard": an addition
    (r"^(?:let there be|there should be|i want there to be|i'd like there to be|can we have|could we have|i'd like|"
     r"i would like|i'd love|i would love|i want|i need) (?P<n>(?:a|an|some|more) [a-z][a-z -]*? (?:over|above|in|on|next to|beside|behind|"
     r"under|below|in front of|near|by) (?:the|his|her|their|its|my|our) .+)$", r"add \g<n>"),
    # "give me a version without the scaffolding": a removal
    (r"^(?:give me|show me|make|create|i want|i'd like|can i have|can i get) (?:a |an |the )?(?:version|copy|photo|picture|"
     r"pic|image|one|shot) (?:without|minus|with no) (?P<t>.+)$", r"remove \g<t>"),
    # "the dog should be removed", "the man on the left has to go", "the tree needs removing"
    (rf"^{_SUBJECT} {_MODAL} (?:be {_GONE}|go|disappear|vanish|be gone)(?: (?:from|in|out of|off) (?:the|this|my|our) [a-z ]+)?$",
     r"remove \g<t>"),
    (rf"^{_SUBJECT} needs? (?:removing|deleting|erasing|taking out|to go)$", r"remove \g<t>"),
    (rf"^(?:have|get) {_SUBJECT} {_GONE}$", r"remove \g<t>"),
    # "i need the lamp gone", "i want the bin out of the picture", "i don't want the trash can in the photo"
    (rf"^(?:(?:(?:i|we|she|he|they) )?(?:just )?(?:need|want|wanted|would like|'d like)|(?:i|we|she|he|they)'d like|(?:she|he) "
     rf"(?:wants|needs)) {_SUBJECT} (?:{_GONE}(?: (?:from|in|out of) (?:the|this|my|our) [a-z ]+)?|out of {_PICTURE})$",
     r"remove \g<t>"),
    # "the second window on the top floor should be lit up": the state a verb gives it
    (rf"^{_SUBJECT} {_MODAL} be (?:lit up|lit|switched on|turned on)$", r"light up \g<t>"),
    (rf"^i (?:don't|do not|dont) (?:want|need|like) (?!.* to (?:be|look|become|turn) ){_SUBJECT}(?: (?:in|on) {_PICTURE})?$",
     r"remove \g<t>"),
    # "the sign should say welcome": new wording for the text on it
    (rf"^{_SUBJECT} {_MODAL} (?:say|read|show|display) (?P<n>.+)$", r"change the text on \g<t> to \g<n>"),
    # "i'd love the wall behind the bed painted sage green"
    (rf"^(?:i (?:need|want|would like|'d like|would love|'d love)|i'd like|i'd love) {_SUBJECT} "
     rf"(?:painted|repainted|coloured|colored|dyed) (?P<n>.+)$", r"paint \g<t> \g<n>"),
    # "the walls need to be painted white", "the car needs to be blue", "let the sky be purple"
    (rf"^{_SUBJECT} {_MODAL} be (?P<v>painted|repainted|coloured|colored|dyed|tinted) (?P<n>.+)$", r"paint \g<t> \g<n>"),
    (rf"^{_SUBJECT} {_MODAL} be (?:turned|changed|transformed|converted|made) into (?P<n>.+)$", r"turn \g<t> into \g<n>"),
    (rf"^{_SUBJECT} {_MODAL} be made (?P<n>(?!into\b).+)$", r"make \g<t> \g<n>"),  # "could the ink be made darker"
    (rf"^{_SUBJECT} {_MODAL} be {_SHIFTED} (?:up |down )?(?:to|into) (?P<n>.+)$", r"make \g<t> \g<n>"),  # "be softened to cream"
    # "could we have some daffodils added in front of the lectern": an addition
    (r"^(?:have|get) (?P<n>(?:a|an|some|more|two|three|a couple of|a few|a pair of) [a-z][a-z -]*?) (?:added|put|placed) "
     r"(?P<p>(?:in front of|next to|beside|behind|on top of|on|above|below|under|near|by|onto|in|around|at) .+)$",
     r"add \g<n> \g<p>"),
    (rf"^{_SUBJECT} {_MODAL} (?:be wearing|wear|have|get|be holding|hold|be carrying|carry) (?P<n>(?:a|an|some) .+)$",
     r"give \g<t> \g<n>"),
    (rf"^{_SUBJECT} {_MODAL} (?:be wearing|wear|have|get) (?P<n>[a-z]+s)$", r"give \g<t> some \g<n>"),  # "... wear sunglasses"
    (rf"^{_SUBJECT} {_MODAL} (?:be|become|look(?! like)|turn(?! into)) (?P<n>.+)$", r"make \g<t> \g<n>"),
    (rf"^let {_SUBJECT} (?:be|become|look(?! like)|turn(?! into)) (?P<n>.+)$", r"make \g<t> \g<n>"),
    (rf"^(?:i'd rather|i would rather|i wish) {_SUBJECT} (?:were|was|be|looked) (?P<n>.+)$", r"make \g<t> \g<n>"),
    (rf"^it (?:would|'d) be (?:great|nice|good|cool|awesome|better|lovely|perfect|amazing) if {_SUBJECT} "
     rf"(?:was|were|is|could be|would be|looked) (?P<n>.+)$", r"make \g<t> \g<n>"),
    # "do a version where the chest of drawers is duck-egg blue": the object in that look
    (rf"^(?:do|make|create|give me|show me|mock up|i'd like|i want) (?:a |an |another )?(?:version|copy|one|mock-?up|variant) "
     rf"(?:where|in which|with) {_SUBJECT} (?:is|are|in) (?P<n>.+)$", r"make \g<t> \g<n>"),
    # "i wish it looked like cherry blossom season": the whole photo
    (r"^(?:i )?wish (?:it|the (?:photo|picture|pic|image|scene|shot)) (?:looked|was|were) like (?P<n>.+)$", r"make it look like \g<n>"),
    # "wish the sky over the fjord had the northern lights in it": an addition to the object
    (rf"^(?:i )?wish {_SUBJECT} had (?P<n>(?!(?:its|his|her|their) )[a-z].+?)(?: in it| on it| over it| in them| on them)?$",
     r"add \g<n> to \g<t>"),
    # "the soup needs a bit of steam rising off it": an addition to the object
    (rf"^{_SUBJECT} needs? (?:a bit of|a little|some|more) (?P<n>[a-z][a-z -]*?)(?: (?:rising|coming|on|in|over) (?:off |from |out of )?it)?$",
     r"add some \g<n> to \g<t>"),
    # "need a colourway of this dress in emerald": the object in that look
    (r"^(?:i )?(?:need|want|would like|'d like) (?:a|an|another) (?:colourway|colorway|version|variant|option) of "
     r"(?P<t>(?:the|this|that|my|our) [a-z][a-z -]*?) in (?P<n>[a-z][a-z -]*?)(?: for .+)?$", r"make \g<t> \g<n>"),
    # "declutter the kitchen worktops": what clutters them goes
    (r"^(?:declutter|de-clutter) (?P<t>(?:the|my|our|this) [a-z][a-z -]*?)(?: a bit)?$", r"remove the clutter on \g<t>"),
    # "product photo needs a plain white background": a new background
    (r"^(?:the |this |my )?(?:product |listing )?(?:photo|picture|pic|image|shot) needs? (?P<n>(?:a|an) [a-z -]*background)$",
     r"replace the background with \g<n>"),
    # "bring this old photo back into colour": colourise
    (rf"^bring (?:{_PICTURE}|it|(?:the|this|my) old (?:{lexicon.PHOTO_PLACE_WORDS}))(?: of [a-z ]+?)? back (?:into|to) colou?r$",
     r"colourise the photo"),
    # "get the car in red", "i'd like the bag in green", "do the sofa in navy": the object in that look
    (rf"^(?:get|do|have|show|show me|i'd like|i would like|i want|i need|i'd love) {_SUBJECT} "
     rf"in (?:a |an )?(?P<n>(?:[a-z]+ )?(?:{_LOOK}))(?P<r>(?: instead of| rather than| not) [a-z]+)?$", r"make \g<t> \g<n>\g<r>"),
    # "i want the curtains white", "we'd like the door dark green": the object and its look
    (rf"^(?:i|we) (?:want|need|'d like|would like|'d love|would love|'d prefer|would prefer) {_SUBJECT} "
     rf"(?P<n>(?:[a-z]+ )?(?:{_LOOK}))$", r"make \g<t> \g<n>"),
    # "change the sign to say 'open'", "update the banner to read sale": new wording
    (r"^(?:change|update|edit|alter|fix) (?P<t>(?:the|this|that|his|her|their|my|our) [a-z' -]+?) to (?P<v>say|read) (?P<n>.+)$",
     r"change the text on \g<t> to \g<n>"),
    # "can we have it blue with a few clouds": the object in that look
    (r"^(?:(?:can|could) (?:we|i|you) )?(?:have|get) (?P<t>it|them) (?P<n>(?!(?:back|out|off|removed|gone|done|fixed|to)\b).+)$",
     r"make \g<t> \g<n>"),
    # "I wonder whether the two gentlemen on the bench might be removed": a wish as a statement
    (rf"^i wonder (?:whether|if) {_SUBJECT} (?:might|could|may|can) be {_GONE}$", r"remove \g<t>"),
    # "just need the sky bluer": the object and its look
    (rf"^(?:(?:i|we) )?(?:just )?need {_SUBJECT} (?P<n>(?:more |less )?(?:{_LOOK}|[a-z]+er))$", r"make \g<t> \g<n>"),
    # "sky needs to be more purple": a bare noun as the subject
    (r"^(?P<t>(?!(?:i|you|we|they|he|she|it|this|that|there|what|who)\b)[a-z]+(?: [a-z]+)?) (?:needs to be|should be|has to "
     r"be|must be) (?P<n>.+)$", r"make the \g<t> \g<n>"),
    # "hand him a balloon", "get her a sun hat", "buy the kids some ice cream": a thing given to someone
    (r"^(?:hand|get|buy|bring|fetch|gift|pass) (?P<t>him|her|them|(?:the|this|that|my|our|his|her|their) (?!picture|photo|image)"
     r"(?:(?! to | with | in | on )[a-z' -])+?) (?P<n>(?:a|an|some|another|new) .+)$", r"give \g<t> \g<n>"),
    # "apply a navy colour to the sofa", "add a warm tint to the wall": the look given to the object
    (rf"^(?:apply|add|give|use) (?:a |an |some )?(?P<n>[a-z -]+?) (?:colou?r|tint|shade|finish|paint|texture|look) "
     rf"(?:to|on|for) {_SUBJECT}$", r"make \g<t> \g<n>"),
))


#: "put the dog in sunglasses": dressed in them (not a placement: "put the cat in the box")
_PUT_IN = re.compile(rf"^put {_SUBJECT} in (?P<n>.+)$")


_ABBREVIATIONS = {"bg": "background", "del": "delete", "rm": "remove", "pic": "picture", "img": "image",
                  "b&w": "black and white", "bw": "black and white", "w/": "with"}  # fmt: skip
_COMPARATIVE = "|".join(sorted((lexicon.COMPARATIVES | {"bigger", "smaller", "larger"}) - {"more", "less"}))
_DIAL_WORDS = "contrast|brightness|saturation|exposure|warmth|sharpness|vibrance"
#: how people write a command in a few words (a note to themselves, a chat reply), as the command
_TERSE: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"^(?P<t>[a-z0-9][a-z0-9' -]*?) ?(?:->|→|=>|⇒|:) ?(?P<n>[a-z].*)$", r"change the \g<t> to \g<n>"),  # "cat -> dog"
    (r"^no (?:more )?(?P<t>[a-z][a-z -]*)$", r"remove the \g<t>"),  # "no hat", "no more people"
    (r"^(?P<t>[a-z][a-z -]*?) (?:gone|begone)$", r"remove the \g<t>"),  # "lamp gone"
    (r"^(?P<t>(?!(?:it|them|this|that|take|get|pull|cut|clear|clean|wipe|leave|keep|rub|edit|crop|fish|scoop|pick|"
     r"photoshop|airbrush|zoom|blur|black|white|blank)\b)[a-z]+(?: [a-z]+)?) out$", r"remove the \g<t>"),  # "clouds out"
    (r"^(?P<t>(?!(?:it|them|clear|clean|take|get|wipe|brush|knock|pull|scrape|peel|shake|rip|cut|tear|lift|pick|rub)\b)"
     r"[a-z]+(?: [a-z]+)?) off (?P<o>(?:the|his|her|their|my) [a-z -]+)$", r"remove the \g<t> from \g<o>"),  # "logo off the van"
    (r"^(?P<n>fog|snow|rain|mist|haze|sunset|sunrise|night|dusk|dawn)$", r"make it \g<n>"),  # "fog pls"
    (r"^(?P<t>(?:his|her|their|my|the) [a-z -]+?) (?P<n>(?:more |less )?[a-z]+er)$", r"make \g<t> \g<n>"),  # "her hair blonder"
    (rf"^(?P<n>{_COMPARATIVE}) (?P<t>[a-z][a-z -]*)$", r"make the \g<t> \g<n>"),  # "bigger moon"
    (r"^(?P<n>[a-z]+) on (?P<t>[a-z]+)$", r"put a \g<n> on the \g<t>"),  # "hat on dog"
    (r"^black and white$", r"make the image black and white"),
))
_MORE_DIAL = re.compile(rf"^(?P<d>more|less) (?P<w>{_DIAL_WORDS})$")
_BARE_LOOK = re.compile(rf"^(?P<t>[a-z][a-z -]*?) (?P<n>(?:{_LOOK}|{_COMPARATIVE}|(?:more|less) (?:{_LOOK}|[a-z]+(?:y|ed|ous|ful|ive|ic|al|"
                        rf"ant|ent|ible|able))|[a-z]+ier))$")  # "dog red", "background blue", "sauce more glossy", "grass greener"


def _terse(text: str) -> str:
    """A command written in a few words ("cat -> dog", "no hat", "bg blue", "bigger moon") as a full one; else
    ``text`` (anything that starts with a command word is left alone)."""
    text = " ".join(_ABBREVIATIONS.get(w, w) for w in text.split(" "))
    first = text.split(" ", 1)[0]
    if first in COMMANDS or first in ("get", "take", "let", "have", "i", "i'd", "it", "the", "a", "an", "please"):
        return text
    if m := _MORE_DIAL.match(text):
        return f"{'increase' if m['d'] == 'more' else 'decrease'} the {m['w']}"
    for pattern, command in _TERSE:
        if (m := pattern.match(text)) is not None:
            if "n" in m.groupdict() and m["n"] and m["n"].split(" ", 1)[0] in COMMANDS:  # "note: remove the cat"
                return m["n"]
            return m.expand(command)
    if (m := _BARE_LOOK.match(text)) and len(m["t"].split()) <= 2:
        return f"make the {m['t']} {m['n']}"
    return text


#: "could the sky be blue instead of grey", "might the faded photograph be given more colour": the statement asked
_QUESTION = re.compile(r"^(?P<m>could|can|should|might|would|may) (?P<t>(?:the|this|that|these|those|his|her|their|my|our) "
                       r"[a-z][a-z' -]*?) (?P<rest>(?:be (?:wearing|holding|carrying|given|removed|deleted|erased|gone|taken|painted|"
                       r"repainted|coloured|colored|dyed|made|turned into|replaced|swapped|" + _SHIFTED + r")|"
                       rf"get|have|wear) .+|be {_GONE})$")  # ("could the sky be blue" is a template's own)


def _statement(text: str) -> str:
    """A statement of the wanted picture as its command ("the dog should be removed": remove the dog); else
    ``text``. A question is its statement ("could the giraffe be wearing a scarf": the giraffe could be ...)."""
    text = _QUESTION.sub(r"\g<t> \g<m> \g<rest>", text)
    for pattern, command in _STATEMENTS:
        if (m := pattern.match(text)) is not None:
            return m.expand(command)
    if (m := _PUT_IN.match(text)) and singular(m["n"].split()[-1]) in lexicon.WEARABLES:
        return f"dress {m['t']} in {m['n']}"
    return text


#: "..., as it really was": how it was, not part of the new look
_AS_IT_WAS = r"as (?:it|they|he|she) (?:really |actually |originally |always )?(?:was|were|is|are|used to be)\b"
#: a clause after the new thing that says what to keep ("with a cat, keep everything else", "into a lion but
#: keep the pose"): not part of what the object becomes
_AFTERTHOUGHT = re.compile(
    r"(?:,? (?:but|while|and keep|keeping|and leave|leaving|and don't|and do not|and make sure|so that|so (?:we|i|you|they|"
    r"he|she|it|people|everyone) (?:can|could|will|would|don't|do not)|so (?:that )?(?:the|it|they|he|she) (?:[a-z]+ )?"
    r"(?:stands? out|pops?|looks?|is|are|can|will|would)\b|so (?:we|they|it|everything) (?:all )?match\b|and (?:we're|we are|"
    r"i'm|that's|it's) (?:good|done|set|fine|golden)\b|before (?:i|we|you|my|our)\b|to match\b|so (?:it|they) match(?:es)?\b|it'?s giving\b|"
    r"(?:pls|please|plz|thanks|lol) (?:she|he|they|we|i|it)\b|(?:she|he|they|we)(?:'ll|'d| will| would) (?:love|like|"
    r"be|think|want)\b|" + _AS_IT_WAS + r"|without "
    r"(?:changing|touching|altering|affecting|moving))\b|, (?:keep|leave|don't|do not|make sure|same|thanks|thank "
    r"you|please|matching|preserving|maintaining|retaining|respecting|consistent with|in keeping with|with the same)\b|"
    r", (?:it )?(?:is|was|looks) (?:very |too |so |really )?[a-z]+$).*$"
)


#: what a picture is for, said after the command ("..., for her privacy", "bump the colours for the blog", "for my
#: tinder", "for the company website"): context, not part of the new look
_PURPOSE = re.compile(
    r",? (?:- )?(?:just )?for (?:(?:the|my|our|his|her|their|a|an|this|that|its|your) )?(?:[a-z0-9'-]+ ){0,3}?(?:blog|website|"
    r"site|post|listing|card|invite|invitation|magazine|newsletter|brochure|menu|slide|presentation|report|profile|tinder|"
    r"hinge|bumble|instagram|insta|ig|linkedin|facebook|fb|tiktok|feed|bio|privacy|sake|memorial|funeral|order of service|"
    r"album|portfolio|catalogue|catalog|flyer|leaflet|poster|client|customer|gallery|archive|records?|yearbook|thumbnail|"
    r"competition|exhibition|advert|ad|campaign|christmas|xmas|easter|anniversary|grid|story|page|noticeboard|notice "
    r"board|handout|worksheet|assignment|homework|project)s?[ .!?]*$"
)


#: "remove the dog (the brown one)", "remove the car -- the blue one": the aside's look joins the target
_ASIDE = re.compile(r"^(?P<pre>.*?\b(?:the|this|that|these|those) )(?P<n>[a-z][a-z -]*?) ?(?:\(|--|—|–| - |,) ?(?:i mean |"
                    r"like )?(?:the|that) (?P<a>[a-z-]+(?: [a-z-]+)?) (?:one|ones)\)?$")
#: the same aside inside the command, between commas: "replace the bike, the red one, with a scooter"
_ASIDE_MID = re.compile(r"\b(?P<d>the|this|that) (?P<n>(?!(?:left|right|top|bottom|middle|centre|center|front|back|end)\b)"
                        r"[a-z][a-z-]*(?: [a-z][a-z-]*)?), (?:i mean |like )?(?:the|that) "
                        r"(?P<a>[a-z-]+(?: [a-z-]+)?) ones?, (?=[a-z])")
#: slang hedges before a look ("kinda bluish"): not part of it
_HEDGE = re.compile(r"\b(?:kinda|sorta|kind of|sort of)\b ?(?=(?:a |an )?(?:[a-z]+ )?(?:[a-z]+ish\b|[a-z]+y\b|" + "|".join(sorted(lexicon.COLOURS)) + r"\b))")


#: a colour as one word ("white", "navy", "light blue" is two: "in light blue" stays as written)
_COLOUR_WORDS = "(?:" + "|".join(sorted(lexicon.COLOURS, key=len, reverse=True)) + ")"


def _dressed_in(m: re.Match[str]) -> str:
    """"the woman in white" -> "the woman in the white clothes" when she is a person or animal ("the one in white")."""
    who = m["n"]
    if who in ("one", "ones") or singular(who) in lexicon.ANIMATE:
        return f"{who} in the {m['c']} clothes"
    return m[0]


#: a learner's and a chat's phrasings, as the usual ones
_LEARNER: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"^make (?P<t>(?:the|this|that|his|her|their|my) .+?)(?<!\bthe)(?<!\ba)(?<!\bthis) (?:say|read|show|display) (?P<n>.+)$",
     r"change the text on \g<t> to \g<n>"),  # "make the sign say closed" (not "the back of the display look ...")
    (r"^(?P<v>make|let) (?P<t>.+?) to be (?P<n>.+)$", r"\g<v> \g<t> \g<n>"),  # "make the sky to be more blue"
    (rf"(?<!\ba )(?<!\ban )\b(?P<c>{_COLOUR_WORDS}) colou?r\b", r"\g<c>"),  # "to red colour" ("a navy colour" stays)
    (rf"\bthe (?P<n>[a-z]+) (?:which|that) (?:is|are) (?P<a>{_LOOK})\b", r"the \g<a> \g<n>"),  # "the car which is red"
    (r"^do (?P<t>(?:the|this|that|his|her|their|my) .+ colou?r .+)$", r"make \g<t>"),  # "do the car color black"
    (r"\b(?P<p>it|them|him|her) back (?P<to>to|into)\b", r"\g<p> \g<to>"),  # "change it back to white"
    (r"\b4 (?=(?:a|an|the|some)\b)", "for "),  # "swap the dog 4 a cat"
    (r"\brid off\b", "rid of"),  # "get rid off the bin"
    (r"\b(?P<w>with|the|a|an|to|of|on|in|for|and) (?P=w)\b", r"\g<w>"),  # "swap the vase with with a jug"
    (r" than (?:that|this|before|now|it is|it was)$", ""),  # "a bit darker than that"
    (r", not (?:the|that|this|on the|in the) [a-z ]+$", ""),  # "remove the cat on the left, not the right"
    (r"\b(?:twice|three times|2x|3x|x2|x3) as (?:big|large)\b", "bigger"),  # "twice as big"
    (r"\b(?:twice|three times|2x|3x|x2|x3) as tall\b", "taller"),
    (r"\b(?:half|a third of) (?:the|its) size\b", "smaller"),
    (r"\bwhatever (?:is|are) (?=(?:on|in|at|under|behind|next to|near|inside) )", "all the things "),
    (r"\bwhatever(?: is|'s) (?=[a-z]+ing\b)", "the thing "),  # "remove whatever is poking in from the left edge"
    (r"\bout[- ]of[- ]focus\b", "blurred"),  # "make the flower in the foreground out of focus": its look
    # an agent's "Modify the car so that it looks red", "Change the sky so it appears stormy": make it so
    (r"^(?:modify|change|edit|adjust|alter|update|tweak) (?P<t>(?:the|this|that|his|her|their|my) .+?),? so(?: that)? "
     r"(?:it|they) (?:looks?|appears?|is|are|becomes?|seems?)(?: to be)? (?P<n>[^,.]+)", r"make \g<t> \g<n>"),
    # "apply a Gaussian blur to the background", "give the background a slight blur": blur it
    (r"^(?:apply|add|put|use) (?:a |an |some )?(?:little |bit of |gaussian |slight |strong |heavy |soft |light |subtle |"
     r"lens |bokeh )*blur(?: effect)? (?:to|on|over) (?P<t>.+)$", r"blur \g<t>"),
    (r"^give (?P<t>(?:the|this|that|his|her|their|my) .+?) (?:a |some )?(?:little |bit of |gaussian |slight |strong |heavy |"
     r"soft |light |subtle |lens |bokeh )*blur(?: effect)?$", r"blur \g<t>"),
    (r"\bthe background (?:behind|around) (?:the |my |our )?(?:main )?(?:subject|person|people|object)\b", "the background"),
    # "add some fog rolling in under the bridge", "add a dog sitting at the girl's feet": what the new thing does on the
    # way to its place is no part of it; at someone's feet is beside them
    (r"^(?P<v>add|put|place|insert|draw) (?P<n>(?:a|an|some|two|three|four|several|more|a few|a little) .+?) (?:sitting|"
     r"standing|lying|sleeping|rolling|flying|floating|hanging|walking|running|swimming|playing|resting|waiting|drifting|"
     r"peeking|poking|leaning|crawling|climbing|hovering|soaring|grazing|perching|perched|parked|curled up|coming|creeping|"
     r"spilling|pouring|blowing|gliding|sailing)(?: (?:in|out|down|up|around|about|along|over))? "
     r"(?=(?:under|on|in|at|next to|beside|near|behind|above|over|below|by|inside|between|in front of|on top of) (?:the|a|an|his|"
     r"her|their|my)\b)", r"\g<v> \g<n> "),
    (r"\bat (?P<o>(?:the|his|her|their|my) [a-z ]+?)'s feet\b", r"next to \g<o>"),
    # "the guy wearing his cap backwards": how it is worn is no part of the cap
    (r"\b(?P<w>wearing|with) (?P<t>(?:his|her|their|a|an|the) [a-z]+(?: [a-z]+)?) (?:backwards|back to front|inside out|"
     r"upside down|sideways|askew)\b", r"\g<w> \g<t>"),
    # "right in the foreground", "dead centre", "smack in the middle": intensifiers of a position, not the right side
    (r"\b(?:right|smack|bang|slap bang|smack bang) (?=(?:in|at) the (?:foreground|background|middle|centre|center|front|"
     r"back)\b)", ""),
    (r"\b(?:dead|smack|bang|slap bang|smack bang) (?=(?:centre|center|middle)\b)", ""),
    # "the second car from the camera": counted from the front
    (r"\b(?P<o>first|second|third|fourth|fifth|[0-9]+(?:st|nd|rd|th)) (?P<n>(?:[a-z]+ )?)from the (?:camera|viewer|"
     r"photographer)\b", r"\g<o> \g<n>from the front"),
    (r"\b(?P<p>they|them) (?:all|both)\b", r"\g<p>"),  # "can they all be blue" (a named object's "them both": see _resolve_reference)
    (r"\b(?P<b>be|look|appear) in (?=black and white\b|sepia\b|greyscale\b|grayscale\b|monochrome\b)", r"\g<b> "),
    (r"\b(?:way|far|far far|waaay|way way) (?:off|out|back) (?=in the (?:distance|background|back)\b)", ""),  # "way off in the distance"
    (r"\bwhatever (?:that|this|it) is\b", "the thing"),
    (r"\b(?:whoever|whomever|anyone who|anybody who|the one who|the person who)(?: is|'s) (?=[a-z]+ing )", "the person "),
    # "the house whose chimney is smoking", "the car whose door is open": the house with the smoking chimney
    (r"\b(?P<d>the|that|this) (?P<n>[a-z]+) whose (?P<p>[a-z]+) (?:is|are|was|were|looks?) (?P<s>[a-z]+)"
     rf"(?=$|[,.!?]| (?:and|with|into|to|please|instead|{_COLOUR_WORDS})\b)", r"\g<d> \g<n> with the \g<s> \g<p>"),
    # "the woman in white", "the man dressed all in black": dressed in that colour (what she wears, not her look: "a
    # white woman" is something else), as "the woman in the white clothes" is
    (r"\b(?P<n>[a-z]+) (?:(?:who is|who's|that is|dressed|clad|all|head to toe|from head to toe) )*in (?:all )?"
     rf"(?P<c>{_COLOUR_WORDS})(?=$|[,.!?]| (?:and|on|at|in|next|near|behind|by|beside|with|from|to|into|standing|sitting|"
     rf"walking|who|that|please|instead|wear|hold|look|have|smile|be|{_COLOUR_WORDS})\b)", _dressed_in),
    # "the dog that is sleeping", "make the candle that's lit blue": a state said in a clause is an attribute ("the
    # sleeping dog") when nothing but the edit follows (a place after it tells the object apart; "holding an umbrella"
    # has an object)
    (r"\b(?P<d>the|that|this) (?P<n>[a-z]+) (?:that|which|who)(?: is| are|'s| was| were| looks?| seems?) "
     r"(?P<s>[a-z]+ing(?: down| up| around| about)?(?=$|,| (?:with a|with an|into)\b)|(?:"
     + "|".join(sorted(lexicon.STATE_ADJECTIVES)) + r")\b)", lambda m: f"{m['d']} {m['s'].split()[0]} {m['n']}"),
    (r"^make (?P<a>more [a-z]+|[a-z]+er) (?P<t>(?:the|this|that|my|his|her) [^,]+)(?P<r>,.*)?$", r"make \g<t> \g<a>\g<r>"),
    (r"^i want that (?P<t>.+?) (?:is|are|be) (?P<n>.+)$", r"make \g<t> \g<n>"),  # "i want that the car is red"
    (r"^add (?P<p>in|on|to|at) (?P<t>the [a-z ]+?) (?P<n>(?:some|a|an|two|three|many|more) .+)$", r"add \g<n> \g<p> \g<t>"),
    (r"^(?P<t>(?:the|this|that) [a-z ]+?),? (?:please )?(?P<v>paint|colou?r|dye|recolou?r) (?:it |them )?to (?P<n>.+)$",
     r"\g<v> \g<t> \g<n>"),  # "the second car from right, please paint to yellow"
    (r"^(?P<t>(?:the|this|that) [a-z ]+?),? (?:please )?(?P<v>remove|delete|erase|give|blur) (?:him|her|it|them)(?P<r>(?: .+)?)$",
     r"\g<v> \g<t>\g<r>"),  # "this boy please give him a ball"
    (rf"\b(?:the|that|this) (?P<n>[a-z]+)(?P<rel> (?:on|in|at|by|near|under) the [a-z]+)? (?:which|that|who) (?:is|are) "
     rf"(?P<a>{_LOOK})\b", r"the \g<a> \g<n>\g<rel>"),  # "that bottle on the table who is green"
    (r"^what (?:i|we) (?:want|need|'d like|would like) is for ", "i want "),  # "what i want is for the truck to ..."
    (r"\bwhatever (?:that|this) (?P<x>[a-z][a-z -]*?) is\b", r"the \g<x>"),  # "whatever that black thing is on ..."
    (r"\b(?P<w>floor|knee|ankle|shoulder|waist|calf|thigh|elbow|chin|hip)[- ]length\b", r"\g<w>-length"),
    (r"\beverything (?=(?:on|in|under|behind|inside|next to|near|at|off|from) (?:the|this|that|his|her|my) )", "all the things "),
    # "the cat please change to dog", "the dog, make it white": the object said first
    (r"^(?P<t>(?:the|this|that) [a-z ]+?),? (?:please )?(?P<v>change|turn) (?:it |them )?(?P<p>to|into) (?P<n>.+)$",
     r"\g<v> \g<t> \g<p> \g<n>"),
    (r"^(?P<t>(?:the|this|that) [a-z ]+?),? (?:please )?(?P<v>make|paint|colou?r|turn|dye) (?:it|them) (?P<n>.+)$",
     r"\g<v> \g<t> \g<n>"),
))
#: "make the jacket a darker grey": the shade is the look (no "a": not a new object)
_A_SHADE = re.compile(r"^(?P<pre>(?:make|paint|colou?r|turn|dye|recolou?r) .+?) a (?P<n>(?:darker|lighter|brighter|deeper|"
                      r"paler|warmer|cooler|softer|richer|clearer|stronger|bolder|duller|different|nicer|deep|dark|light|pale|bright|soft|muted|rich|warm|"
                      r"cool|dusty|vivid|subtle) (?:shade of )?[a-z-]+(?: [a-z-]+)?)$(?<! colour)(?<! color)(?<! shade)"
                      r"(?<! tone)(?<! hue)")
#: "the second last bottle", "the 2nd to last car", "next to last": counted from the end
_SECOND_LAST = re.compile(r"\b(?:second|2nd|next)(?:[- ]to|[- ]from the|[- ]from)?[- ]last\b")
#: "the third to last bottle", "3rd-from-last": "third last", which the target reads as the third from the end
_NTH_LAST = re.compile(r"\b(?P<n>third|fourth|fifth|sixth|3rd|4th|5th|6th)(?:[- ]to|[- ]from the|[- ]from)?[- ]last\b")
#: "the third cup from the end": the third last cup (the end of a row is no object)
_FROM_THE_END = re.compile(r"\b(?P<o>first|second|third|fourth|fifth|sixth|1st|2nd|3rd|4th|5th|6th) (?P<n>[a-z][a-z-]*(?: [a-z][a-z-]*)?) "
                           r"from the (?:end|back)\b(?! of\b)")
#: "the first car in the row", "the tallest guy in the group": the row is where the counting happens, not an object
_IN_THE_GROUP = re.compile(r" (?:in|of) (?:the|that|this) (?:row|line|queue|lineup|line-up|group|bunch|set)\b(?! of\b)")
#: "the car furthest away": the furthest car (depth); "the chair furthest from the window": a distance to an
#: object, which no plan holds (it became the back-most chair, the window dropped)
_FURTHEST_AWAY = re.compile(r"\b(?P<n>[a-z][a-z-]*) (?P<d>furthest|farthest|nearest|closest) away\b")
_FURTHEST_FROM = re.compile(r"\b(?:furthest|farthest|most distant) (?:away )?from (?:the|a|an|his|her|my|our|their|that|this) "
                            rf"(?!{lexicon.VIEWER_PATTERN})[a-z]")
#: "make it so the cup is blue", "have it so that the sofa is green": make the cup blue
_MAKE_IT_SO = re.compile(r"^(?:make|have|set) it so (?:that )?(?P<t>(?:the|his|her|their|its|my|our) .+?) (?:is|are|looks?|becomes?) "
                         r"(?P<n>[a-z].*)$")
#: "person #2 from the left": the second person from the left
_NUMBER_SIGN = re.compile(r"\b(?P<noun>[a-z]+) (?:#|no\. ?|number )(?P<n>[1-9])\b")


def _numbered(m: re.Match[str]) -> str:
    n = int(m["n"])
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n, 'th')} {m['noun']}"


def _as_typed(instruction: str, phrase: str) -> str:
    """``phrase`` (found lowercased in ``instruction``) with the capitals it was typed with ("OPEN", "Luigi's")."""
    m = re.search(re.escape(phrase).replace("'", "['’]"), instruction, flags=re.IGNORECASE)
    return m.group(0) if m else phrase


_COLOURS_AND_MATERIALS = lexicon.COLOURS | lexicon.MATERIALS


#: "make the bald guy's head shiny like a bowling ball": a look, then what it is like
_LOOK_THEN_LIKE = re.compile(r"^(?:make|turn|paint) .+ (?:[a-z]+y|[a-z]+ed|[a-z]+er|" + "|".join(sorted(lexicon.COLOURS)) +
                             r") (?:like|as) (?:a |an )?(?!it\b|if\b|they\b|he\b|she\b)[a-z -]+$|"
                             r"^(?:make|turn|paint) .+ (?:" + "|".join(sorted(lexicon.COLOURS)) + r") like (?:it's|it is|it was) [a-z -]+$")
#: a run-on remark after the command: "delete the 3rd person from the left she is not even in our group"
_LATER_NOTE = re.compile(r"(?<!\blike)(?<!\bif)(?<!\bthough)(?<!\bthat)(?<!\bbecause)(?<!\bso)(?<!\bwhere)(?<!\bwhen)"
                         r" (?:he|she|they) (?:is|are|was|were) (?:not|never|so|too|just|always|literally|kinda|really)\b.*$")
#: a word between spaces or punctuation (not part of "u-turn" or "don't")
_WORD = re.compile(r"(?<![\w'-])[a-z]+(?![\w'-])")
#: "the lady w the stroller": with
_W_WITH = re.compile(r"\bw (?=(?:the|a|an|his|her|their|my|our|some|no)\b)")


def _as_written(instruction: str) -> frozenset[str]:
    """The words of ``instruction`` typed in quotes or with capitals (new wording, names): never "put right"."""
    quoted = " ".join(re.findall(r"(?<![A-Za-z])['\"“‘]([^'\"”’]+)['\"”’]", instruction))
    return frozenset(w.lower() for w in re.findall(r"[A-Za-z]+", quoted)) | frozenset(
        w.lower() for w in re.findall(r"[A-Za-z]*[A-Z][A-Za-z]*", instruction))


def _names_as_typed(instruction: str, phrase: str) -> str:
    """``phrase`` with the capitals of the names in it as typed ("like Mars", "a Van Gogh painting", "a T. rex"):
    a word typed capitalised where a sentence does not start, unless the whole instruction is shouted in capitals."""
    long_words = [w for w in re.findall(r"[A-Za-z]+", instruction) if len(w) > 2]
    if sum(w[0].isupper() for w in long_words) > len(long_words) / 2:  # shouted, or Every Word Capitalised
        return phrase
    gap = r"(?:[\s,\"“”]+['‘’]?|['‘’][\s,\"“”]+)"  # spaces and quotes, not the apostrophe of "Gogh's"
    m = re.search(re.escape(phrase).replace("'", "['’]").replace(r"\ ", gap), instruction, flags=re.IGNORECASE)
    if m is None or m[0] == phrase:
        return phrase
    words, typed = phrase.split(" "), [w for w in re.split(gap, m[0]) if w]
    if len(words) != len(typed):
        return phrase
    starts = {k.end() for k in re.finditer(r"(?:^|[.!?:]\s+)", instruction)}
    out, at = [], m.start()
    for word, said in zip(words, typed):
        at = instruction.index(said, at)
        letters = re.sub(r"[^A-Za-z]", "", said)
        name = (said != word and said.lower() == word and at not in starts and word not in _COLOURS_AND_MATERIALS
                and (len(letters) == 1 or not letters.isupper()))  # "Mars", "T."; not the emphasis of "make it RED"
        out.append(said if name else word)
        at += len(said)
    return " ".join(out)


#: the words after which an emoji stands for a noun ("remove the 🐶", "replace the 🚗 with a 🚲")
_BEFORE_EMOJI_NOUN = re.compile(r"(?i)(?:^|\W)(?:the|a|an|my|his|her|their|our|remove|delete|erase|replace|with|into|for|add|of|on|"
                                r"next to|beside|behind)\s*$")
#: emoji whose Unicode name is not the noun people mean
_EMOJI_NAMES = {"automobile": "car", "hot beverage": "hot drink", "speech balloon": "speech bubble"}


def _emoji_noun(ch: str) -> str | None:
    """The object an emoji shows ("🐶": dog, "🚗": car, "🎈": balloon), or None for a face or a sign ("😩", "🔴")."""
    words = unicodedata.name(ch, "").lower()
    if words.endswith(" face"):  # "dog face" is a dog; "weary face" is a mood
        words = words[: -len(" face")]
    words = _EMOJI_NAMES.get(words, words)
    return words if words and words.split()[-1] in object_nouns() else None


def _emoji_nouns(text: str) -> str:
    """Emoji that stand where a noun does, as that noun ("remove the 🐶": remove the dog); the others are left for
    :func:`_symbols` to drop."""
    out: list[str] = []
    for i, ch in enumerate(text):
        after = text[i + 1 : i + 2]
        word = re.match(r"\s*([A-Za-z]+)", text[i + 1 :])  # "the 🐶 dog": the emoji decorates the noun after it
        if (unicodedata.category(ch) == "So" and (not after or not after.isalnum()) and _BEFORE_EMOJI_NOUN.search("".join(out))
                and (word is None or word[1].lower() not in object_nouns()) and (noun := _emoji_noun(ch)) is not None):  # fmt: skip
            out.append(noun)
        else:
            out.append(ch)
    return "".join(out)


def _symbols(text: str) -> str:
    """``text`` without emoji, pictographs and emphasis marks ("make the shirt *blue* 🔴" -> "make the shirt blue"),
    an emoji where a noun stands read as that noun ("remove the 🐶")."""
    text = _emoji_nouns(text)
    keep = ("\x00" if unicodedata.category(ch) == "So" else ch for ch in text
            if ch not in "*\"“”«»_~" and unicodedata.category(ch) not in ("Sk", "Cf", "Co", "Cs") and ch != "\ufe0f")
    # an emoji between two clauses ends the first, as a full stop would ("sooo the dog photobombed our pic 😂 can you
    # ..."); inside a phrase ("remove the 🐶 dog") or at the end it is only dropped
    text = _EMOJI_STOP.sub(lambda m: m[1] + ". ", "".join(keep))
    return _QUOTED.sub(r"\1", re.sub(r"\s*\x00[\s\x00]*", " ", text))


#: emoji (marked \x00) after a word that can end a clause and before another word: a full stop
_EMOJI_STOP = re.compile(r"(\b(?!(?:a|an|the|my|his|her|their|our|of|with|on|in|to|and|or|some)\b)[A-Za-z']+)"
                         r"[\s\x00]*\x00[\s\x00]*(?=[A-Za-z])")


#: a word in single quotes ("the 'red' car"), not an apostrophe ("the girl's", "don't")
_QUOTED = re.compile(r"(?<![A-Za-z])'([A-Za-z0-9][A-Za-z0-9 .,!&#$%-]*)'(?![A-Za-z])")


#: where a message's clauses part ("see the lamp by the window? make it blue", "sorry, i meant the red car, remove
#: that", "wrong one - i wanted the vase removed")
_CLAUSES = re.compile(r"\s*(?:[.?!;]+|,| - | -- | — | – )\s*")
#: what leads into an earlier clause's object ("there are two cats", "i meant the red car", "what is that thing")
_LEAD_IN = re.compile(r"^(?:(?:no|nope|wait|sorry|oops|ok|okay|hmm|well|so|actually|see|look at|look|i meant|i mean|i said|"
                      r"i wanted|i want|i see|i can see|you can see|can you see|i'm talking about|i am talking about|"
                      r"there is|there are|there's|what is|what are|what's|whatever|do you see|you see|notice|it's|it is|"
                      r"not|the other one|that's|that is|of|among|out of|from|he's|she's|they're|he is|she is|they are|"
                      r"the only problem is|the problem is|the issue is|my problem is|lol|omg|haha+|so+|yo|hi+|hey+|"
                      r"um+|uh+|ok so|why is there|why are there|why does|why do|why is|ok but|but|honestly|frankly|ugh|"
                      r"tbh|ngl|remember|i've got|i have got|i have|we have|we've got|i've|we've|check out|is that|is this|"
                      r"are those|are these|is there|are there|all)\b ?)+")
#: "which of the boats is between the buoys", "which one of the dogs is on the sofa": one of them, placed
_WHICH_OF = re.compile(r"^which (?:one )?of (?:the|these|those) (?P<q>(?:[a-z-]+ )*?)(?P<n>[a-z]+) (?:is|was|'s) "
                       r"(?P<rest>(?:on|in|at|under|behind|near|by|next to|above|below|inside|between|beside|in front of) .+)$")
#: "the photo is fine except for the kid in the hoodie": what spoils the photo
_EXCEPT_FOR = re.compile(r"\b(?:is|are|looks?|seems?) (?:fine|good|great|perfect|ok|okay|lovely|nice) (?:except|apart from|but "
                         r"for|other than)(?: for)? (?P<np>(?:the|that|this|those|these|a|an|my|our|his|her|their) [a-z][a-z' -]*)$")
#: a noun without its article, then where it is or what it wears ("girl in the pink dress, make her hair curly")
_BARE_TOPIC = re.compile(r"^(?!(?:i|you|we|they|he|she|it|this|that|there|what|who|how|why|can|could|would|please|pls|make|"
                         r"remove|add|put|give|get|take|change|turn|paint|replace|swap|delete|erase)\b)(?:[a-z]+ )?"
                         rf"(?!(?:{lexicon.PHOTO_PLACE_WORDS})\b)[a-z]+(?<!ed)(?<!ing) "
                         r"(?:in|on|with|at|by|near|next to|behind|wearing|holding|into) (?:the|a|an|his|her|their|my|our) ")
#: an object named in an earlier clause
_NOUN_PHRASE = re.compile(r"^(?:the|that|this|those|these|a|an|two|three|four|five|both|some|my|his|her|their|our|your) "
                          r"[a-z0-9][a-z0-9' -]*$")
#: a later clause's command on something already named: "remove that", "make it blue", "remove the one on the left"
_REFERS = re.compile(r"^(?P<verb>[a-z]+(?: rid of| out| away| down| off| up)?) (?P<ref>it|that|this|them|those|these|him|her|"
                     r"his|its|their|"
                     r"the (?P<q>(?:[a-z-]+ )*?)(?P<o>ones?)\b(?P<rest>[a-z' -]*?))"
                     r"(?P<tail>(?: [a-z][a-z -]*)?)$")
_CLAUSE_VERBS = frozenset(COMMANDS) | {"get", "take", "straighten", "open", "close", "fix", "pop", "stick", "hang", "slap", "paste"}
#: "that blob is on the lens": the clause's verb before a relation
_IS_REL = re.compile(r" (?:is|are|was|were|sitting|standing|lying|leaning|hanging|resting|perched|parked|propped|floating|"
                     r"sleeping|waiting|poking|sticking|peeking|creeping|coming|(?:is |are )?held up|(?:is |are )?held) "
                     r"(?:(?:out|up|in) )?"
                     r"(?=(?:on|in|at|under|behind|near|by|next to|above|below|inside|into) )")


#: where a message's sentences part
_SENTENCES = re.compile(r"(?<!\b[a-z])[.?!]+(?:\s+|$)|\s*;\s*")
#: the first words of a command in a message's sentence: the verbs a later clause edits with, and the look verbs
_COMMAND_FIRST = _CLAUSE_VERBS | {w.split()[0] for w in lexicon.LOOK_VERBS} | {"photoshop"}
#: nouns that end in -ing ("the white thing"), not a verb after its subject
_ING_NOUNS = r"(?:th|ceil|build|paint|r|k|w|str|sw|spr|even|morn|cloth|rail|awn|ic|stuff|draw|sett|light|sid|wedd|fenc)ing\b"
#: "the rug is too bright", "two dogs are playing in the yard", "the photo shows three kids": the subject, the verb, the rest
_SUBJECT_VERB = re.compile(r"^(?P<np>(?:the|that|this|those|these|a|an|two|three|four|five|both|some|my|our|his|her|their) "
                           rf"[a-z][a-z' -]*?) (?:is|are|was|were|'s|looks?|seems?|has|have|shows?|contains?|says?|reads?|(?!{_ING_NOUNS})[a-z]{{2,}}ing)\b"
                           r"(?: (?:of|at|on|in))?(?: (?P<rest>.*))?$")
#: an object named by what it holds or wears ("the woman that is carrying a baby"): the whole phrase names it
_HAS_THING = re.compile(r"^(?:the|that|this|a|an) (?:(?!(?:is|are|was|were|who|that|which) )[a-z'-]+ )+?(?:(?:who|that|which) "
                        r"(?:is|'s|are) )?(?:holding|carrying|wearing|clutching|hugging|riding|pushing|leading|flying|waving|"
                        r"using|eating|drinking|reading) (?:a|an|the|his|her|their|some|two) [a-z]")
#: "in the background there's a white van": the object, where it is
_THERE_IS = re.compile(r"^(?P<where>(?:in|on|at|by|near) the [a-z ]+?),? (?:there's|there is|there are) (?P<np>.+)$")


#: a sentence run into the command without a stop: "my shoes are so dirty make them white", "the lion looks so sleepy make him roar"
_RUN_ON = re.compile(r"(?P<s>\b(?:is|are|r|was|were|looks?|seems?) (?:so |too |really |very |kinda |a bit |super )?[a-z]+)"
                     r" (?=(?:make|remove|delete|erase|replace|turn|change|paint|add|put|give|swap|fix|can you|could you|"
                     r"pls|please)\b)")
#: "golden hour but make it golden", "... but the seagull has to go": what follows "but" is the edit
_BUT_THEN = re.compile(r" but (?=(?:make|remove|delete|erase|get rid of|replace|turn|change|add|put|give|paint|the [a-z ]+ "
                       r"(?:has to go|needs to go|must go|should go)\b))")
#: a sentence after the edit that says who "he" or "she" is ("she's the woman on the left in the blue top")
_IS_THE = re.compile(r"^(?:he|she|it|they)(?:'s| is| are|'re) (?P<np>the (?!ones?\b)[a-z][a-z' -]*)$")
#: a sentence that only says how the object looks ("the brown one")
_THE_X_ONE = re.compile(r"^the (?:(?!ones?\b)[a-z-]+ )+ones?$")
#: a clause with a finite verb after the command: a reason ("he's blocking the tackle", "the office looks gloomy")
_REASON = re.compile(r"^(?:it|they|he|she|this|that) (?:[a-z]+ed|came out|turned out|(?:spoil|ruin|block|distract|clutter|"
                     r"dominate|cover|hide|wreck|kill)s?)\b|"
                     r"\b(?:is|are|was|were|'s|'re|'d|'ve|has|have|had|been|looks?|made|makes|can't|cannot|couldn't|don't|"
                     r"didn't|doesn't|won't|wasn't|isn't|hates?|wants?|loves?|needs?)\b")
#: what a clause after the command says of its object: a relative clause ("which is on the left"), "the one on the
#: left", "it is on the left"
_QUALIFIER_AFTER = re.compile(r"^(?:(?P<r>(?:which|that|who) .+)|the (?P<d>(?:(?!ones?\b)[a-z-]+ )+)ones?|the ones? (?P<r2>.+)|(?:it|he|she|they)(?:'s| is| are|'re) "
                              r"(?P<r3>(?:on|in|at|by|near|next to|behind|under|above|to the|in front of) .+))$")
#: "can it be blue?": the look asked of the object the clause before named
#: "can it go?": the removal of what the clause before named
_CAN_IT_GO = re.compile(r"^(?:can|could|should|would|will) (?:it|they|he|she|that|those) (?:go|disappear|vanish|be removed|"
                        r"be deleted|come out|be taken out|be taken off|come off)$")
_COULD_IT_BE = re.compile(r"^(?:can|could|should|would) (?:it|they|he|she|that|this|those|these)(?: all| both)? (?:be|become|look|"
                          r"(?:go|turn|change) back to|turn) "
                          r"(?P<n>(?!back\b|(?:done|possible|arranged|sorted|managed)$)[a-z][a-z -]*?)(?: again| instead)?$")
#: "could it say CLOSED": new wording for what the clause before named
_COULD_IT_SAY = re.compile(r"^(?:can|could|should|would) (?:it|they) (?:say|read) (?P<n>.+)$")
#: a bare removal after the clause that named the object ("the snot on his nose, pls remove", "backpacker - gone")
_BARE_REMOVAL = re.compile(r"^(?:remove|delete|erase|gone|get rid|remove (?:pls|please)|remove asap)$")
#: a clause that only greets or says what the photo is ("hi all", "this is a picture of my living room")
_CONTEXT_ONLY = re.compile(r"^(?:hi|hello|hey|hiya|thanks|thank you|this is|these are|here is|here's|it's|it is|i took|we took|"
                           r"this was|taken|shot|he|she|they|he's|she's|they're|it|its|lol|perfect|great|nice|looks good|"
                           r"awesome|cool|love it|wow|amazing)\b")


#: an earlier clause the command needs though it names nothing ("instead of the vase, place a lamp", "leave the sky,
#: but ...")
_NEEDED = re.compile(r"(?:instead of|rather than|in place of|after|before|once|if|when|where|change nothing|edit nothing|"
                     r"touch nothing|don't|do not|dont|leave|keep|not)\b")
#: a command that needs an earlier clause: "remove it", "put sprinkles on it", "give her a hat", "the one on the left"
_REFERS_BACK = re.compile(r"\b(?:it|them|him|her|that|this|those|these|there|its|their)\b|\bones?\b|"
                          r"\b(?:give|hand|show|get) her\b")


def _is_command(clause: str) -> bool:
    """True when ``clause`` asks for an edit ("can you remove it", "the bigger one should be a wolf")."""
    text = _AFTERTHOUGHT.sub("", _TRAILING_PLEASE.sub("", _POLITE.sub("", clause)))
    text = _statement(_WISH.sub(r"make \g<t> \g<n>", text))
    first, _, rest = text.partition(" ")
    if _ASKED_LOOK.match(text):  # "could the sky be blue instead of grey?"
        return True
    return bool(rest) and (first in _COMMAND_FIRST or first in _REMOVE_FIRST)  # (the removal verbs are defined with their template)


def is_instruction(text: str) -> bool:
    """True when ``text`` asks for an edit (a command, politely or not), not only names an object: what
    ``refedit segment`` must not read as a referring expression when the parser refused it."""
    return _is_command(clean_phrase(text))


#: a question that asks for a look ("could the sky be blue instead of grey", "can the stools be brass")
_ASKED_LOOK = re.compile(r"^(?:can|could|should|might|would|may) (?:the|this|that|these|those|his|her|their|my|our) [a-z][a-z' -]*? "
                         r"(?:be|become|look) [a-z]")


#: a later sentence that asks for care, not another edit ("make sure the shadow goes too", "make it look natural")
_CARE = re.compile(r"^(?:make sure|make certain|keep|leave|don't|do not|try|just|only)\b|\blook (?:natural|real|realistic|seamless|"
                   r"believable|the same)\b")


def _another_command(sentence: str) -> bool:
    """True when a sentence after the command asks for an edit of its own: "remove the cup. then make the plate blue"
    (not "make it blue", "thanks!", "make sure it looks natural")."""
    asked = _THEN.sub("", _CLAUSES.split(sentence)[-1])
    return " " in asked and _is_command(asked) and not _REFERS_BACK.search(asked) and not _CARE.search(asked)


_THEN = re.compile(r"^(?:and |also |then |and then |after that |next |plus )+")


#: a person named in an earlier sentence by who they are to the writer ("Mum loved blue", "first photo with our son")
_KIN = {"his": frozenset("dad daddy father son husband brother uncle grandad granddad grandpa grandfather grandson nephew "
                         "boyfriend fiance groom".split()),
        "her": frozenset("mum mummy mom mommy mother daughter wife sister aunt auntie nan nana nanna gran granny grandma "
                         "grandmother granddaughter niece girlfriend fiancee bride".split())}
#: "the vicar is the gentleman on the right", "uncle pete is the one in the flat cap, second from the right": who, then
#: where or how to find them
_WHO_IS_THE = re.compile(r"^(?!(?:it|this|that|there|here|he|she|they|which|what|who)\b)(?P<who>(?:[a-z'-]+ ){0,2}?[a-z'-]+)(?: is|'s| was) "
                         r"(?P<np>the (?P<head>[a-z-]+)\b.*)$")


#: "the woman on the right is my aunt", "the boy in the cap's our grandson": where the photo shows someone, then who
_IS_MY = re.compile(r"^(?P<np>the [a-z][a-z ,'-]*?) (?:is|'s|was) (?:my|our|his|her|their) [a-z]+(?: [a-z]+)?$")


def _person_named(sentence: str, pronoun: str) -> str | None:
    """Who ``pronoun`` ("his", "her") in a later sentence is, named in ``sentence``: the person a copular sentence
    describes ("the vicar is the gentleman on the right": the gentleman on the right; "the one in the flat cap,
    second from the right": the person there), else a relative the sentence names ("Mum loved blue": the mum;
    "Dad's order of service": the dad); None when it names neither."""
    if (described := _described_as(sentence)) is not None:
        return described
    if (who := _IS_MY.match(sentence)) and singular(who["np"].split()[1]) in lexicon.ANIMATE:
        return who["np"]  # "the woman on the right is my aunt": the woman on the right (the photo shows her, not "aunt")
    kin = [w for w in re.findall(r"[a-z]+", sentence) if w in _KIN[pronoun]]
    return f"the {kin[-1]}" if kin else None


def _described_as(sentence: str) -> str | None:
    """Whom a copular sentence describes ("Bella is the spaniel on the exam table": the spaniel on the exam table;
    "our tortoise is the one on the rock": the tortoise on the rock), else None."""
    if (m := _WHO_IS_THE.match(sentence)) is None:
        return None
    if m["head"] in {*lexicon.SIZE_WORDS, *lexicon.COLOURS, "same", "best", "only"} and not re.match(r"^the [a-z-]+ ones?\b", m["np"]):
        return None  # (not "it is the best photo", "the dog is the same colour"; "my cat's the grey one" is)
    who = m["who"].split()[-1]
    kind = who if (who in lexicon.ANIMATE or who in object_nouns()) and who not in _KIN["his"] | _KIN["her"] else "person"
    return re.sub(r"^the (?P<q>(?:[a-z-]+ )*?)ones?\b", lambda o: f"the {o['q']}{kind}", m["np"]).replace(",", "")


def _possessor_from(earlier: list[str], command: str) -> str | None:
    """``command`` with its "his X" / "her X" said as "the X of <whom>", whom an earlier sentence names (see
    :func:`_person_named`), when nobody is named in the command before the pronoun; else None."""
    command = _POLITE.sub("", command)  # "could you give her pigtails": to her, see _owned_by
    pronoun = next((w for w in re.findall(r"[a-z]+", command) if w in ("his", "her")), None)
    if pronoun is None or (owned := _owned_by(command, pronoun)) is None:
        return None
    before = command[: re.search(rf"\b{pronoun}\b", command).start()]  # type: ignore[union-attr]
    if any(singular(w) in lexicon.ANIMATE for w in re.findall(r"[a-z]+", before)):
        return None  # "give the boy on the left his hat back": his own
    whom = next((who for s in reversed(earlier) if (who := _person_named(s, pronoun)) is not None), None)
    if whom is None:
        return None
    return re.sub(rf"\b{pronoun} {re.escape(owned[0])}\b", f"the {owned[0]} of {whom}", command, count=1)


def _message(text: str) -> str:
    """A message of several sentences as the one that asks for the edit, with the sentences before it kept for
    what "it" or "the one" refers to and those after it ("thanks in advance!", "will tip $5", "it's too dark")
    dropped: "the photo shows three kids on a bench. give the one in the middle a red cap" -> "give the kid in the
    middle a red cap"; one sentence is :func:`_resolve_reference`'s."""
    message = text
    text = _RUN_ON.sub(r"\g<s>. ", _TAG.sub("", text))  # "my shoes are so dirty make them white again"
    sentences = [_TRAILING_PLEASE.sub("", s) for s in _SENTENCES.split(text) if s]  # "erase him please, thank you"
    sentences = [re.sub(rf",? {_AS_IT_WAS}$", "", s) for s in sentences]  # "make his tie a deep maroon, as it really was"
    if len(sentences) > 1:
        for k, sentence in enumerate(sentences):
            asked = _CLAUSES.split(sentence)[-1]
            if " " in sentence and _is_command(asked):
                refers = _REFERS_BACK.search(asked)
                later = next((m for s in sentences[k + 1 :] if (m := _IS_THE.match(s))), None)
                who = next((m for s in sentences[k + 1 :] if (m := _WHO_IS.match(s))), None)
                if k and (owner := _possessor_from(sentences[:k], sentence)) is not None:
                    text = owner  # "the vicar is the gentleman on the right. could his cassock look less creased?"
                elif refers and later:  # "could someone give her a party hat? she's the woman on the left"
                    text = f"{later['np']}, {sentence}"
                elif who and not later:  # "can someone turn the drummer into a skeleton? he's the one at the back"
                    text = _qualified(asked, who["q"])
                elif not refers and (one := next((s for s in sentences[k + 1 :] if _THE_X_ONE.match(s)), None)):
                    text = f"{asked}, {one}"  # "could you swap the teddy for a fox? the brown one"
                else:
                    text = ", ".join(sentences[: k + 1]) if refers else sentence
                if second := next((s for s in sentences[k + 1 :] if _another_command(s)), None):
                    raise OutOfScope(f"{message!r} asks for two edits; give one at a time ('{asked}', then "
                                     f"'{_THEN.sub('', _CLAUSES.split(second)[-1])}')")
                break
    return _resolve_reference(_POLITE.sub("", text))


#: verbs whose subject is what spoils the photo ("the badge ruins the vibe", "the pole blocks the view")
_CULPRIT_VERBS = frozenset("ruin spoil block obscure distract clutter dominate photobomb cover hide wreck kill".split())


def _object_of_verb(clause: str) -> str | None:
    """The object of a clause whose verb acts on it ("my grandad loved this car", "the previous owners left a broken
    swing set in the backyard"), not of a linking or progressive verb ("the rug is too bright", "two dogs are
    playing"); None when there is none."""
    doc = load_nlp()(clause)
    verb = next((t for t in doc[1:] if t.pos_ == "VERB" and t.tag_ in ("VBD", "VBZ", "VBP")
                 and t.lemma_ not in ("be", "look", "seem", "appear", "show", "contain")
                 and not noun_read_as_verb(doc, t.i)  # "the wilted rose on the left": a rose
                 and f"{doc[t.i - 1].text} {t.text}" not in lexicon.COMPOUND_NOUNS), None)  # fmt: skip ("pool float")
    if verb is None:
        return None
    rest, subject = doc[verb.i + 1 :].text, doc[: verb.i].text
    if verb.lemma_ in _CULPRIT_VERBS and _NOUN_PHRASE.match(subject):
        return subject  # "the con badge round my neck ruins the vibe": the badge
    if verb.lemma_ == "have":  # "the kid has his hood up": the hood (its state is the complaint)
        rest = re.sub(r" (?:up|down|on|off|open|shut|closed|out|undone|wrong)$", "", rest)
    if _NOUN_PHRASE.match(rest) and not _is_image(rest.split(" ", 1)[-1].split(" ")[-1]):
        return rest
    # "the dog photobombed our family pic": what the verb acts on is the picture, so the subject is meant
    return subject if _NOUN_PHRASE.match(subject) else None


def _predicate(subject: str, rest: str, clause: str) -> str | None:
    """"my grandson is the boy on the right": the boy on the right (what can be found in the photo); "my daughter is
    the one on the swing": my daughter on the swing; None for any other clause."""
    if not re.search(r" (?:is|'s|are) ", clause) or not rest.startswith("the "):
        return None
    if one := re.match(r"^the ones? (?P<r>.+)$", rest):
        return f"{subject} {one['r']}"
    return rest if _NOUN_PHRASE.match(rest) else None


#: what soils an object, which a removal takes away: "the armchair is covered in dog hair", "the girl has chocolate all
#: round her mouth", "my toddler drew on his face with marker"
_SOILED = (
    re.compile(r"^(?P<np>(?:the|my|our|his|her|their|this|that) [a-z][a-z' -]*?) (?:is|are|was|were|got|gets|has been|have been) "
               r"(?:all |completely |totally |absolutely |kind of |a bit |so )?(?:(?:covered|caked|smeared|splattered|spattered|"
               r"stained|dusted|littered|plastered|coated|splashed) (?:in|with)|full of) (?:(?:a|an|some) )?(?P<x>[a-z][a-z' -]*)$"),
    re.compile(r"^(?P<s>(?:the|my|our|his|her|their|this|that) [a-z0-9][a-z0-9' -]*?) (?:has|have|has got|'s got|got) (?:(?:a|an|some) )?"
               r"(?P<x>[a-z][a-z -]*?) (?:all )?(?:round|around|on|over|all over|across|down) (?P<np>(?:his|her|their|its|the|my) "
               r"[a-z][a-z -]*)$"),
    re.compile(r"^(?:he|she|they|it)(?:'s|'ve| has| have)(?: got)? (?:(?:a|an|some) )?(?P<x>[a-z][a-z -]*?) (?:all )?(?:round|"
               r"around|on|over|all over|across|down) (?P<np>(?:his|her|their|its|the|my) [a-z][a-z -]*)$"),
    # "the mug has a coffee ring on it": the ring on the mug
    re.compile(r"^(?P<np>(?:the|my|our|his|her|their|this|that) [a-z][a-z' -]*?) (?:has|have|has got|'s got|got) (?:(?:a|an|some) )?"
               r"(?P<x>[a-z][a-z -]*?) (?:all )?(?:on|in|over|all over|across) (?:it|them)$"),
    re.compile(r"^(?P<s>(?:my|our|his|her|their|the) [a-z0-9][a-z0-9' -]*?) (?:drew|scribbled|wrote|doodled|painted|spilled|spilt) "
               r"(?:on|all over) (?P<np>(?:his|her|their|its|the|my) [a-z][a-z -]*?) with (?:(?:a|an|some) )?(?P<x>[a-z][a-z -]*)$"),
)


#: a clause that says what someone wears or holds ("the model in the second photo is wearing sunglasses")
_WEARING = re.compile(r"^(?P<np>(?:the|my|our|his|her|their|this|that) [a-z][a-z' -]*?) (?:is|are|was|were) (?:wearing|holding|carrying) "
                      r"(?P<x>[a-z][a-z' -]*)$")


def _soiling(clause: str) -> str | None:
    """What soils the object a clause names (:data:`_SOILED`), on that object; else None."""
    for pattern in _SOILED:
        if m := pattern.match(clause):
            return f"the {m['x']} on {_of_subject(m['np'], m.groupdict().get('s'))}"
    return None


def _of_subject(phrase: str, subject: str | None) -> str:
    """"his face" said of ``subject`` ("my toddler drew on his face"): "the face of my toddler"; else ``phrase``."""
    m = re.match(r"^(?:his|her|their|its) (?P<x>.+)$", phrase)
    if m is None or not subject or re.match(r"^(?:his|her|their|its|this|that)\b", subject):
        return phrase
    return f"the {m['x']} of {subject}"


#: "the kid second from the left has his hood up", "3rd bridesmaid from the right has her eyes shut": a part of the
#: subject in a state (what a later "it" / "them" means)
_HAS_HIS = re.compile(r"^(?P<np>(?:(?:the|my|our|a|an) )?[a-z0-9][a-z0-9' -]*?) (?:has|have|'s got|has got|got) (?:his|her|their|its) "
                      r"(?P<x>[a-z][a-z-]*(?: [a-z][a-z-]*)?) (?:up|down|on|off|open|shut|closed|undone|out|in|all|[a-z]+ed)\b.*$")


#: someone who did something ("the guy on the right blinked", "the kid at the back sneezed")
_DID = re.compile(r"^(?P<np>(?:the|my|our|his|her|their|this|that) [a-z0-9][a-z0-9' -]*?)(?<! is)(?<! are)(?<! was)(?<! were)"
                  r"(?<! so)(?<! very)(?<! too)(?<! been)(?<! got)(?<! get) (?:just |totally )?[a-z]+ed$")


def _named_in(clause: str, removal: bool = False, worn: bool = False) -> str | None:
    """The object an earlier clause names ("see the lamp by the window", "there's a bag next to the towel", "the rug
    is too bright", "the photo shows three kids on a bench"), or None; for a ``removal``, what soils it ("the
    armchair is covered in dog hair": the dog hair on the armchair); when ``worn`` (a removal, or "it" / "them" in the
    command), what someone wears or holds ("the boy is wearing a hat": the hat)."""
    said = re.sub(r" (?:haha+|lol|lmao)$", "", clause.split(" but ")[-1])
    said = re.sub(r"^(?:whoever's|someone's|somebody's|some random's)\s", "the ", said)  # "whoever's phone is held up ..."
    # "the sky's a bit grim": is, not a possessive
    said = re.sub(r"^((?:the|this|that|my|our|his|her|their) [a-z]+)'s (?=(?:a|so|too|really|very|kind|pretty|quite|all|totally|"
                  r"way|just|looking|gone|got)\b)", r"\1 is ", said)
    if removal and (soil := _soiling(said)) is not None:  # (before a lead-in goes: "she's got sunscreen on her nose")
        return soil
    if (part := _HAS_HIS.match(said)) and _NOUN_PHRASE.match(f"the {_ARTICLE.sub('', part['np'])}"):
        return f"the {part['x']} of the {_ARTICLE.sub('', part['np'])}"  # "the kid ... has his hood up. can it be down?"
    if worn and (what := _WEARING.match(said)):  # "the model is wearing sunglasses, could they be removed"
        return f"the {_ARTICLE.sub('', what['x'])} of {what['np']}"
    if m := _WHICH_OF.match(said):  # "which of the boats is between the two buoys": the boat there
        return f"the {m['q']}{singular(m['n'])} {m['rest']}"
    clause = _LEAD_IN.sub("", said)
    if not _NOUN_PHRASE.match(clause) and (described := _described_as(clause)) is not None:
        return described  # "Bella is the spaniel on the exam table. Could you remove the syringe next to her?"
    if m := _EXCEPT_FOR.search(clause):  # "the photo is fine except for the kid in the green hoodie": the kid
        return m["np"]
    if m := _THERE_IS.match(clause):
        clause = f"{m['np']} {m['where']}"
    placed = _IS_REL.sub(" ", clause)  # "that blob is on the lens": the blob on the lens
    if (clause == said or re.match(r"there(?:'s| is| are) ", said)) and _BARE_TOPIC.match(placed) and not _NOUN_PHRASE.match(placed):
        # "girl in the pink dress, make her hair curly", "there's flour on my cheek", "propeller guard poking into the
        # top left corner, erase it": the girl, the flour, the propeller guard
        placed = f"the {placed}"
    clause = placed
    if (not _NOUN_PHRASE.match(clause) and (bare := re.match(r"^(?:[a-z]+(?:'s|s')? )?(?P<n>[a-z]+) (?:is|are|was|were|looks?|seems?) ",
                                                             clause)) and bare["n"] in object_nouns()):
        clause = f"the {clause}"  # "bike chain is rusty, make it look brand new", "groom's boutonniere is wilting"
    if removal and (soil := _soiling(clause)) is not None:
        return soil
    if not _NOUN_PHRASE.match(clause):
        return None
    if (did := _DID.match(clause)) and any(singular(w) in lexicon.ANIMATE for w in did["np"].split()):
        return did["np"]  # "the guy on the right blinked, can you open his eyes": the guy on the right
    if (said := _object_of_verb(clause)) is not None:  # "my mum hates the tattoo on my arm": the tattoo
        return said
    if (m := _SUBJECT_VERB.match(clause)) and (said := _predicate(m["np"], m["rest"] or "", clause)):
        return said
    if _HAS_THING.match(clause):  # "the woman (that is) carrying a baby, replace her ...": she, by what she carries
        return clause
    if m := _SUBJECT_VERB.match(clause):
        clause = m["np"]
        if _is_image(clause) and _NOUN_PHRASE.match(m["rest"] or ""):  # "the photo shows three kids": the kids
            clause = m["rest"]
        elif _is_image(clause):
            return None
    return clause


def _resolve_reference(text: str) -> str:
    """A message that names an object in one clause and edits it in the last with a pronoun, as one command:
    "see the lamp by the window? make it blue" -> "make the lamp by the window blue", "there are two cats on the
    sofa. remove the one on the left" -> "remove the cat on the left", "not that dog, the one on the right, make it
    brown" -> "make the dog on the right brown", "wrong one - i wanted the vase removed" -> its last clause; else
    ``text``."""
    if _SELECT_AND.match(text):  # "select the red car, then paint it blue" is one_edit's
        return text
    if not _NEEDED.match(text):  # "leave the sky but remove the birds" is one_edit's
        text = _BUT_THEN.sub(", ", text)  # "sunset at the pier but the seagull on the railing has to go"
    clauses = [c for c in _CLAUSES.split(text) if c]
    if len(clauses) < 2:
        return text
    *earlier, last = clauses
    if (who := _WHO_IS.match(last)) and len(earlier) == 1 and _is_command(earlier[0]):
        return _qualified(_FROM_IMAGE.sub('', earlier[0]), who['q'])  # "remove my ex from this pic, he's the one on the right"
    if len(clauses) == 2 and _is_command(clauses[0]) and (more := _QUALIFIER_AFTER.match(clauses[1])):
        if more["d"]:  # "delete the kitten on the left, the ginger one"
            return _described(clauses[0], more["d"].strip())
        return _qualified(clauses[0], more['r'] or more['r2'] or more['r3'])  # "remove the cat, which is on the left"
    if _is_command(clauses[0]) and all(_REASON.search(c) and not _is_command(c) for c in clauses[1:]):
        return clauses[0]  # "remove the referee, he's blocking the tackle": why, not what
    last = _statement(_TRAILING_PLEASE.sub("", _POLITE.sub("", last)))  # "..., can you remove it please"
    if _is_command(last) and not re.search(r"\b(?:it|its|them|their|there|him|his|her|that one|those|these)\b", last):
        # "remove the lamp, then make the wall green": an edit in each clause, not an object named for the last
        first = next((c for c in earlier if _is_command(_THEN.sub("", c))), None)
        if first is not None:
            raise OutOfScope(f"{text!r} asks for two edits; give one at a time ('{_THEN.sub('', first)}', then "
                             f"'{_THEN.sub('', last)}')")
    removal = bool(_REMOVAL_OF_IT.match(last) or _CAN_IT_GO.match(last))
    worn = removal or bool(re.search(r"\b(?:it|them)\b", last))  # "is wearing a hat, make it red": the hat
    if len(earlier) == 2 and (look := re.match(r"^the (?P<a>(?:(?!ones?\b)[a-z-]+ )+)ones?$", earlier[1])):
        # "the third balloon from the left, the green one, could it be silver?": one object, described twice
        named_once = _named_in(earlier[0], removal, worn)
        if named_once is not None:
            earlier = [_with_old_attribute(named_once, look["a"].strip())]
    names = [_named_in(c, removal, worn) for c in earlier]  # (each a spaCy parse: once per clause)
    if (could := _COULD_IT_BE.match(last)) and len(earlier) == 1 and names[0]:
        if re.fullmatch(_GONE, could["n"]):
            return f"remove {names[0]}"  # "..., could they be removed?"
        if is_attribute_phrase(could["n"]) or _named_colour(could["n"]):  # (a long name and a look split at "look")
            return f"make {names[0]} look {could['n']}"
        return f"make {names[0]} {could['n']}"  # "the pink scooter by the door, can it be blue?"
    if (say := _COULD_IT_SAY.match(last)) and len(earlier) == 1 and names[0]:
        return f"make {names[0]} say {say['n']}"  # "the poster on the noticeboard, could it say cancelled"
    if (_CAN_IT_GO.match(last) or _BARE_REMOVAL.match(last)) and len(earlier) == 1 and names[0]:
        return f"remove {names[0]}"  # "the bin next to the bench, can it go?"
    named: str | None = None  # the latest object an earlier clause named ("not that dog" names a dog too)
    for phrase in names:
        if phrase is None:
            continue
        phrase = re.sub(r"^(?:that|this|those|these|a|an|my|some)\b", "the", phrase)
        if (one := re.match(r"^the (?P<q>(?:[a-z-]+ )*?)(?P<o>ones?)\b(?P<rest>.*)$", phrase)) and named:
            phrase = _one_as(named, one["o"], one["q"], one["rest"])  # "not that dog, the one on the right"
        named = phrase
    if named is not None:
        last = re.sub(r"\b(?:that|this) one\b", "it", last)  # "make that one yellow": the one named
        last = re.sub(r"\bthem (?:both|all)\b", "them", last)  # "make them both wear raincoats"
    last = re.sub(r"^(?P<v>[a-z]+) (?P<p>it|them|that|this|those|these) (?P<t>off|out|away|up|in|down)(?: a bit| a little)?$",
                  r"\g<v> \g<t> \g<p>", last)  # "wipe it off", "clean them up a bit": the particle before the object
    m = _REFERS.match(last)
    if removal and named is not None and len(earlier) == 1 and _soiling(earlier[0]) == named:
        return f"remove {named}"  # "my uncle has frosting all over his chin, clean it up": the frosting goes
    if named is not None and (m is None or m["verb"].split()[0] not in _CLAUSE_VERBS) and _is_command(last):
        # "put a unicorn next to her", "put some sprinkles on it": the pronoun where it stands
        swapped = re.sub(r"\b(?:it|them|him)\b|\bher(?= (?:a|an|some|the)\b|$)|(?<=give )her\b", named, last, count=1)
        if swapped == last:  # "two dogs ... put a bandana on the smaller one": the smaller dog
            swapped = re.sub(r"(?<= )the (?P<q>(?:[a-z-]+ )*?)(?P<o>ones?)\b", lambda o: _one_as(named, o["o"], o["q"], ""),
                             last, count=1)
        if swapped != last:
            return swapped
    if named is None and _is_command(last) and not any(_NEEDED.match(c) for c in earlier):
        return last  # "looks good! can you make it a little brighter?": nothing named before
    if named is None or m is None or m["verb"].split()[0] not in _CLAUSE_VERBS:
        if all(re.match(r"^(?:no|nope|wrong(?: one)?|not (?:that|this|the) [a-z ]+|sorry|oops|wait)$", c) for c in earlier):
            return last  # "wrong one - i wanted the smaller vase removed"
        if (_is_command(last) and not re.match(r"^[a-z]+ (?:to|into|it|them)\b", last)  # "..., paint to yellow" needs them
                and all(_CONTEXT_ONLY.match(c) or name for c, name in zip(earlier, names))):
            return last  # "hi all, could somebody make the sky less grey", "it's a photo of a street. make the lamps ..."
        return text
    if m["o"]:
        ref = _one_as(named, m["o"], m["q"], m["rest"] or "")
    elif m["ref"] in _POSSESSIVES and (owned := _owned_by(last, m["ref"])) is not None:
        # "girl in the pink dress, make her hair curly": the hair of the girl in the pink dress; "the deer at the back,
        # make its antlers bigger": the antlers of the deer at the back
        return f"{m['verb']} the {owned[0]} of {named}{owned[1]}"
    elif m["ref"] in _POSSESSIVES[1:]:  # "his", "its", "their" own something the clause does not name
        return text
    else:
        ref = named
    return f"{m['verb']} {ref}{m['tail']}"


#: verbs that say how a thing looks, after it ("make his fur look less mangy")
_LINKING = frozenset("look looks be become get go turn stay seem appear".split())
#: the words that own what follows them in a command ("her" may be the object instead: "make her blonde")
_POSSESSIVES = ("her", "his", "its", "their")


def _owned_by(clause: str, owner: str) -> tuple[str, str] | None:
    """(what ``owner`` ("her", "his", "its", "their") owns, the words after it) in a command ("make her hair curly":
    ("hair", " curly")); None when "her" is the object ("make her blonde", "make her smile")."""
    doc = load_nlp()(clause)
    her = next((t for t in doc if t.text == owner), None)
    if her is None or her.i + 1 >= len(doc) or doc[her.i + 1].pos_ != "NOUN":
        return None
    end = her.i + 1
    while (end + 1 < len(doc) and doc[end + 1].pos_ in ("NOUN", "VERB") and doc[end + 1].text not in _LOOK_WORDS
           and doc[end + 1].text not in _LINKING):  # "party dress" (not "his fur look less mangy")
        end += 1
    if owner == "her" and doc[0].text in ("give", "hand", "get", "buy", "show", "bring", "pass", "send") and end + 1 >= len(doc):
        return None  # "give her pigtails": to her ("give her cheeks more colour": hers)
    if doc[0].text in ("make", "turn") and end + 1 >= len(doc):  # "make her smile": a look of hers
        return None
    return doc[her.i + 1 : end + 1].text, "".join(" " + t.text for t in doc[end + 1 :])


def _qualified(command: str, qualifier: str) -> str:
    """``command`` with ``qualifier`` said right after the object it picks out: "turn the drummer into a skeleton" +
    "at the back" -> "turn the drummer at the back into a skeleton"; a pronoun object becomes a person ("give her a
    hat" + "on the left" -> "give the person on the left a hat"); at the end when the object is not found."""
    bare = _TRAILING_PLEASE.sub("", _POLITE.sub("", command))
    parsed = match_templates(bare)
    target = parsed.target if parsed is not None else ""
    if target in ("him", "her", "them") and (m := re.search(rf"\b{target}\b", bare)):
        said = "the people" if target == "them" else "the person"
        return f"{bare[: m.start()]}{said} {qualifier}{bare[m.end() :]}"
    if target and (i := bare.find(target)) >= 0:
        end = i + len(target)
        return f"{bare[:end]} {qualifier}{bare[end:]}"
    return f"{command} {qualifier}"


def _described(command: str, words: str) -> str:
    """``command`` with ``words`` before the noun of the object it names: "delete the kitten on the left" + "ginger"
    -> "delete the ginger kitten on the left"; ``command`` when its object is not found."""
    bare = _TRAILING_PLEASE.sub("", _POLITE.sub("", command))
    parsed = match_templates(bare)
    target = parsed.target if parsed is not None else ""
    if not target or target not in bare or target in ("it", "him", "her", "them"):
        return command
    said = re.sub(r"^((?:the|a|an|my|his|her|their|our|this|that) )?", lambda m: f"{m[1] or 'the '}{words} ", target, count=1)
    return bare.replace(target, said, 1)


def _one_as(named: str, one: str, before: str, after: str) -> str:
    """"the one on the left" as the object ``named`` earlier ("two cats on the sofa"): "the cat on the left"."""
    try:
        head = analyse_target(re.sub(r"^(?:two|three|four|five|six|\d+) ", "the ", named)).head
    except UnclearInstruction:
        return f"the {before}{one}{after}"
    if head in ("object", "region", "image"):
        return f"the {before}{one}{after}"
    return f"the {before}{head}{'s' if one == 'ones' else ''}{after}"


#: spoken fillers ("add um a couple of seagulls", "change it to like a dark green"): not words of the edit
_FILLERS = re.compile(r"\b(?:um+|uh+|erm+|er|hmm+|actually|literally|basically)\b ?")
_LIKE_FILLER = re.compile(r"(?:(?<=\bto )|(?<=\binto ))like (?=(?:a|an|the) )")  # after the fillers go ("to um like a")


def normalise(instruction: str) -> str:
    """Lowercase, without emoji and emphasis marks, the chat around the command ("ok now, can you ...", "...,
    thanks", "lol") and the clauses that say what to keep, "that's" as "that is", degree words before a
    comparative dropped ("a bit bigger": bigger), an aside's look joined to the target ("the dog (the brown
    one)": the brown dog), counted-from-the-end and numbered ordinals ("second last", "person #2"), wishes and
    statements as commands ("i want the car to be red": make the car red; "the dog should be removed": remove
    the dog)."""
    text = as_one_message(clean_phrase(_symbols(_CONTROL.sub(" ", _ESCAPES.sub("", instruction))).replace("’", "'")))
    text = _LIKE_FILLER.sub("", clean_phrase(_FILLERS.sub("", text)))
    text = _WORD.sub(lambda w: lexicon.TYPOS.get(w[0], w[0]), text)  # "hes ruining my shot", "the drill shud be yellow"
    text = re.sub(r"(?<=[a-z]) af\b", "", text)  # "the chain is rusty af"
    text = re.sub(r" (?:lol|lmao|haha+|rofl|omg)(?= [a-z])", ".", text)  # "remove the braces from my teeth lol got them off"
    text = re.sub(r"\bclean (it|them|that|this) (?:off|away)\b", r"remove \1", text)  # "can you clean it off?"
    text = _HEDGE.sub("", _ASIDE.sub(r"\g<pre>\g<a> \g<n>", _message(_ASIDE_MID.sub(r"\g<d> \g<a> \g<n> ", text))))
    text = re.sub(r"\s*\((?![a-z ]*\bones?\b)(?=[^)]*,|[^)]* [^)]* )[^)]*\)\s*$", "", text)  # "(serious request, will tip)"
    text = _NTH_LAST.sub(r"\g<n> last", _SECOND_LAST.sub("penultimate", _NUMBER_SIGN.sub(_numbered, text)))
    if _FURTHEST_FROM.search(text):
        raise OutOfScope(f"{instruction.strip()!r} picks the object by its distance from another one, which refedit does "
                         "not measure; say where it is (e.g. 'the chair on the left') or point at it (--point X,Y)")
    text = _IN_THE_GROUP.sub("", _FROM_THE_END.sub(r"\g<o> last \g<n>", _FURTHEST_AWAY.sub(r"\g<d> \g<n>", text)))
    text = _MAKE_IT_SO.sub(r"make \g<t> \g<n>", text)
    text = _A_SHADE.sub(r"\g<pre> \g<n>", _TRAILING_PLEASE.sub("", text))  # "... a deeper red for her"
    for pattern, repl in _LEARNER:
        text = pattern.sub(repl, text)
    text = corrected(_W_WITH.sub("with ", text), keep=_as_written(instruction))  # "the tabel", "on the rigth"
    text = re.sub(r"\b(from|on|to|at) (left|right)\b", r"\1 the \2", text)  # "the 2nd bike from right"
    text = _LATER_NOTE.sub("", text)  # "delete the 3rd person from the left she is not even in our group"
    text = re.sub(r"\bwith like\b", "with", text)
    text = re.sub(r"\bmore of (?:a|an) (?=[a-z])", "", text)  # "could it look more of an ash blonde"
    text = re.sub(r"^(add|put|place|stick|pop) (.+?) on the top of (?=the |his |her |my )", r"\1 \2 on ", text)
    text = re.sub(r"\blook (?:as though|as if) (?:it|this|the (?:photo|picture)) (?:was|were) (?:taken|shot) (?:on|in|at|during) "
                  r"(?:a |an )?", "look like ", text)  # "as though it were taken on a frosty winter's morning"
    text = re.sub(r"^(?:virtually )?stage (?P<t>.+?) with (?P<n>.+)$", r"add \g<n> to \g<t>", text)  # estate agents
    text = re.sub(r"\b(the [a-z]+) (he|she|they)(?: is| are|'s|'re) (holding|wearing|carrying|using|eating|drinking|reading|riding)\b",
                  r"\1 that \2 is \3", text)  # "the controller he's holding"
    text = re.sub(r"\bthem all\b", "them", text)  # "give them all scarves" ("all of them" is analyse_target's)
    text = re.sub(r"\bin between\b", "between", text)  # "add a lamp in between the sofa and the armchair"
    text = re.sub(r"\bin front (?=the\b)", "in front of ", re.sub(r"\b(?:in )?behind of\b", "behind", text))  # learners
    text = re.sub(r"\b(?:absolutely|properly|super|extremely|totally|really|very|so) (?=[a-z]+$)", "", text)  # "absolutely massive"
    text = re.sub(r"(?<=[a-z]) (?:like|as) (?:a |an )?[a-z' -]+$", "", text) if _LOOK_THEN_LIKE.search(text) else text
    text = re.sub(r"\bin the (back|front) row\b", r"at the \1", text)  # "the tall man in the back row"
    text = re.sub(r"\bout (?:the )?(back|front)\b(?! of\b)", r"at the \1", text)  # "the old shed out the back"
    text = re.sub(r"^(?:chuck|bung|stick) (?=(?:a|an|some|another|two|three|a few|a couple of) [a-z]+.* (?:on|in|next to|"
                  r"beside|behind|above|by|near|onto|into) )", "put ", text)  # "chuck a kookaburra on the fence post"
    text = _terse(_POLITE.sub("", text))
    text = _GERUND.sub(lambda m: _GERUNDS[m["v"]] + " ", text)
    text = _CONTRACTION.sub(r"\1 is", _DEGREE.sub("", text))
    text = _statement(_WISH.sub(r"make \g<t> \g<n>", _AFTERTHOUGHT.sub("", _PURPOSE.sub("", _one_edit(text)))))
    text = _OUT_OF_PICTURE.sub(r"remove \g<t>", text)
    return _plural_into(_FROM_IMAGE.sub("", clean_phrase(_TRAILING_PLEASE.sub("", text))))


#: "make the dogs golden retrievers", "turn all three cats tigers": several things made into other things (the
#: singular's "make the dog a golden retriever" has its article); the new things are one to three words, the last a
#: plural noun
_PLURAL_INTO = re.compile(r"^(?:make|turn) (?P<t>(?:(?:all|both|all of|the|these|those|my|his|her|their|our|two|three|four|five|"
                          r"six|\d+) )+(?:[a-z-]+ )??[a-z-]+s) (?P<n>(?:[a-z-]+ ){0,2}[a-z-]+s)$")
#: plural nouns of a look, not of things ("make the leaves autumn colours")
_LOOK_PLURALS = frozenset("colours colors shades tones hues patterns stripes dots spots sparkles highlights lowlights "
                          "pastels neons metallics".split())
_NOT_IN_A_NAME = frozenset("the a an of on in at with by to into onto from for as like and or its his her their".split())


def _plural_into(text: str) -> str:
    """"make the dogs golden retrievers" as "replace the dogs with golden retrievers" (it was refused, and "make the
    cups tall glasses" gave the cups a look called "tall glasses"); else ``text``."""
    m = _PLURAL_INTO.match(text)
    if m is None:
        return text
    thing, new = m["t"].split()[-1], m["n"].split()
    if (singular(thing) == thing or singular(new[-1]) == new[-1] or new[-1] in _LOOK_PLURALS
            or _NOT_IN_A_NAME.intersection(new) or thing in lexicon.PLURALIA_TANTUM):
        return text
    return f"replace {m['t']} with {m['n']}"


def _new(phrase: str) -> str:
    """The new thing or look without its article ("a red hat": red hat; "that classic red": classic red)."""
    return _ARTICLE.sub("", re.sub(r"^(?:that|this) (?=[a-z]+ )", "", clean_phrase(phrase)))


def _is_attribute_token(tok: Any) -> bool:
    """True for a word that can be the new look of an object: an adjective, colour, material, participle
    ("striped"), or a size or comparative ("bigger", "taller", "more")."""
    word = tok.text
    if word in lexicon.SIZE_WORDS or word in lexicon.COMPARATIVES:  # "make the kite higher": a change, not a side
        return True
    if word in lexicon.SPATIAL_WORDS or word in lexicon.ORDINAL_WORDS:
        return False
    if word in _LOOK_WORDS or tok.tag_ in ("JJR", "RBR"):
        return True
    if tok.pos_ == "ADJ" and word in object_nouns() and not word.endswith(lexicon.ADJECTIVE_ENDINGS):
        return False  # an object's noun the tagger took for an adjective before a look ("the harness dusty sage")
    if tok.tag_ == "VBD" and word.endswith("ed") and tok.i > 0 and tok.doc[tok.i - 1].pos_ == "CCONJ":
        return True  # "golden and toasted": a participle joined to a look
    return tok.pos_ == "ADJ" or (tok.tag_ == "VBN" and word.endswith("ed"))


_LOOK_WORDS = lexicon.COLOURS | lexicon.MATERIALS | lexicon.SHADES | lexicon.COMPARATIVES | lexicon.STATE_ADJECTIVES


def _adjective_by_ending(tok: Any) -> bool:
    """The last word of "make the X Y" read as a look by an adjective's ending when the tagger took it for a noun
    or verb after the object ("foggy", "glittery"); never a known noun."""
    word = tok.text
    return (word not in lexicon.NOUNS_LIKE_ADJECTIVES and len(word) > 3 and word.endswith(lexicon.ADJECTIVE_ENDINGS)
            and tok.i > 0 and tok.doc[tok.i - 1].pos_ in ("NOUN", "PROPN"))  # fmt: skip


def is_attribute_phrase(phrase: str) -> bool:
    """True when ``phrase`` ("golden", "dark green", "black and white", "bigger") names an attribute, not an
    object."""
    phrase = clean_phrase(phrase)
    if not phrase or _ARTICLE.match(phrase):
        return False
    doc = load_nlp()(phrase)
    return all(_is_attribute_token(t) or (t.pos_ == "CCONJ" and 0 < t.i < len(doc) - 1)
               or (t.text in lexicon.COLOUR_PREFIXES and t.i + 1 < len(doc) and doc[t.i + 1].text in lexicon.COLOURS)
               or (t.i == 0 and len(doc) > 1 and t.tag_ == "VBD" and t.text.endswith("ed"))  # "muted terracotta"
               for t in doc)  # fmt: skip ("blush pink", "sage green": a two-word colour)


#: patterns named in two words or with a hyphen, which the tagger splits ("polka dot", "tie-dye", "leopard print")
_PATTERN_LOOK = re.compile(r" ((?:polka[ -]dots?|polka[ -]dotted|tie[ -]dyed?|(?:leopard|zebra|tiger|snake|cow|animal|floral|"
                           r"tropical) print|pin[ -]?striped?|glow[ -]in[ -]the[ -]dark))$")


def split_trailing_attribute(text: str) -> tuple[str, str] | None:
    """Split "the red car blue" into ("the red car", "blue") and "the dog bigger" into ("the dog", "bigger")
    at the trailing attribute phrase, using the part-of-speech tags of the whole phrase (fragments are
    tagged less reliably)."""
    if (look := _PATTERN_LOOK.search(text)) and look.start() > 0:  # "make his tie polka dot", "the backpack tie-dye"
        return text[: look.start()], look[1]
    doc = load_nlp()(text)
    cut = len(doc)
    if cut > 1 and not _is_attribute_token(doc[-1]) and _adjective_by_ending(doc[-1]):
        cut -= 1  # "the dog wet", "the sky stormy"
    while cut > 1 and (
        _is_attribute_token(doc[cut - 1]) or (doc[cut - 1].pos_ == "CCONJ" and cut < len(doc) and cut - 2 >= 0)
    ):
        cut -= 1
    while cut < len(doc) and (doc[cut].pos_ == "CCONJ" or doc[cut - 1].pos_ == "ADP"
                              or (doc[cut - 1].pos_ == "DET" and (doc[cut].pos_ in ("NOUN", "PROPN")
                                                                   or doc[cut].text in object_nouns()))):
        cut += 1  # "the girl in red blue": the attribute after a preposition (or the noun after an article: "the bottle
        # behind the glass transparent") is the target's
    while 1 < cut < len(doc) and doc[cut - 1].text == "-" and not doc[cut - 2].whitespace_:
        cut -= 2  # "off-white", "polka-dotted": one word the tokenizer split at its hyphen
    if (4 < cut < len(doc) and doc[cut].text in lexicon.COLOURS and doc[cut - 2].text == "-"
            and not doc[cut - 3].whitespace_ and not doc[cut - 2].whitespace_ and (doc[cut - 4].pos_ not in ("ADJ", "DET") or doc[cut - 4].text in lexicon.SPATIAL_WORDS)
            and f"{doc[cut - 3].text}-{doc[cut - 1].text}" not in lexicon.WEARABLES):  # not "the red t-shirt blue"
        cut -= 3  # "fire-engine red", "sky-blue": a hyphenated shade before its colour
    if (2 < cut < len(doc) and doc[cut - 1].text in lexicon.COLOUR_PREFIXES and doc[cut].text in lexicon.COLOURS
            and doc[cut - 2].pos_ in ("NOUN", "PROPN") and doc[cut - 2].text not in lexicon.ORDINAL_WORDS):  # fmt: skip
        cut -= 1  # "the car royal blue", "the dress forest green": a two-word colour (not "the sky pink", nor "the
        # penultimate bottle blue", whose ordinal the tagger calls a noun)
    while cut < len(doc) - 1 and not any((t.pos_ in ("NOUN", "PROPN", "PRON", "NUM") or t.text in object_nouns())
                                         and not _is_attribute_token(t)
                                         for t in doc[:cut]):  # fmt: skip
        cut += 1  # "the smallest square red", "the tablecloth gingham" (adjectives to the tagger): the target keeps a noun
    if 2 < cut < len(doc) and doc[cut - 1].lower_ in ("a", "an"):
        cut -= 1  # "the sky a proper blue": the article is the look's
    if (2 < cut < len(doc) and doc[cut].text in lexicon.COLOURS and doc[cut - 1].pos_ in ("NOUN", "PROPN")
            and doc[cut - 1].text not in known_words() and doc[cut - 1].text not in object_nouns()
            and (doc[cut - 2].pos_ in ("NOUN", "PROPN") or doc[cut - 2].text in lexicon.POSITION_WORDS)):  # fmt: skip
        cut -= 1  # "the drill on the left dewalt yellow": a brand's colour (a name no dictionary has, after the object)
    if (cut + 1 < len(doc) and doc[cut].text in lexicon.MATERIALS and doc[cut].text in object_nouns()
            and (doc[cut - 1].pos_ == "DET" or doc[cut - 1].text in lexicon.SPATIAL_WORDS)):  # fmt: skip
        cut += 1  # "the wine in the left glass white": the glass is the object there
    if 0 < cut < len(doc) - 1 and f"{doc[cut - 1].text} {singular(doc[cut].text)}" in lexicon.COMPOUND_NOUNS:
        cut += 1  # "the wine glass metallic": a material word that ends a compound noun is the object's, not the look
    if cut >= len(doc) or cut == 0:
        return None
    return doc[:cut].text, doc[cut:].text


def _is_image(phrase: str) -> bool:
    """The photo itself: "it", "the whole scene", or a photo noun after what it shows ("the kitchen pic", "the whole
    product shot", "the couple's first kiss shot"); not "the picture frame" or "the photo on the wall"."""
    rest, _ = strip_determiners(clean_phrase(phrase))
    if rest in lexicon.IMAGE_WORDS:
        return True
    words = rest.split()
    return (1 < len(words) <= 4 and words[-1] in lexicon.PHOTO_NOUNS and rest not in lexicon.COMPOUND_NOUNS
            and not set(words) & _PLACE_OR_OWNER)


_PLACE_OR_OWNER = frozenset("on in at of with by from under above behind near framed printed hanging".split())


def _is_image_noun(phrase: str) -> bool:
    """The image named by a noun ("the photo", "the whole scene"), not by a pronoun ("it" is also an object)."""
    rest, _ = strip_determiners(clean_phrase(phrase))
    return rest in lexicon.IMAGE_WORDS and rest not in lexicon.PRONOUNS


#: what the whole scene is made of, not an object in it ("make the light warmer", "brighten the whole interior")
_SCENE_WORDS = frozenset("light lighting interior exterior atmosphere mood colours colors tones".split()) | {
    "white balance", "whole interior", "whole exterior", "whole room", "entire interior", "colour grade", "color grade"}


def _is_scene(target: str) -> bool:
    """The scene's light, colours or its whole interior/exterior: the whole photo for a change of look."""
    rest = strip_determiners(clean_phrase(target))[0]
    return re.sub(rf" (?:in|of) (?:the|this|my|our) (?:{lexicon.PHOTO_PLACE_WORDS})$", "", rest) in _SCENE_WORDS


def _global_or_none(target: str, new: str) -> Parsed | None:
    """A whole-image edit when ``target`` is the picture ("make the photo warmer", "make it night") or the scene's
    light or whole interior with a look or a time of day ("make the light warmer", "make the light look like late
    afternoon sun"), an object's look when it is a pronoun and the look a colour or material ("make it blue"), else
    None."""
    if _is_scene(target) and (is_attribute_phrase(_new(new)) or set(_new(new).split()) & _STYLE_NOUNS):
        return Parsed("global", "", _new(new))
    if not _is_image(target):
        return None
    if _object_look(target, new):
        return Parsed("modify", clean_phrase(target), _new(new))
    if _object_thing(target, new):  # "turn it back into a cat": the object becomes another
        return Parsed("replace", clean_phrase(target), _new(new))
    new = _new(new)
    if not new or _vague(new):
        raise UnclearInstruction(f"{new or 'the instruction'!r} does not say what to change; name an object")
    return Parsed("global", "", new)


def _object_look(target: str, new: str) -> bool:
    """"make it blue", "make it wooden": a colour or material is the look of an object ("it"), not of the whole
    picture ("make it night", "make it brighter", "make it black and white" stay whole-image edits)."""
    rest, _ = strip_determiners(clean_phrase(target))
    words = _new(new).split()
    looks = [w for w in words if w not in ("more", "less", "slightly")]  # "make it less orange"
    if rest == "it" and looks and all(w in _SIZE_CHANGES for w in looks):  # "make it a little smaller": the object
        return True
    return (rest in lexicon.PRONOUNS and bool(looks) and all(w in _OBJECT_LOOKS for w in looks)
            and " ".join(words) not in ("black and white", "black white"))  # fmt: skip


_SIZE_CHANGES = frozenset("bigger smaller larger taller shorter wider narrower thinner fatter longer".split())


_OBJECT_LOOKS = lexicon.COLOURS | lexicon.MATERIALS | lexicon.SHADES
#: what "turn it into a ..." makes of the whole picture, not of an object
_STYLE_NOUNS = frozenset("painting sketch drawing watercolour watercolor cartoon illustration comic anime photo photograph "
                         "picture postcard poster render scene landscape masterpiece mosaic collage version oil pencil "
                         "charcoal vector pixel art style look mood movie film poster still day night morning evening "
                         "sunset sunrise winter summer spring autumn fall afternoon dusk dawn twilight midnight noon "
                         "season storm snowstorm blizzard heatwave downpour daytime nighttime".split())


def _object_thing(target: str, new: str) -> bool:
    """"turn it into a cat", "change it to a dog": "it" (not "the picture") becomes a new object, not a new style."""
    rest, _ = strip_determiners(clean_phrase(target))
    words = clean_phrase(new).split()
    return (rest == "it" and len(words) >= 2 and words[0] in ("a", "an") and not set(words) & _STYLE_NOUNS
            and not set(words) & _CLAUSE_WORDS  # "make it look like a storm is rolling in": a scene
            and not is_attribute_phrase(" ".join(words[1:])))  # fmt: skip


_CLAUSE_WORDS = frozenset("is are was were has have had just".split())


def _replace_or_modify(target: str, new: str) -> Parsed:
    """A look ("red", "a deep berry shade", "a soft sage green colour") is a modification, a thing a replacement."""
    if m := _NAMED_SHADE.match(_new(new)):
        return Parsed("modify", target, m["n"])
    if re.fullmatch(r"#[0-9a-f]{3,8}", _new(new)):  # "set the cushion to #2E4A62": a colour
        return Parsed("modify", target, _new(new))
    look = re.sub(r"\s*#[0-9a-f]{3,8}$", "", clean_phrase(new))  # "pure white #ffffff": the colour and its code
    if re.fullmatch(r"[a-z]+-(?:[a-z]+ed|[a-z]+en)", look):  # "moss-covered", "sun-bleached", "hand-woven": a look
        return Parsed("modify", target, _new(new))
    first = re.split(r",? (?:with|but|and|like) ", look, maxsplit=1)[0]  # "blue with a few fluffy clouds": a look and its detail
    return Parsed("modify" if look and (is_attribute_phrase(look) or (first != look and is_attribute_phrase(first))
                                        or _a_shade(first)) else "replace", target, _new(new))


def _a_shade(phrase: str) -> bool:
    """"a warmer cream", "a neutral mid-grey", "a proper blue": a colour named with an article and a word before it
    (a look; "an orange" alone is the fruit)."""
    m = re.fullmatch(r"(?:a|an) (?P<p>(?:[a-z-]+ )*(?P<c>[a-z-]+))", phrase)
    if m is None or (m["p"] == m["c"] and "-" not in m["c"]):
        return False
    colour = m["c"].split("-")[-1]
    return (colour in lexicon.COLOURS or colour in lexicon.SHADES) and is_attribute_phrase(m["p"])


#: a look named as a shade or colour ("deep berry shade", "dark walnut colour")
_NAMED_SHADE = re.compile(r"^(?P<n>[a-z][a-z -]*?) (?:shades?|colou?rs?|tones?|hues?|finish)$")


# Each template: (regex over the normalised instruction, builder(match) -> Parsed | None).
Builder = Callable[[re.Match[str]], "Parsed | None"]
_T: list[tuple[re.Pattern[str], Builder]] = []


def template(pattern: str) -> Callable[[Builder], Builder]:
    """Register ``pattern`` with the decorated builder (stackable: one builder may serve several)."""

    def register(fn: Builder) -> Builder:
        _T.append((re.compile(pattern), fn))
        return fn

    return register


_DEFINITE = r"(?:the|this|that|these|those)"
_NOT_A_RELATION = "".join(rf"(?<!\b{w})" for w in sorted(lexicon.RELATION_BEFORE_TO | lexicon.PARTICIPLES_BEFORE_TO))


_SIDE_OF = r"(?:the )?(?:very |far )?(?:left|right)(?:[- ]hand)?(?: side)? of "


def _sep(words: str) -> str:
    """The words (``"with|for|by"``) between a target and its new phrase, never splitting a relation of the
    target: not the "to" of "next to" or of "to the right of", not the "in" of "in front of", not before a
    definite phrase that another such word follows ("replace the man with the hat with a robot", "turn the
    cup to the left of the plate into a vase")."""
    return rf"{_NOT_A_RELATION} (?:{words}) (?!{_DEFINITE} .*? (?:{words}) )(?!{_SIDE_OF}|front of |back of )"


_REMOVE_VERBS = (r"remove|delete|erase|eliminate|get rid of|take out|take away|take off|cut out|clear away|clear|wipe out|"
                 r"rub out|edit out|crop out|throw away|discard|ditch|scrap|lose|airbrush out|photoshop out|scrub out|"
                 r"blot out|paint over|vanish|zap|nuke|clean up|clear up|tidy up|tidy away|knock out|chuck out|chuck|toss out|"
                 r"toss|bin|axe|unclip|unhook|detach|unplug|unpin|get shot of|clean off|clean away|wipe off|wipe away|scrub off|scrub away|"
                 r"scrub|wipe|scoop out|scoop up|scoop|take down|pick up|hide|clone out|clone away|clone|heal out|heal away|spot heal|"
                 r"redact|black out|pull up|pull out|dig up|weed out|mow down|peel off|peel away|pick off|pluck out|yeet|steam out|iron out|"
                 r"blend in|blend away|blend out")  # fmt: skip
_REMOVE_FIRST = frozenset(w.split()[0] for w in _REMOVE_VERBS.split("|"))
#: a removal verb first ("remove ...", "get rid of ..."); with a pronoun as its object ("remove it", "get rid of them",
#: "get it out", "wipe them off")
_REMOVAL = re.compile(rf"^(?:{_REMOVE_VERBS}) ")
_REMOVAL_OF_IT = re.compile(rf"^(?:{_REMOVE_VERBS}) (?:it|them|that|this)\b|"
                            rf"^(?:{_REMOVE_VERBS.replace(' ', ' (?:it|them) ')}|[a-z]+ (?:it|them) (?:out|off|away))$")
_DISTANCE = frozenset("furthest farthest further farther far away across apart opposite distant".split())
#: "remove the logo from the shirt": the thing removed is on the other one (not "from the left": a position)
_FROM_OWNER = re.compile(r"^(?P<t>.+?) (?P<p>from|off|off of|out of) (?P<o>(?:the|his|her|their|its|my|this|that) (?P<w>[a-z-]+).*)$")


def _compound_after(phrase: str) -> bool:
    """True when a determiner's next two words are a known compound ("the rear window", "the front door")."""
    words = phrase.split()
    return len(words) >= 3 and f"{words[1]} {singular(words[2])}" in lexicon.COMPOUND_NOUNS


def _removed(target: str) -> str:
    """"the glasses from the man" -> "the glasses on the man"; positions ("from the left") and distances ("the
    car furthest from the camera", "the tree across from the house") stay."""
    m = _FROM_OWNER.match(target)
    if m is None:
        return target
    if m["w"] in lexicon.POSITION_WORDS and m["w"] not in lexicon.ORDINAL_WORDS:  # "from the left" stays; "from the bottom of the candle" (a part of it) and
        part = re.match(r"(?:the|his|her|their|its|my) [a-z-]+ of ", m["o"])  # "off the rear window" (an object) not
        return f"{m['t']} on {m['o']}" if part or _compound_after(m["o"]) else target
    if _is_image(m["o"]) or m["t"].split()[-1] in _DISTANCE:
        return target
    return f"{m['t']} {'in' if m['p'] == 'out of' else 'on'} {m['o']}"  # "the leaves out of the pool": in it


@template(r"^(?:add|put|sprinkle) (?:some |a bit of |a little )?(?P<n>snow|falling snow|snowfall|rain|falling rain|fog|mist|haze|"
          r"film grain|grain|light leaks?|lens flare|sun ?rays|sunbeams|god rays)(?: (?:everywhere|all over|to everything|"
          r"over everything|to the whole (?:photo|picture|image|scene|thing)))?$")
def _weather(m: re.Match[str]) -> Parsed:
    """"add snow everywhere", "add some fog": weather or film effects over the whole picture."""
    return Parsed("global", "", m["n"])


@template(r"^(?:a |an )?(?P<n>[a-z][a-z -]*?) version(?: of (?:the|this|my|our) [a-z -]+)?$")
def _version(m: re.Match[str]) -> Parsed | None:
    """"twilight version of the front elevation": the whole picture in that look."""
    return _global_or_none("the picture", m["n"])


@template(r"^(?:convert|switch|change)(?: (?:this|everything|the whole thing|it all))? (?:to|into) (?P<n>(?!(?:a|an|the)\b)[a-z][a-z -]*)$")
def _convert_to(m: re.Match[str]) -> Parsed | None:
    """"convert to sepia", "switch this to blue hour": the whole picture in that look."""
    return _global_or_none("the picture", m["n"])


@template(rf"^(?:{_REMOVE_VERBS}) (?P<t>.+?),? and (?:then )?(?:replace|swap) (?:it|them) (?:with|for|by) (?P<n>.+)$")
def _remove_and_replace(m: re.Match[str]) -> Parsed:
    """"remove the cat and replace it with a dog": one replacement."""
    return Parsed("replace", m["t"], _new(m["n"]))


#: what "clear the X" empties rather than removes ("clear the table": what is on it goes; "clear the fog": the fog goes)
_CLEARED_SURFACES = ("table|desk|counter|countertop|worktop|shelf|shelves|bench|floor|bed|sofa|couch|tray|windowsill|"
                     "driveway|path|pavement|sidewalk|road|lawn|porch|bar|sideboard|dresser|nightstand|coffee table|"
                     "kitchen table|dining table|kitchen counter|patio|deck|stairs|steps")


@template(rf"^clear (?:off |away )?(?P<t>(?:the|this|that|my|our|his|her|their) (?:[a-z]+ )?(?:{_CLEARED_SURFACES}))"
          r"(?: of (?:all )?(?:the )?(?P<x>[a-z][a-z -]*?))?(?: off)?$")
def _clear_surface(m: re.Match[str]) -> Parsed:
    """"clear the table": everything on it removed, not the table; "clear the desk of papers": the papers on it."""
    return Parsed("remove", f"the {m['x']} on {m['t']}" if m["x"] else f"all the things on {m['t']}", None)


@template(r"^(?:clean up|clear up|tidy up) (?P<t>.+)$")
def _tidy(m: re.Match[str]) -> Parsed | None:
    """"clean up the litter", "clean up the scribbles on the whiteboard": a mess removed (None: the removal
    templates take it); "tidy up the desk": the desk made tidy; "clean up the photo": the whole picture."""
    if _is_image_noun(m["t"]):
        return Parsed("global", "", "clean and tidy")
    own = re.split(r" (?:on|in|from|off|under|around|at|near|by) ", m["t"])[0]
    if re.match(r"(?:his|her|their|my|your|our|its) (?:[a-z]+ )?(?:hair|beard|fur|mane|fringe|bangs|eyebrows)$", own):
        return Parsed("modify", m["t"], "tidier")  # "tidy up her hair": someone's own hair is made neat, not removed
    if any(singular(w) in _MESS for w in own.split()):
        return None
    return Parsed("modify", m["t"], "clean and tidy")


#: what "clean up" removes ("clean up the litter on the floor"); anything else it tidies ("clean up the desk")
_MESS = frozenset("litter trash rubbish garbage mess clutter scribble stain dust debris leaf junk graffiti dirt mud "
                  "wrinkle crease lint fluff hair scratch scuff blemish "
                  "crumb spill smudge mark fingerprint paper wrapper bottle can cup toy".split())


#: verbs of taking something away whose particle may come after the object ("wipe the smudge off", "scrub the
#: graffiti away", "brush the crumbs off"; not "blow the candles out": the flame goes, not the candles)
_PARTICLE_LAST = frozenset("take cut edit crop rub wipe photoshop airbrush brush scrape peel pick knock shake wash rinse "
                           "sweep dust hose scrub scoop clone clear chuck toss".split())


@template(rf"^(?P<v>{_REMOVE_VERBS}) (?P<t>.+?)(?: (?P<p>off|out|away))?$")
def _remove(m: re.Match[str]) -> Parsed:
    """"remove the cat"; "wipe the smudge off": the particle is the verb's, not the object's ("remove the sign
    that says keep out" keeps its words)."""
    target = m["t"] if m["p"] is None or m["v"] in _PARTICLE_LAST else f"{m['t']} {m['p']}"
    return Parsed("remove", _removed(target), None)


@template(r"^(?:make|let|have) (?P<t>.+?) (?:disappear|vanish|go away)$")
@template(rf"^(?:{'|'.join(sorted(_PARTICLE_LAST))}) (?P<t>.+?) (?:out|away|off)$")  # (the removal verbs among them: _remove)
@template(r"^(?:take|pull|get) (?P<t>.+? off (?:of )?(?:the|his|her|their|its|my) .+)$")
@template(r"^(?:wipe|brush|scrape|peel|pick|knock|shake|wash|clean|rinse|sweep|dust|hose) "
          r"(?P<t>.+? (?:off|from|out of) (?:of )?(?:the|his|her|their|its|my|this|that) .+)$")
def _disappear(m: re.Match[str]) -> Parsed:
    return Parsed("remove", _removed(m["t"]), None)


@template(r"^(?:take|get|pull|lift|fish) (?P<t>.+?) out of (?P<o>(?:the|his|her|their|its|my|our|a) .+)$")
def _out_of(m: re.Match[str]) -> Parsed | None:
    """"take the toy out of the baby's hand", "take the dishes out of the sink": what is in the other thing goes."""
    return None if _is_image(m["o"]) else Parsed("remove", f"{m['t']} in {m['o']}", None)


@template(
    r"^(?:change|make|turn|set|modify|alter|shift) (?:the )?(?:colou?r|material|texture|style|finish|hue|tone|shade) of "
    rf"(?P<t>.+?){_sep('to|into|in')}(?P<n>.+)$"
)
def _change_colour(m: re.Match[str]) -> Parsed:
    return _global_or_none(m["t"], m["n"]) or Parsed("modify", m["t"], _new(m["n"]))


#: the old look after "instead of": its determiner and what the writer thinks of it are not part of it ("instead of
#: that ugly green": green)
_OLD_LOOK = r"(?:(?:the|that|this|those|these|its|his|her|their|a|an) )?(?:(?:ugly|horrible|awful|hideous|nasty|gross|boring|" \
            r"current|existing|weird|horrid|dreadful|terrible) )?"


@template(rf"^(?P<rest>(?:make|turn|paint|repaint|colou?r|recolou?r|dye|change) .+?),? (?:instead of|rather than|not) "
          rf"{_OLD_LOOK}(?P<old>[a-z-]+(?: [a-z-]+){{0,2}})$")
def _instead_of_look(m: re.Match[str]) -> Parsed | None:
    """"make the car red instead of blue", "make the stage lights magenta instead of that ugly green": the blue car
    becomes red (the old look names the target)."""
    if (parsed := match_templates(m["rest"])) is None or parsed.action != "modify":
        return None
    if not is_attribute_phrase(m["old"]):  # "instead of that washed out teal": the new look; the old names nothing
        return parsed if len(m["old"].split()) > 1 else None
    return Parsed("modify", f"{parsed.target} from {m['old']}", parsed.replacement)


@template(r"^(?:swap|switch|bring|put) in (?P<n>.+?) (?:for|in place of|instead of) (?P<t>.+)$")
def _swap_in(m: re.Match[str]) -> Parsed:
    """"swap in a red bicycle for the scooter": the scooter is replaced."""
    return Parsed("replace", m["t"], _new(m["n"]))


@template(r"^substitute (?P<a>.+?) for (?P<b>.+)$")
def _substitute(m: re.Match[str]) -> Parsed:
    """"substitute Y for X" puts Y in X's place; "substitute the X for a Y" (definite first) is read the
    other way, as people also write it."""
    if re.match(_DEFINITE + " ", m["a"]) and not re.match(_DEFINITE + " ", m["b"]):
        return Parsed("replace", m["a"], _new(m["b"]))
    return Parsed("replace", m["b"], _new(m["a"]))


@template(
    rf"^(?:replace|swap(?: out)?|substitute|exchange|switch(?: out)?|trade) (?P<t>.+?){_sep('with|for|by')}(?P<n>.+)$"
)
def _replace(m: re.Match[str]) -> Parsed:
    if (again := _SAID_OF_TARGET.match(m["n"])) and m[0].startswith("replace "):  # "replace the pizza with mushrooms
        return Parsed("replace", f"{m['t']} with {again['d']}", _new(again["n"]))  # on it with a salad": on the pizza
    return Parsed("replace", m["t"], _new(m["n"]))


#: what a first "with" said of the target, "on it" showing it, before the "with" of the replacement
_SAID_OF_TARGET = re.compile(r"^(?P<d>[a-z][a-z -]*? (?:all )?(?:on|in|over|inside|around) (?:it|them)) with (?P<n>.+)$")


_PUT = r"(?:put|place|add|draw|insert|use|have|show)"


@template(rf"^instead of (?P<t>.+?),? (?:{_PUT}|let there be|there should be) (?P<n>.+)$")
@template(rf"^{_PUT} (?P<n>.+?) instead of (?P<t>.+)$")
def _instead(m: re.Match[str]) -> Parsed:
    """"instead of the dog put a cat", "put a teapot instead of the kettle": a replacement."""
    return Parsed("replace", m["t"], _new(m["n"]))


#: the words between an addition and where it goes -> its placement (None: on or in the target itself)
_PLACE_WORDS = {
    "in front of": "in-front-of", "on top of": "above", "above": "above", "over": "above",
    "below": "below", "under": "below", "underneath": "below", "beneath": "below", "behind": "behind",
    "next to": "next-to", "close to": "next-to", "beside": "next-to", "near": "next-to", "alongside": "next-to",
    "between": "between", "to": None, "on": None, "onto": None, "in": None, "into": None, "inside": None,
    "around": None, "round": None, "along": None, "across": None, "against": "next-to", "by": "next-to", "outside": "next-to",
    "facing": "in-front-of",
    "at the edge of": "next-to", "on the edge of": "next-to", "at the foot of": "next-to", "at the side of": "next-to",
    "at side of": "next-to", "by the side of": "next-to", "on the side of": "next-to",
}  # fmt: skip
#: how the new thing is posed where it goes ("add a cat sitting on the sofa"): not part of what it is
_POSE = re.compile(r" (?:sitting|standing|lying|laying|sleeping|resting|perched|hanging|floating|flying|leaning|"
                   r"parked|placed|walking|running|swimming|hiding|lying down|sitting down|curled up|asleep|sat|napping|dozing|grazing|"
                   r"playing|peeking|peeking out|sunbathing|perching|waiting|looking|relaxing|basking|falling|circling|soaring|drifting|"
                   r"rising|hovering|gliding|dangling|swinging|blowing|raining|fluttering)$")
_PLACE = re.compile(r" (" + "|".join(sorted(_PLACE_WORDS, key=len, reverse=True)) + r") ")
_SIDE_PLACE = re.compile(rf"^{_SIDE_OF.replace('(?:left|right)', '(?P<side>left|right)')}(?P<t>.+)$")
_NAMED = re.compile(rf"^(?:{_DEFINITE}|his|her|their|its|him|them|it|both|every|each|all)\b|^[a-z]+'s? ")


@template(r"^(?:add|put|place|draw|insert|hang|mount|stick|set up|photoshop|paste|edit in|bring in|pop|throw in|slap|"
          r"plonk|add in|drop in|sneak in|include|park|plant|moor|dock|spawn|stick in) (?P<rest>.+)$")
def _add(m: re.Match[str]) -> Parsed | None:
    """"add a hat to the dog" (on the dog), "add a cup to the left of the book", "put a lamp next to the
    sofa" (placed beside it). The new object ends at the first such word that a named target follows."""
    splits = [(m["rest"][: w.start()], w[1], m["rest"][w.end() :]) for w in _PLACE.finditer(m["rest"])]
    if not splits:
        return None
    new, word, target = next((s for s in splits if _NAMED.match(s[2])), splits[0])
    placement = _PLACE_WORDS[word]
    if word in ("to", "on", "at") and (side := _SIDE_PLACE.match(target)) and not _is_image(side["t"]):
        placement, target = f"{side['side']}-of", side["t"]
    new = _POSE.sub("", re.sub(r" (?:right|just|directly|somewhere)$", "", _new(new)))
    if placement is None and _is_image_noun(target):  # "add snow to the whole image": the scene changes
        return _global_or_none(target, new)
    return Parsed("add", target, new, placement)


@template(r"^fill (?:up )?(?P<t>.+?) (?:up |halfway |half way |to the (?:top|brim) |completely |all the way )?with (?P<n>.+)$")
def _fill(m: re.Match[str]) -> Parsed:
    """"fill the glass with orange juice": an addition in the glass."""
    return Parsed("add", m["t"], _new(m["n"]))


@template(r"^give (?P<rest>.+)$")
def _give(m: re.Match[str]) -> Parsed | None:
    """"give X a Y": X ends before the article of Y, else after a pronoun ("give them hats"), else at its
    first noun (the dative)."""
    if split := re.match(r"^(?P<t>.+?) (?P<n>(?:a|an|some|more|less) .+)$", m["rest"]):
        if _is_image_noun(split["t"]) or (_is_image(split["t"]) and (_LOOK_NOUN.search(split["n"]) or
                                                                      re.search(r"\b(?:more|less)\b", split["n"]))):
            return _global_or_none(split["t"], split["n"])  # "give the photo a vintage look"
        if _FINISH.search(split["n"]):  # "give the sofa a velvet finish": a new look of the sofa
            return Parsed("modify", split["t"], _new(split["n"]))
        if split["n"].split()[-1] in lexicon.COLOURS and re.match(r"(?:a|an|more|less) ", split["n"]) and (
                is_attribute_phrase(_new(split["n"])) or is_attribute_phrase(re.sub(r"^(?:a |an )?(?:more|less) ", "", split["n"]))):
            return Parsed("modify", split["t"], _new(split["n"]))  # "give my wig a more vibrant pink": a colour
        return Parsed("add", split["t"], _new(split["n"]))
    if split := re.match(r"^(?P<t>him|her|them|it) (?P<n>.+)$", m["rest"]):
        return Parsed("add", split["t"], _new(split["n"]))
    doc = load_nlp()(m["rest"])
    for tok in doc[:-1]:
        if tok.pos_ not in ("NOUN", "PROPN") or tok.text in lexicon.COLOURS or doc[tok.i + 1].pos_ == "NOUN":
            continue
        end = tok.i + 1
        if doc[end].pos_ == "ADP":  # "give the kids on the bench balloons": the dative ends after its relation
            end = next((t.i + 1 for t in doc[end + 1 : -1] if t.pos_ in ("NOUN", "PROPN")), len(doc))
        if end < len(doc):
            return Parsed("add", doc[:end].text, _new(doc[end:].text))
    return None


#: the last word of a look given to an object ("a velvet finish", "a wood texture", "a fresh coat of paint")
_FINISH = re.compile(r" (?:finish|texture|coat of paint|paint job|makeover|look|sheen|glaze|patina|glow|tint|hue|cast)$")
#: the last word of a new look, not a new object ("a vintage look", "a film grain effect")
_LOOK_NOUN = re.compile(r" (?:look|style|feel|vibe|filter|effect|tone|glow|finish|makeover|aesthetic|treatment)$")


_WEAR_VERBS = r"wear|hold|carry|put on|have|don|sport|be wearing|be holding|be carrying"


@template(rf"^(?:make|let|have|get) (?P<t>.+?) (?:to )?(?:{_WEAR_VERBS}) (?P<n>.+)$")
@template(rf"^dress (?:up )?(?P<t>.+?){_sep('in')}(?P<n>.+)$")
def _wear(m: re.Match[str]) -> Parsed:
    """"make the boy wear a crown", "let the woman hold an umbrella", "dress the man in a suit": an addition
    on the wearer; "make him wear red" adds red clothes."""
    new = _new(m["n"])
    if is_attribute_phrase(m["n"]):
        new = f"{new} clothes"
    return _global_or_none(m["t"], m["n"]) or Parsed("add", m["t"], new)


@template(r"^(?!what if )(?P<t>.+?) (?:is|are|was|were|should be|must be) (?:made|built|carved) (?:of|from|out of) "
          r"(?P<n>.+)$")
@template(r"^(?:make|build|rebuild|craft|redo) (?P<t>.+?) (?:out of|from) (?P<n>(?!(?:the|a|an|this|that) )[a-z].*)$")
def _made_of(m: re.Match[str]) -> Parsed:
    """"the table is made of glass", "make the chair out of ice": a new material."""
    return _global_or_none(m["t"], m["n"]) or Parsed("modify", m["t"], _new(m["n"]))


@template(r"^what if (?P<t>.+?) (?:is|was|were|are|became|looked) (?P<made>made (?:of|from|out of) )?(?P<n>.+)$")
def _what_if(m: re.Match[str]) -> Parsed:
    """"what if the car was red", "what if the frog was made of jade" (a new look), "what if the dog were a wolf"
    (a new thing)."""
    if m["made"]:
        return _global_or_none(m["t"], m["n"]) or Parsed("modify", m["t"], _new(m["n"]))
    return _global_or_none(m["t"], m["n"]) or _replace_or_modify(m["t"], m["n"])


@template(r"^(?:can|could|should|shall) (?P<t>.+?) (?P<v>be turned into|become|be|look like|look) (?P<n>.+)$")
@template(r"^(?P<t>.+?) (?:should|needs? to|has to|have to|must) (?P<v>look like|be turned into|become|be|look) (?P<n>.+)$")
def _should(m: re.Match[str]) -> Parsed:
    """"could the sky be a sunset", "the car should be red"; "could her hair look freshly set": how it looks, a
    modification whatever the words."""
    if m["v"] == "look" and not re.match(r"(?:a|an|the) ", m["n"]):
        return _global_or_none(m["t"], m["n"]) or Parsed("modify", m["t"], _new(m["n"]))
    return _global_or_none(m["t"], m["n"]) or _replace_or_modify(m["t"], m["n"])


@template(r"^(?:make|render|have|get) (?P<t>.+?) (?P<v>look|turn|face|gaze|stare|glance) (?P<n>(?:at|towards?|into|away|up|down|"
          r"left|right|back|ahead|straight|forward|over|out|sideways|to the (?:left|right|side|camera))\b.*)$")
def _look_towards(m: re.Match[str]) -> Parsed:
    """"make the cat look at the camera", "have her face left": a pose, which way the object looks ("looking at the
    camera"), not a look ("an at the camera cat")."""
    verb = {"look": "looking", "turn": "turned", "face": "facing", "gaze": "gazing", "stare": "staring", "glance": "glancing"}
    return Parsed("modify", m["t"], f"{verb[m['v']]} {_new(m['n'])}")


@template(r"^(?:make|render) (?P<t>.+?) look(?: like)? (?P<n>.+)$")
def _look_like(m: re.Match[str]) -> Parsed:
    new = _IT_IS.sub("", m["n"])  # "look like it's snowing": snowing; "like it is made of marble": marble
    return _global_or_none(m["t"], new) or Parsed("modify", m["t"], _new(new))


_IT_IS = re.compile(r"^(?:it|they|he|she|this|that)(?: is|'s| are|'re| was| were) (?:made (?:of|out of|from) )?")


@template(rf"^(?:change|turn|transform|convert|make|morph|set|switch|shape|reshape|sculpt|mould|mold|carve) "
          rf"(?P<t>.+?){_sep('into|to|in to')}(?P<n>.+)$")
def _into(m: re.Match[str]) -> Parsed:
    return _global_or_none(m["t"], m["n"]) or _replace_or_modify(m["t"], m["n"])


@template(rf"^(?:change|switch|trade) (?P<t>.+?){_sep('with|for')}(?P<n>.+)$")
def _change_with(m: re.Match[str]) -> Parsed:
    """"change the cat with a dog": a replacement."""
    return Parsed("replace", m["t"], _new(m["n"]))


@template(rf"^(?:recolou?r|colou?r|paint|repaint|dye|tint|reupholster|upholster|recover|refinish|resurface|retile|stain|"
          rf"varnish|lacquer) (?P<t>.+?){_sep('to|into|in')}(?P<n>.+)$")
def _recolour_to(m: re.Match[str]) -> Parsed | None:
    """"recolour the door to green", "paint the fence in a muted terracotta", "reupholster the armchair in emerald
    velvet", "recolour the logo to #FF5733" (the new phrase must be a look)."""
    new = _new(m["n"])
    if _HEX.match(new):
        return Parsed("modify", m["t"], new.upper())
    return Parsed("modify", m["t"], new) if is_attribute_phrase(new) else None


_HEX = re.compile(r"^#(?:[0-9a-f]{3}|[0-9a-f]{6})$")


@template(r"^(?:make|paint|colou?r|turn|dye|stain) (?P<t>.+) (?:a|an) (?P<n>[a-z][a-z -]*?) (?:colou?r|shade|tone|hue)$")
def _a_colour(m: re.Match[str]) -> Parsed | None:
    """"make the chair a dark walnut colour", "paint the door a nice sage shade": the look named as a colour."""
    return None if _is_image(m["t"]) else Parsed("modify", m["t"], m["n"])


@template(r"^(?:make|turn) (?P<t>.+) (?P<n>(?:a|an) [a-z][a-z -]*)$")
def _make_a(m: re.Match[str]) -> Parsed | None:
    """"make the man with a hat a pirate": the new thing is the last "a ..." phrase; "make the dog wearing a
    collar white" ends with a look, not a thing (left to :func:`_make_attr`)."""
    if _is_image(m["t"]) or not strip_determiners(m["t"])[0]:
        return None
    if _a_shade(m["n"]):  # "make the background a neutral mid-grey": a look
        return Parsed("modify", m["t"], _new(m["n"]))
    words = m["n"].split()
    if len(words) > 2 and (words[-1] in (_LOOK_WORDS - lexicon.SHADES) | frozenset(lexicon.SIZE_WORDS) or words[-1] in _ACTS):
        # (a shade word ends no look: "a rattan pendant light" is a lamp)
        return None
    return Parsed("replace", m["t"], _new(m["n"]))


_REGION_FIRST = re.compile(
    r"^(?P<t>(?:the )?(?:very |far )?(?P<w>" + "|".join(lexicon.REGION_WORDS) + r")(?:[- ]hand)?(?P<part> (?:"
    + "|".join(sorted(lexicon.REGION_PARTS)) + r"))?(?: of (?:the |this )?(?:image|photo|picture|scene))?) (?P<n>(?!of ).+)$"
)


def _region_change(rest: str) -> Parsed | None:
    """"the right side snowy", "the top darker": a region of the image and its change (the tagger often
    misses adjectives such as "snowy" after a noun); not "the bottom drawer red"."""
    m = _REGION_FIRST.match(rest)
    if m and (m["part"] or m["w"] in ("background", "foreground") or is_attribute_phrase(m["n"])):
        return Parsed("modify", m["t"], _new(m["n"]))
    return None


@template(r"^(?:make|turn|recolou?r|colou?r|paint|repaint|dye|tint|render|get) (?P<rest>.+)$")
def _make_attr(m: re.Match[str]) -> Parsed | None:
    """"make the red car blue", "make the right side snowy" (a region: what follows is the change)."""
    words = m["rest"].split()
    if words and _is_image(words[0]):
        return _global_or_none(words[0], " ".join(words[1:]))
    if region := _region_change(m["rest"]):
        return region
    split, detail = split_trailing_attribute(m["rest"]), ""
    if split is None and (with_ := _WITH_DETAIL.match(m["rest"])):  # "the barn red with white trim"
        split, detail = split_trailing_attribute(with_["main"]), f" {with_['w']}"
    if split is None and (one := re.match(r"^(?P<r>.+) ones?$", m["rest"])):  # "the third square a bright orange one"
        split = split_trailing_attribute(one["r"])
    if split is None:
        return None
    target, new = split
    return _global_or_none(target, new + detail) or Parsed("modify", target, _new(new) + detail)


#: a look, then a detail of it ("red with white trim", "blue with a few fluffy clouds")
_WITH_DETAIL = re.compile(r"^(?P<main>.+?) (?P<w>with (?:a |an |some |a few )?[a-z][a-z -]*)$")


#: what a verb does to a thing -> how it then looks ("roll up his sleeves": rolled up, "open her eyes": open)
_STATES = {"roll up": "rolled up", "roll down": "rolled down", "tuck in": "tucked in", "untuck": "untucked", "open": "open",
           "close": "closed", "shut": "closed", "unbutton": "unbuttoned", "button up": "buttoned up", "button": "buttoned",
           "zip up": "zipped up", "unzip": "unzipped", "straighten": "straight", "comb": "combed", "curl": "curled",
           "fold": "folded", "unfold": "unfolded", "untangle": "untangled", "iron": "ironed", "fix": "fixed",
           "repair": "repaired", "mend": "mended", "light": "lit", "switch on": "switched on", "turn on": "switched on",
           "switch off": "switched off", "turn off": "switched off", "extinguish": "extinguished", "melt": "melted",
           "freeze": "frozen", "wet": "wet", "dry": "dry", "crack": "cracked", "break": "broken", "smash": "smashed",
           "light up": "lit up", "shut off": "switched off", "smooth down": "smoothed down", "smooth": "smooth",
           "flatten": "flat", "tidy": "tidy"}  # fmt: skip
_STATE_VERB = re.compile(r"^(?P<v>" + "|".join(sorted(_STATES, key=len, reverse=True)) + r") (?P<t>.+?)(?P<p> up| in| on| off| down)?$")


@template(r"^(?:make|put|get|have) (?P<t>(?:the|his|her|their|its|my|our) .+?) (?P<n>up|down|open|closed|shut|undone|done up|zipped up|"
          r"unzipped|buttoned up|unbuttoned)$")
def _in_state(m: re.Match[str]) -> Parsed:
    """"make his hood down", "get her eyes open": the thing in that state."""
    return Parsed("modify", m["t"], m["n"])


@template(r"^(?:cut|trim|crop|shorten) (?P<t>(?:his|her|their|its|the|my) .+?) (?:to|into) (?P<n>(?:a |an )?[a-z][a-z -]*"
          r"(?:length|bob|cut|style|crop|fade|short|long))$")
def _cut_to(m: re.Match[str]) -> Parsed:
    """"cut her hair to shoulder length", "trim his beard into a goatee style": the same thing, a new cut."""
    return Parsed("modify", m["t"], _new(m["n"]))


@template(r"^(?:make|set|change) (?P<t>.+? (?:number|price|date|score|time|year|age|total|amount)\b.*?) (?:to |say |read )?"
          r"(?P<n>\$?\d[\d.,:]*%?)$")
def _number(m: re.Match[str]) -> Parsed:
    """"make the number on his back 23", "set the price to $14": new figures on the same thing."""
    return Parsed("modify", m["t"], m["n"])


@template(r"^(?:make|cut|turn) (?P<t>.+?) (?P<n>[a-z]+-length)$")
def _length(m: re.Match[str]) -> Parsed:
    """"make her dress floor-length": a new length of the same thing."""
    return Parsed("modify", m["t"], m["n"])


@template(r"^(?P<v>switch|turn|light|shut) (?P<t>.+?) (?P<p>on|off|up)$")
def _switch(m: re.Match[str]) -> Parsed | None:
    """"switch the headlights on", "turn the lamp off": the same thing, on or off."""
    state = _STATES.get(f"{m['v']} {m['p']}")
    return None if state is None or _is_image(m["t"]) else Parsed("modify", m["t"], state)


@template(_STATE_VERB.pattern)
def _state(m: re.Match[str]) -> Parsed | None:
    """"roll up his sleeves", "tuck the shirt in", "open her eyes", "turn the lamp on": the same thing in a new state."""
    verb = m["v"] + (m["p"] or "") if m["p"] and m["v"] + (m["p"] or "") in _STATES else m["v"]
    if _is_image(m["t"]):
        return None
    return Parsed("modify", m["t"], _STATES[verb])


#: what people ask a person or animal to do -> how it then looks ("make the girl smile": smiling)
_ACTS = {"smile": "smiling", "laugh": "laughing", "cry": "crying", "frown": "frowning", "wink": "winking",
         "yawn": "yawning", "sleep": "sleeping", "sing": "singing", "dance": "dancing", "jump": "jumping",
         "sit": "sitting", "stand": "standing", "run": "running", "glow": "glowing", "shine": "shining",
         "sparkle": "sparkling", "light up": "lit up", "look happy": "happy", "look sad": "sad",
         "roar": "roaring", "growl": "growling", "bark": "barking", "howl": "howling", "wave": "waving",
         "blush": "blushing", "shout": "shouting", "scream": "screaming", "look angry": "angry", "look surprised": "surprised", "look older": "older", "look younger": "younger"}  # fmt: skip


@template(r"^(?:make|let|have|get) (?P<t>.+?) (?:to )?(?P<v>" + "|".join(sorted(_ACTS, key=len, reverse=True)) + r")$")
def _act(m: re.Match[str]) -> Parsed:
    return _global_or_none(m["t"], _ACTS[m["v"]]) or Parsed("modify", m["t"], _ACTS[m["v"]])


@template(r"^(?:make|turn) (?P<t>him|her|them|they) (?P<n>.+)$")
def _make_pronoun(m: re.Match[str]) -> Parsed | None:
    """"make them zebras", "make her a pirate": the people or things the image settles; not "make her dress red"
    (her dress), left to :func:`_make_attr`."""
    if m["t"] == "her" and not re.match(r"(?:a|an|some) ", m["n"]) and split_trailing_attribute(f"her {m['n']}"):
        return None
    return _replace_or_modify(m["t"], m["n"])


@template(r"^(?P<v>" + "|".join(lexicon.LOOK_VERBS) + r") (?P<t>.+)$")
def _look_verb(m: re.Match[str]) -> Parsed:
    """"blur the background", "darken the top half", "brighten the image": a change of look."""
    change = lexicon.LOOK_VERBS[m["v"]]
    if (_is_image(m["t"]) or _is_scene(m["t"])
            or (m["v"].startswith("colo") and _PHOTO_NOUN.search(m["t"]))):  # "colorize this old photo of ..."
        return Parsed("global", "", change)
    return Parsed("modify", m["t"], change)


_PHOTO_NOUN = re.compile(rf"^(?:the|this|my|our|that) (?:[a-z]+ ){{0,2}}(?:{lexicon.PHOTO_NOUN_WORDS})\b")


#: a property of the look turned up or down -> the change
_DIALS = {"brightness": ("brighter", "darker"), "exposure": ("brighter", "darker"), "contrast": ("higher contrast",
          "lower contrast"), "saturation": ("more saturated", "less saturated"), "warmth": ("warmer", "cooler"),
          "sharpness": ("sharper", "softer"), "vibrance": ("more vibrant", "less vibrant"), "size": ("bigger", "smaller")}  # fmt: skip


@template(r"^(?P<v>increase|boost|raise|up|add more|add|turn up|crank up|decrease|reduce|lower|lessen|turn down|tone "
          r"down) (?:the )?(?P<d>" + "|".join(_DIALS) + r")(?: (?:of|on|in) (?P<t>.+))?$")
def _dial(m: re.Match[str]) -> Parsed:
    """"increase the brightness", "reduce the saturation of the sky": a change of look."""
    up = m["v"] in ("increase", "boost", "raise", "up", "add more", "add", "turn up", "crank up")
    change = _DIALS[m["d"]][0 if up else 1]
    if m["t"] is None or _is_image(m["t"]):
        return Parsed("global", "", change)
    return Parsed("modify", m["t"], change)


_ATTRIBUTE_NOUN = "|".join(sorted(lexicon.ATTRIBUTE_NOUNS))
_NOUN_OF = re.compile(rf"^(?:(?:the|its|their|his|her) )?(?:{_ATTRIBUTE_NOUN}) (?:of|on) (?P<t>.+)$")
_NOUN_AFTER = re.compile(rf"^(?P<t>.+?)(?:'s|')? (?:{_ATTRIBUTE_NOUN})(?P<rest>(?: .+)?)$")
_FROM_OLD = re.compile(r"^(?P<t>.+) from (?P<old>[a-z-]+(?: [a-z-]+)?|\$?\d[\d.,:]*%?)$")
#: a figure ("$12", "23", "3:30"): a price or number changes from one to another
_AMOUNT = re.compile(r"^\$?\d[\d.,:]*%?$")


def _object_of_attribute(phrase: str) -> str | None:
    """The object whose property a phrase names: "the shirt colour" / "the colour of the shirt" -> "the
    shirt", "the hair colour of the girl" -> "the hair of the girl"; None when it names no property."""
    if m := _NOUN_OF.match(phrase):
        return m["t"]
    if (m := _NOUN_AFTER.match(phrase)) and strip_determiners(m["t"])[0]:
        return m["t"] + m["rest"]
    return None


def _with_old_attribute(phrase: str, old: str) -> str:
    """"the car on the left" + "red" -> "the red car on the left", "the groom's tie" + "black" -> "the groom's black
    tie" (the old attribute joins the target, after its determiner or owner)."""
    rest, _ = strip_determiners(phrase)
    if (fewer := one_of(rest)) != rest:  # "the taller of the two lamps" -> "the taller lamp"
        phrase, rest = f"the {fewer}", fewer
    if m := re.match(r"^(?:(?:my|our|your|his|her|their|its) |[a-z -]+?(?:'s|s') )", rest):
        rest = rest[m.end() :]
    return f"{phrase[: len(phrase) - len(rest)]}{old} {rest}"


_NEW_NOT_OLD = re.compile(rf"^(?P<n>[a-z][a-z -]*?),? (?:instead of|rather than|not) {_OLD_LOOK}(?P<old>[a-z][a-z' -]*)$")


def _instead_of_old(parsed: Parsed) -> Parsed:
    """"could the lamp be brass instead of silver", "be our brand teal instead of gold": the silver lamp made brass
    (as "make the car red instead of blue"); "be clear blue instead of full of rain clouds": the sky made clear blue
    (an old state that is no look names nothing)."""
    m = _NEW_NOT_OLD.match(parsed.replacement or "") if parsed.action in ("modify", "replace") else None
    if m is None or not (is_attribute_phrase(m["n"]) or _named_colour(m["n"]) or m["old"] in lexicon.COLOURS):
        return parsed  # (instead of a colour, the new one is a look too: "a deep aubergine instead of grey")
    if not is_attribute_phrase(m["old"]):
        return Parsed("modify", parsed.target, m["n"], parsed.placement)
    return Parsed("modify", f"{parsed.target} from {m['old']}", m["n"], parsed.placement)


def _named_colour(phrase: str) -> bool:
    """"brand teal", "british racing green", "duck egg blue": up to three words ending in a colour (a colour's name,
    whatever the words before it)."""
    words = phrase.split()
    return 0 < len(words) <= 3 and words[-1].split("-")[-1] in lexicon.COLOURS


def attribute_change(parsed: Parsed) -> Parsed:
    """Rewrite a change of an object's property ("change the shirt colour to red") as a modification of the
    object itself; an old attribute ("change the wall from white to green") joins the target."""
    if parsed.action not in ("modify", "replace"):
        return parsed
    target, action = clean_phrase(parsed.target), parsed.action
    old = None
    if (m := _FROM_OLD.match(target)) and (is_attribute_phrase(m["old"]) or _AMOUNT.match(m["old"])):
        target, old = m["t"], m["old"]
    if (obj := _object_of_attribute(target)) is not None:
        target, action = obj, "modify"
    if old is not None:
        target = _with_old_attribute(target, old)
    return Parsed(action, target, parsed.replacement, parsed.placement)


_ONE = re.compile(r"^(?:(?:a|an|some) )?(?P<look>[a-z][a-z -]*) ones?$")
#: "a new one", "different ones": the kind of object the target is, another of it (see :func:`attribute_of_one`)
_NEW_ONE = re.compile(r"^(?:(?:a|an|some) )?(?:(?P<look>new|other|another|different) )?(?:one|(?P<ones>ones))$")
_NEW_ONE_WORD = {"other": "different", "another": "different"}


def attribute_of_one(parsed: Parsed) -> Parsed:
    """"turn the red car into a blue one", "replace the plastic chairs with wooden ones", "swap the sesame bun for a
    brioche one": the same kind of object with a new look, a modification."""
    m = _ONE.match(parsed.replacement or "") if parsed.action == "replace" else None
    if m is None or m["look"] in ("other", "another", "new", "different", "same"):
        return parsed
    return Parsed("modify", parsed.target, m["look"], parsed.placement)


def match_templates(text: str) -> Parsed | None:
    for pattern, build in _T:
        if (m := pattern.match(text)) and (parsed := build(m)) is not None:
            return parsed
    return None


def _target(parsed: Parsed, another: bool = False) -> tuple[str, Target, str | None]:
    """(action, target, placement): "add a lamp between the sofa and the chair" targets the space between
    them (a region with a ``between`` relation), the new object going on it; "add another chair next to the one
    on the left" (``another``) targets a chair."""
    if parsed.action == "global":
        return "global", GLOBAL_TARGET, None
    if parsed.placement == "between" and (space := between_target(parsed.target)) is not None:
        return parsed.action, space, None
    target = analyse_target(parsed.target)
    if another and parsed.action == "add" and target.pronoun and re.match(r"(?:[a-z-]+ )*ones?\b", target.expression):
        # "add another chair next to the one on the left": the one is a chair too
        head = singular(parsed.replacement.split()[-1]) if parsed.replacement else ""
        if head and head not in lexicon.VAGUE_WORDS:
            target = replace(target, head=head, pronoun=None, all=target.expression.split()[-1] == "ones" or target.all)
    return parsed.action, target, parsed.placement


#: "select the red car and paint it blue": the selection is the edit's object
_SELECT_AND = re.compile(r"^(?:select|pick|choose|find|take|grab|mask|highlight) (?P<t>.+?)(?:,? and(?: then)?|,? then) (?P<v>[a-z]+(?: rid of| out)?) "
                         r"(?:it|them|that|those|him|her)(?P<rest>(?: .+)?)$")
#: "remove the cat and put a dog there": a replacement
_REMOVE_AND_PUT = re.compile(rf"^(?:{_REMOVE_VERBS}|take|get|pull) (?P<t>.+?),? and (?:then )?(?:put|place|add|draw|insert|have) (?P<n>.+?)"
                             r"(?: (?:there|in its place|in their place|where (?:it|they) (?:was|were)|in the same (?:place|spot)))?(?: instead)?$")
#: "don't touch the dog, just remove the cat", "leave the sky but remove the birds": what to keep, then the edit
_EDIT_VERB = "|".join(sorted(set(COMMANDS) - {"fill", "dress", "render"})) + "|get rid of|take out|stick|hang|spawn|pop|fix|straighten"
_KEEP_FIRST = re.compile(rf"^(?:(?:don't|do not|dont) (?:touch|change|edit|move|remove)|leave|keep) (?P<k>[^,]+?)(?: alone| as it is| as is| "
                         rf"untouched| the same)?(?:,| but| and)(?: but| and| just| only)* (?P<c>(?:{_EDIT_VERB}) .+)$|"
                         r"^(?:change|edit|touch) nothing (?:but|except|other than) (?P<t>[^,]+),? (?P<c3>.+)$")
#: two edits in one message ("remove the dog and make the sky blue"): a command, "and" or "then", another command
_SECOND_COMMAND = re.compile(r"^(?P<a>[a-z].+?)(?:,? and then|,? and also|,? also|,? plus|,? then|,? and|,|;) (?P<b>(?:" + _EDIT_VERB + r") (?:the|a|an|it|them|his|her|their|its|this|that|these|those|all|every|some|my|our|your|everyone's|everybody's|everyone|everybody|everything)\b.*)$")


#: "make half of the balloons green": a share of a group, which the photo cannot tell apart
_SOME_OF = re.compile(r"\b(half|some|most|a few|a couple|several|a third|a quarter) of (?:the|these|those|my|our) (?:[a-z-]+ )*?"
                      r"[a-z]+s\b")
#: "make the pasta taste less salty", "make it smell nice"
_SENSES = re.compile(r"^(?:make|let) .+? (?:taste|smell|sound)s? (?:like |more |less |nicer|better|good|bad|[a-z]+er\b)|"
                     r"^(?:make|let|change) .*\b(?:voice|voices|accent|music|song|noise)\b.* (?:deeper|higher|lower|louder|quieter|"
                     r"softer|clearer|slower|faster)\b")  # "make my character's voice deeper"
#: "make the waterfall move like a gif", "animate the flag"
_MOTION = re.compile(r"\b(?:animate|animated|animation|gifs?|cinemagraph|move like|make (?:it|them|the [a-z ]+?) move$)\b")
#: "make it look like the photo was taken from above", "change the angle"
_VIEWPOINT = re.compile(r"\b(?:taken|shot|seen|viewed|photographed) from (?:above|below|the side|behind|the air|a (?:different|"
                        r"higher|lower) (?:angle|height|side)|another angle)\b|\b(?:change|different|another|new) (?:the )?(?:camera "
                        r")?(?:angle|perspective|viewpoint|point of view|vantage point)\b")
#: "replace the cat with a dog and the dog with a cat": a second object and its new look after the first's
_GAPPED = re.compile(r"^(?P<v>replace|swap|switch|exchange|trade|change|turn|make) (?P<a>.+?) (?P<p>with|for|into|to) (?P<n>.+?),? and "
                     r"(?P<b>(?:the|his|her|their|its|my|our) [a-z][a-z' -]*?) (?P=p) (?P<m>[a-z].*)$")
#: "swap the cat and the dog": two objects trading places
_SWAP_TWO = re.compile(r"^(?:swap|switch|exchange|trade)(?: (?:the )?(?:places|positions|spots) of)? (?P<a>(?:the|his|her|their|my|our) "
                       r"[a-z][a-z' -]*?) (?:and|with) (?P<b>(?:the|his|her|their|my|our) (?:(?!\bfor\b)[a-z' -])*?)(?: around| over| "
                       r"round)?$")  # (not "swap the book with the blue cover for a tablet": one book, described)
#: "make the grass greener and the sky bluer": two things, each with its own look
_TWO_LOOKS = re.compile(r"^(?P<v>make|paint|colou?r|turn) (?P<a>(?:the|his|her|their|its|my) [a-z -]+?)(?:,? and|,) (?P<b>(?:the|his|"
                        r"her|their|its|my) [a-z -]+)$")


#: a target picked by what it is not: "the cat that is not on the sofa", "the car which isn't red", "the cat not on the
#: sofa" (not "the float that I can't stand": the clause says nothing of the object)
_NOT_WHICH = re.compile(r"\b(?:that|which|who)(?:'s| (?:is|are|was|were|does|do|did|has|have))?(?: not|n't| never| no "
                        r"longer)\b|\bnot (?:on|in|at|under|near|by|beside|behind|inside|wearing|holding|with)\b")
#: a new look said by what it is not: "make the dog not brown" (the target cut before the look ends with the negation),
#: "make the sky no longer grey"
_NOT_LOOK = re.compile(r"\b(?:not|never|no)$")
_NOT_FIRST = re.compile(r"(?:not|never|no longer)\b")
#: what "replace X with ..." removes X for
_NOTHING = frozenset({"nothing", "nothing at all", "empty space", "blank space", "thin air"})


def refuse_negation(instruction: str, target: str, replacement: str | None = None) -> None:
    """:class:`UnclearInstruction` when ``target`` (the words naming the object) or ``replacement`` says what the
    object is not: a plan has no "not", and dropping it edits the opposite ("remove the cat that is not on the sofa"
    removed the cat on the sofa, "make the dog not brown" made it brown)."""
    if _NOT_LOOK.search(target) or (replacement and _NOT_FIRST.match(replacement)):
        raise OutOfScope(f"{instruction.strip()!r} says what the object should not be; say what it should "
                         "become (e.g. 'make the dog black')")
    if _NOT_WHICH.search(target):
        raise OutOfScope(f"{instruction.strip()!r} picks the object by what it is not; name it by what it is "
                         "or where it is (e.g. 'the cat on the floor')")


def _one_edit(text: str) -> str:
    """``text`` as one edit: "select X and paint it blue" paints X, "remove X and put Y there" replaces X with Y,
    "don't touch X, just remove Y" / "leave X but remove Y" removes Y; :class:`UnclearInstruction` for two edits
    in one message, "except" and "every other" (refedit edits one referred object: name what to edit)."""
    if m := _SELECT_AND.match(text):
        return f"{m['v']} {m['t']}{m['rest'] or ''}"
    if m := _REMOVE_AND_PUT.match(text):  # "take the painting off the wall and put a mirror there": on the wall
        return f"replace {_removed(re.sub(r' (?:out|away|off)$', '', m['t']))} with {m['n']}"
    if m := _KEEP_FIRST.match(text):
        if m["c3"]:  # "change nothing except the lamp colour, make it gold"
            return _resolve_reference(f"{m['t']}, {m['c3']}")
        # "don't touch the kids, just get rid of the ball next to them": them is the kids
        return re.sub(r"\b(?P<w>to|of|by|near|behind|beside|from|under|above|with) (?:them|him|her|it)$",
                      lambda r: f"{r['w']} {m['k']}", m["c"])
    if re.search(r"\b(?:except|apart from|other than|but not)\b|\b(?:everything|everyone|everybody|anything|all) but\b|"
                 r"\bbut (?:(?:leave|keep|don't touch|do not touch|dont touch|not|without) (?:its|his|her|their)\b|not)\b", text):
        raise OutOfScope(f"{text!r} names what to leave out; refedit edits the objects you name: name the ones "
                         "to edit, one at a time (e.g. 'remove the blue car')")
    if re.search(r"\bevery other\b|\bevery second\b", text):
        raise OutOfScope(f"{text!r} asks for every other one; name the objects to edit")
    if m := _GAPPED.match(text):
        raise OutOfScope(f"{text!r} asks for two edits; give one at a time ('{m['v']} {m['a']} {m['p']} {m['n']}', then "
                         f"'{m['v']} {m['b']} {m['p']} {m['m']}')")
    if m := _SWAP_TWO.match(text):
        raise OutOfScope(f"{text!r} swaps two objects; refedit edits one object where it is: say what it becomes "
                         f"(e.g. 'replace {m['a']} with a ...')")
    if (m := _TWO_LOOKS.match(text)) and all(split_trailing_attribute(p) for p in (m["a"], m["b"])):
        raise OutOfScope(f"{text!r} asks for two edits; give one at a time ('{m['v']} {m['a']}', then "
                         f"'{m['v']} {m['b']}')")
    if ((m := _SECOND_COMMAND.match(text)) and _is_command(m["a"])
            and (not re.search(r"\b(?:it|them|there)\b", m["b"])  # "paint it blue" after a selection is the same edit
                 or (m["b"].split()[0] in ("add", "put", "place", "stick", "hang", "spawn", "pop")
                     and m["a"].split()[0] not in _REMOVE_FIRST)
                 # "get rid of the sepia and make it black and white": what is removed is given no new look
                 or (_REMOVAL.match(m["a"]) and re.match(r"^(?:make|paint|turn|colou?r) (?:it|them) ", m["b"])))):
        # "swap the cat for a rabbit and put a carrot next to it": a second thing added
        raise OutOfScope(f"{text!r} asks for two edits; give one at a time ('{m['a']}', then '{m['b']}')")
    if m := _SOME_OF.search(text):
        raise OutOfScope(f"{text!r} asks for {m[1]} of them; name the ones to edit (e.g. 'the two on the left') "
                         "or edit all of them")
    if _SENSES.search(text):
        raise OutOfScope(f"{text!r} asks for a taste, smell or sound; refedit changes how things look")
    if _MOTION.search(text):
        raise OutOfScope(f"{text!r} asks for motion; refedit edits a still photo")
    if _VIEWPOINT.search(text):
        raise OutOfScope(f"{text!r} asks for another viewpoint; refedit edits the photo as it was taken")
    return text


def _vague(look: str) -> bool:
    """True for a look no one change gives ("more expensive", "look better", "go viral")."""
    words = [w for w in look.split() if w not in ("more", "less", "look", "go", "much", "even", "way", "a", "bit", "little", "and")]
    return bool(words) and all(w in lexicon.VAGUE_QUALITIES for w in words)


_ANOTHER = re.compile(r"^(?:add|put|place|draw|insert) (?:another|one more|a second) ")
#: words that start a qualifier: an "and" after one joins the qualifier's objects ("the vase between the car and the
#: table", "the man with the hat and the scarf"), not two targets
_QUALIFIER_WORDS = frozenset("with between on in at by near behind under above of from next beside among like to for over "
                             "along around against inside outside below beneath across holding wearing carrying that which "
                             "who where".split())
#: "the cat and the dog", "the left cup and the right cup", "the left cup and right cup": two objects named as one target
_TWO_OBJECTS = re.compile(r"^(?:both )?(?P<a>(?:(?:the|a|an|his|her|their|its|my|our) )?[a-z][a-z'-]*(?: [a-z][a-z'-]*)*?) and "
                          r"(?P<b>(?P<det>(?:the|a|an|his|her|their|its|my|our) )?[a-z][a-z'-]*(?: [a-z][a-z'-]*)*)$")


#: "the sofa red, the chair" (of "make the sofa red, the chair blue"): a second object after a comma; not an aside
#: that says which one ("the bike, the red one")
_COMMA_OBJECT = re.compile(r"^(?P<a>[a-z].+?), (?P<b>(?:the|a|an|his|her|their|its|my|our) (?!(?:[a-z-]+ )*ones?\b)[a-z].*)$")


def two_objects(phrase: str) -> tuple[str, str] | None:
    """The two objects of a target phrase that names two ("the cat and the dog", "the cup + the plate", "the man
    and woman": two kinds of person or animal; a second object without its own article otherwise only when it
    repeats the first's noun: "the left cup and right cup"), else ``None`` ("the black and white cat", "salt and
    pepper shakers", "the vase between the car and the table")."""
    phrase = re.sub(r"\s*(?:\+|&)\s*", " and ", phrase)
    if (c := _COMMA_OBJECT.match(phrase)) and " and " not in c["a"]:
        return c["a"], c["b"]
    m = _TWO_OBJECTS.match(phrase)
    if m is None or _QUALIFIER_WORDS.intersection(m["a"].split()):
        return None
    a, b = m["a"], m["b"]
    beings = [singular(_ARTICLE.sub("", w)) for w in (a, b)]
    if not m["det"] and all(w in lexicon.ANIMATE for w in beings) and beings[0] != beings[1]:
        det = _ARTICLE.match(a)
        return a, f"{det[0] if det else ''}{b}"  # "the man and woman", "the cat and dog"
    if not m["det"] and b.split()[-1] != a.split()[-1]:
        return None
    if is_attribute_phrase(_ARTICLE.sub("", a)):  # "the red and the blue cup" reads as two looks of one noun
        return None
    return a, b


def _matched(text: str) -> Parsed | None:
    """The template ``text`` matches, or that of its command verb's spelling fixed ("remvoe the cat")."""
    parsed = match_templates(text)
    if parsed is None and (fixed := corrected_command(text)) is not None:
        parsed = match_templates(fixed)
    return parsed


#: verbs that give an object a new look, and verbs that attach a new thing to an object, for :func:`_by_phrases`
_NEW_LOOK_VERBS = frozenset("make paint repaint colour color recolour recolor dye tint render shift tone".split())
_ATTACH_VERBS = frozenset("clip attach fasten tie hang drape wrap pin stick slip sit perch lay rest prop lean "
                          "stand float".split())
#: prepositions that place a new thing by an object, as the add template reads them
_ATTACH_PREPS = {"onto": "on", "on": "on", "to": "on", "around": "on", "round": "on", "over": "on", "across": "on", "in": "in",
                 "into": "in", "from": "on", "under": "under", "beside": "next to", "behind": "behind", "above": "above"}


def _by_phrases(text: str) -> Parsed | None:
    """When no template matches, the command's shape read from its phrases (spaCy's noun chunks): a look verb, the
    object's phrase (its noun chunk and the prepositional phrases after it that name other objects) and the rest as
    the new look ("make the night sky full of stars", "make the leaves on the oak tree autumn colours", "recolour the
    sofa to Pantone 18-1438 Marsala"); an attaching verb, the new thing and the object it goes on ("clip a leash onto
    the puppy's collar", "add steam rising from the coffee"). ``None`` when the text has another shape."""
    verb, _, rest = text.partition(" ")
    if not rest:
        return None
    doc = load_nlp()(rest)
    chunks = [c for c in doc.noun_chunks if c.root.pos_ in ("NOUN", "PROPN")]
    if not chunks or chunks[0].start != 0:
        return None

    def through_of(end: int) -> int:  # "a pair of fuzzy dice": the chunk goes on over its "of" phrase
        while end + 1 < len(doc) and doc[end].text == "of" and (nxt := next((c for c in chunks if c.start == end + 1), None)):
            end = nxt.end
        return end

    if verb in _NEW_LOOK_VERBS:
        end = through_of(chunks[0].end)
        while (end < len(doc) and doc[end].pos_ == "ADP" and doc[end].text not in ("to", "into", "as", "like", "with", "for")
               and (nxt := next((c for c in chunks if c.start == end + 1), None)) is not None):
            end = through_of(nxt.end)  # "the leaves on the oak tree", "the throw on the armchair"
        look = re.sub(r"^(?:to|into|in|as) ", "", doc[end:].text)
        if end >= len(doc) or not look or _vague(look) or _UNSUPPORTED.match(f"{verb} {look}"):
            return None
        if doc[end - 1].text in _LOOK_WORDS or not (_is_attribute_token(doc[end]) or doc[end].text in ("to", "into", "in", "a", "an")
                                                     or is_attribute_phrase(look)):
            return None  # the object's phrase took the look's first word, or what follows it is no look: no reading
        if _is_image(doc[:end].text) or _is_scene(doc[:end].text):
            return _global_or_none(doc[:end].text, look)  # "make the colours more muted"
        if re.match(r"(?:a|an|the|some) ", look):  # "make the vase a lamp": a thing, or a look ("a deep red")
            return _replace_or_modify(doc[:end].text, look)
        return Parsed("modify", doc[:end].text, look)  # "full of stars", "white with grey spots", "greyed out"
    if verb in _ATTACH_VERBS or verb == "add":
        thing = through_of(chunks[0].end)
        prep = next((t for t in doc[thing:] if t.pos_ == "ADP" and t.text in _ATTACH_PREPS), None)
        anchor = next((c for c in chunks if prep is not None and c.start == prep.i + 1), None)
        if prep is None or anchor is None:
            return None
        return match_templates(f"add {doc[:thing].text} {_ATTACH_PREPS[prep.text]} {doc[anchor.start :].text}")
    return None


def _other_readings(instruction: str, text: str) -> Iterator[str]:
    """Readings to try when ``text`` (``normalise(instruction)``) matches no template: ``text`` normalised once more
    (a message's sentences joined into one command, whose aside is dropped in the second pass: "omg the snot on his
    nose, pls remove before i send to grandma"), then the message without its first sentences, one at a time
    ("picture day! the boy second from the right is crying, could he be smiling?"). A reading that is refused as
    unclear is skipped."""
    sentences = [s for s in _SENTENCES.split(instruction) if s.strip()]
    for candidate in (text, *(". ".join(sentences[k:]) for k in range(1, len(sentences)))):
        try:
            again = normalise(candidate)
        except UnclearInstruction:
            continue
        if again and again != text:
            yield again


#: the longest instruction the rules read (a long letter asking for one edit is ~500 characters)
#: an addition that names no place ("add a rainbow", "put some balloons")
_ADD_NOWHERE = re.compile(r"^(?:add|put|place|insert|draw|include) (?P<n>(?:a|an|some|two|three|a few|a couple of|more) "
                          r"(?:(?! (?:on|in|at|to|next|by|near|outside|inside|behind|above|below|under|over|beside|between|"
                          r"around|along|across|into|onto|for|with|from) )[a-z' -])+)$")

MAX_INSTRUCTION = 1000


class RulesParser:
    """Offline spaCy rule parser (the default)."""

    name = "rules"

    def parse(self, *, instruction: str, image: object = None) -> EditPlan:
        """Parse ``instruction``; :class:`UnclearInstruction` when it names no target or action."""
        if len(instruction) > MAX_INSTRUCTION:  # a pasted document or a runaway script, not one edit
            raise UnclearInstruction(f"the instruction is {len(instruction):,} characters long; give one edit in at most "
                                     f"{MAX_INSTRUCTION:,}")
        text = normalise(instruction)
        if not text:
            said = "is empty" if not instruction.strip() else f"({instruction.strip()!r}) names nothing to edit"
            raise UnclearInstruction(f"the instruction {said}; say what to change, e.g. 'replace the cat with a tiger'")
        if _UNSUPPORTED.match(text):
            raise OutOfScope(f"{instruction.strip()!r} moves, turns, crops or reframes; refedit edits an object where it is "
                             "(remove it, replace it, change how it looks, or add something beside it)")
        parsed = _matched(text)
        if parsed is None:
            text, parsed = next(((t, p) for t in _other_readings(instruction, text) if (p := _matched(t))), (text, None))
        if parsed is None:
            parsed = _by_phrases(text)
        if parsed is None and (what := _ADD_NOWHERE.match(text)):  # "add a rainbow": where?
            raise UnclearInstruction(f"{instruction.strip()!r} does not say where to add {what['n']}; say next to, on or "
                                     f"above which object, e.g. 'add {what['n']} above the hills' or 'in the sky'")
        if parsed is None:
            raise UnclearInstruction(
                f"cannot tell what to edit in {instruction.strip()!r}; phrase it like 'replace the left cat with "
                "a tiger', 'make the vase golden' or 'remove the man in the blue jacket'"
            )
        parsed = attribute_change(attribute_of_one(_instead_of_old(parsed)))
        if parsed.action != "global" and parsed.replacement is not None and not parsed.replacement:
            raise UnclearInstruction(f"{instruction.strip()!r} does not say what the object should become")
        if parsed.action != "global" and parsed.placement != "between" and (two := two_objects(parsed.target)):
            one, other = (text.replace(parsed.target, part, 1) for part in two)
            example = f" ('{one}', then '{other}')" if parsed.target in text else ""
            raise OutOfScope(f"{instruction.strip()!r} names two objects ({two[0]}; {two[1]}); refedit edits one object, "
                             f"or every one of a kind ('all the cups'): give one at a time{example}")
        action, target, placement = _target(parsed, another=bool(_ANOTHER.search(text)))
        if action == "modify" and parsed.replacement and _vague(parsed.replacement):  # "make the house look more expensive"
            raise UnclearInstruction(f"{instruction.strip()!r} does not say how it should look; name the change (a colour, "
                                     "a material, 'brighter', 'bigger', 'like a painting' ...)")
        if "other" in target.attributes:  # "remove the other cat": other than one the photo cannot tell
            noun = "one" if target.head == "object" else target.head
            raise OutOfScope(f"{instruction.strip()!r} says 'the other {noun}'; say which {noun} to edit by where "
                             f"it is or how it looks (e.g. 'the {noun} on the left')")
        refuse_negation(instruction, parsed.target, parsed.replacement)
        replacement = parsed.replacement
        if action == "replace" and replacement in _NOTHING:  # "replace the dog with nothing"
            action, replacement = "remove", None
        if action == "replace" and (one := _NEW_ONE.match(replacement or "")):
            # "replace the broken chair with a new one": a new chair ("a photo of a new one"); "with another one": a
            # different dog ("a photo of an one")
            noun = plural(target.head) if one["ones"] else target.head
            replacement = f"{_NEW_ONE_WORD.get(one['look'] or '', one['look'] or 'different')} {noun}"
        if action in ("replace", "modify") and is_wording(target, replacement):
            action, replacement = "modify", _as_typed(instruction, replacement or "")  # new wording, as typed
            if m := re.search(rf"\b(?:to|say|read|with)\s+['\"“‘]?(the {re.escape(replacement)})", instruction, re.IGNORECASE):
                replacement = m[1]  # "change the title to 'The Long Way Home'": the article is part of the wording
        elif replacement:
            replacement = _names_as_typed(instruction, replacement)  # "make the sky look like Mars"
        return build_plan(instruction, action, target, replacement, self.name, placement)
