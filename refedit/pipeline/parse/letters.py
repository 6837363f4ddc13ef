"""A request written as a letter, dictated or labelled, as the message itself: a greeting and sign-off dropped
("Dear team, ... With gratitude, Ann"), dictated punctuation written as punctuation ("... by the door period"), a
label before the command dropped ("menu shot: ..."), and power users' shorthand spelled out ("rm bollard L",
"add: paraglider, above ridge", "global: teal/orange grade")."""

from __future__ import annotations

import re

#: a letter's or email's opening and closing: "Dear team,", "To whom it may concern,", "I hope this finds you well.";
#: "Many thanks in advance, Peter", "With gratitude, Ann", "Kind regards"
_GREETING = re.compile(r"^(?:(?:dear (?:sir or madam|sir|madam|team|all|everyone|editor|[a-z]+(?: [a-z]+)?)|to whom it may concern|"
                       r"good (?:morning|afternoon|evening)|greetings|hello there|hello|hi there|hi|hey)[,!.:;]\s*|"
                       r"i hope (?:this|my) (?:message |email |note )?finds you well[,!.;]?\s*|i hope you(?: are|'re) well[,!.;]?\s*)+")
_SIGN_OFF = re.compile(r"(?:[,.!;]|\s)\s*(?:(?:with )?(?:many |much |warm |kind |best |warmest |kindest )?(?:thanks|thank you|regards|"
                       r"wishes|gratitude)(?: (?:so much|again|in advance|very much))?|all the best|cheers|yours (?:sincerely|faithfully|"
                       r"truly)|sincerely|best|bw|kr|thx|ty)[,.!]*(?:\s+[a-z]+(?: [a-z]+)?)?[.!]*$")
#: British "ta" (thanks) closing a message after a comma or stop ("swap the pup for a fox, ta"; not as a name's word)
_TA = re.compile(r"\s*[,.!;]\s*ta[.!]*$")
#: words a dictation app writes for punctuation ("... by the front door period", "the second chair comma the wooden one comma")
_DICTATED = re.compile(r"\s+(?:comma|full stop|period|question mark|exclamation mark|exclamation point|new line)\b")
#: a label before the command ("menu shot:", "cosplay pic:", "brochure version please:", "site report pic 3 -")
_LABEL = re.compile(r"^(?:[a-z][a-z' -]*? )?(?:shot|pic|photo|picture|image|version|report pic|img|frame|slide|listing)(?: (?:\d+|#\d+|"
                    r"[a-z]*_?\d+))?(?: please| pls)?\s*(?::|-|–|—)\s+")

#: what the photo is for, as a label ("for the parish magazine:", "for our website -")
_FOR_LABEL = re.compile(r"^for (?:the|my|our|a|an|his|her|their) [a-z' -]{1,40}?\s*(?::|-|–|—)\s+")


#: a script's or an agent's label before the command ("Edit: make ...", "Task: add ...", "Instruction: ...")
_TASK_LABEL = re.compile(r"^(?:edit|task|instruction|instructions|request|prompt|command|job|goal|action|step \d+)\s*:\s*")
#: an agent's trailing sentences of constraints ("... . Constraints: preserve lighting.", "... . Preserve identity.",
#: "... . Maintain the original scale and shadows."): how to edit, not what
_CONSTRAINTS = re.compile(r"(?<=[.!;])\s+(?:(?:constraints?|requirements?|notes?|note)\s*:|(?:please )?(?:preserve|maintain|retain|"
                          r"keep|ensure|make sure|do not|don't|avoid|match|leave|no other)\b).*$")


def as_one_message(text: str) -> str:
    """``text`` (lowercase) without a letter's greeting and sign-off, with dictated punctuation as punctuation,
    shorthand spelled out and without a label before the command ("menu shot: the burger bun looks pale, ...")."""
    text = _DICTATED.sub(lambda m: {"period": ".", "full stop": ".", "question mark": "?", "new line": ".",
                                     "comma": ","}.get(m[0].strip(), "!"), text)  # fmt: skip
    text = re.sub(r"\b(from|on|to|at) ([lr])\b", lambda m: f"{m[1]} the {'left' if m[2] == 'l' else 'right'}", text)  # "from R"
    text = re.sub(r"^(\S+ [a-z][a-z ]*?) ([lr])$", lambda m: f"{m[1]} on the {'left' if m[2] == 'l' else 'right'}", text)  # "rm bollard L"
    text = re.sub(r"^(add|remove|delete|rm|del|replace|swap):\s*", r"\1 ", text)  # "add: paraglider, above ridge"
    text = re.sub(r"^(?:global|overall|whole (?:image|photo|picture)|entire (?:image|photo|picture)|image|photo):\s*(?P<n>.+)$",
                  r"make the whole photo look \g<n>", text)  # "global: teal/orange grade"
    text = _GREETING.sub("", text)
    while (shorter := _TA.sub("", _SIGN_OFF.sub("", text))) != text and shorter:
        text = shorter
    text = _CONSTRAINTS.sub("", _TASK_LABEL.sub("", text))
    return _LABEL.sub("", _FOR_LABEL.sub("", text))
