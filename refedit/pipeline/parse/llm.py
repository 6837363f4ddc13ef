"""The LLM instruction parser (InstructEdit's language processor, Sec. 3.2 / App. C.1): a chat model behind
any OpenAI-compatible endpoint turns the instruction into an :class:`EditPlan` from a system prompt and
few-shot examples (``refedit/prompts/parse_system.txt``, ``parse_examples.jsonl``). A failure of the
endpoint (connection, timeout, HTTP error) or of its answer (not a usable plan) falls back to the offline
rules parser with a :class:`~refedit.errors.RefEditWarning`; any other exception is a bug and surfaces."""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Callable, ClassVar, Mapping

from refedit.config import Range, typed
from refedit.core.english import singular
from refedit.errors import BadInput, OutOfScope, RefEditError, RefEditWarning, UnclearInstruction
from refedit.pipeline.artifacts import (
    ACTIONS,
    DIRECTIONS,
    PLACEMENTS,
    PRONOUNS,
    REGIONS,
    SIZES,
    SPATIALS,
    EditPlan,
    Relation,
    Target,
)
from refedit.pipeline.parse.plan import (
    GLOBAL_TARGET,
    captions,
    clean_phrase,
    segmentation_prompt,
    strip_determiners,
)
from refedit.pipeline.parse.rules import RulesParser, two_objects
from refedit.pipeline.parse.spelling import object_nouns

SYSTEM_PROMPT = "parse_system.txt"
EXAMPLES = "parse_examples.jsonl"


@dataclass(frozen=True)
class LLMOptions:
    """Where and how to reach the chat model.

    ``base_url`` None means ``OPENAI_BASE_URL`` or the openai default; ``api_key`` None means
    ``OPENAI_API_KEY`` (or a placeholder for local servers that need none); ``timeout`` is per request in
    seconds; ``max_retries`` the extra attempts on connection errors, timeouts and 5xx (the defaults wait at
    most 10 s x 2 tries = 20 s for a server that hangs); ``json_schema`` asks the server to enforce the
    answer's JSON schema (retried without it when the server refuses).
    """

    base_url: str | None = None
    api_key: str | None = None
    model: str = "gpt-4o-mini"
    timeout: float = 10.0
    max_retries: int = 1
    json_schema: bool = True

    def __post_init__(self) -> None:
        if not self.model or not str(self.model).strip():
            raise BadInput("the LLM model id must not be empty (set REFEDIT_LLM_MODEL)")
        object.__setattr__(self, "timeout", typed("llm_timeout", self.timeout, float, Range(0, 600, lo_open=True)))
        object.__setattr__(self, "max_retries", typed("llm_retries", self.max_retries, int, Range(0, 10)))

    _KEYS: ClassVar[dict[str, str]] = {"llm_base_url": "base_url", "llm_api_key": "api_key", "llm_timeout": "timeout", "llm_retries": "max_retries"}

    @classmethod
    def option_types(cls) -> dict[str, Any]:
        """The stage options this parser understands, with their types."""
        return {"llm_base_url": str, "llm_api_key": str, "llm_timeout": float, "llm_retries": int}

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any], model: str | None = None) -> LLMOptions:
        """Take the options this parser understands (``llm_base_url``, ``llm_api_key``, ``llm_timeout``,
        ``llm_retries``; others are ignored); ``None`` means default. ``model`` is the ``llm`` role's id."""
        types = cls.option_types()
        kwargs = {cls._KEYS[k]: typed(k, v, types[k]) for k, v in options.items() if k in cls._KEYS and v is not None}
        if model:
            kwargs["model"] = model
        return cls(**kwargs)

    def resolved_base_url(self) -> str | None:
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or None

    def resolved_api_key(self) -> str:
        return self.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"


# --------------------------------------------------------------------------- prompt
@cache
def load_prompt(name: str) -> str:
    """A prompt file shipped in :mod:`refedit.prompts`."""
    return resources.files("refedit.prompts").joinpath(name).read_text(encoding="utf-8")


@cache
def load_examples() -> tuple[dict[str, Any], ...]:
    """The few-shot examples: ``{"instruction", "image_description"?, "answer"}`` per line."""
    rows = []
    for line in load_prompt(EXAMPLES).splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return tuple(rows)


def user_message(instruction: str, description: str | None = None) -> str:
    text = f"Instruction: {instruction.strip()}"
    if description:
        text += f"\nImage description: {description.strip()}"
    return text


def build_messages(instruction: str, description: str | None = None) -> list[dict[str, str]]:
    """System prompt, few-shot user/assistant pairs, then the instruction."""
    messages = [{"role": "system", "content": load_prompt(SYSTEM_PROMPT).strip()}]
    for ex in load_examples():
        messages.append({"role": "user", "content": user_message(ex["instruction"], ex.get("image_description"))})
        messages.append({"role": "assistant", "content": json.dumps(ex["answer"])})
    messages.append({"role": "user", "content": user_message(instruction, description)})
    return messages


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    if "enum" in out:
        out["enum"] = [*schema["enum"], None]
    return out


_TARGET_REF = {"$ref": "#/$defs/target"}
_NULLABLE_TARGET = {"anyOf": [_TARGET_REF, {"type": "null"}]}


def plan_schema() -> dict[str, Any]:
    """The strict JSON schema of an answer (every key required; null where not applicable). A target's
    relation names an anchor that is itself a target, so the target is a recursive definition."""
    relation = {
        "type": "object",
        "additionalProperties": False,
        "required": ["direction", "anchor", "second"],
        "properties": {
            "direction": {"type": "string", "enum": list(DIRECTIONS)},
            "anchor": _TARGET_REF,
            "second": _NULLABLE_TARGET,
        },
    }
    target = {
        "type": "object",
        "additionalProperties": False,
        "required": ["expression", "head", "attributes", "spatial", "ordinal", "size", "all", "relation", "pronoun",
                     "region", "count"],  # fmt: skip
        "properties": {
            "expression": {"type": "string"},
            "head": {"type": "string"},
            "attributes": {"type": "array", "items": {"type": "string"}},
            "spatial": _nullable({"type": "string", "enum": list(SPATIALS)}),
            "ordinal": _nullable({"type": "integer"}),
            "size": _nullable({"type": "string", "enum": list(SIZES)}),
            "all": {"type": "boolean"},
            "relation": {"anyOf": [relation, {"type": "null"}]},
            "pronoun": _nullable({"type": "string", "enum": list(PRONOUNS)}),
            "region": _nullable({"type": "string", "enum": list(REGIONS)}),
            "count": _nullable({"type": "integer"}),
        },
    }
    props = {
        "action": _nullable({"type": "string", "enum": list(ACTIONS)}),
        "target": _NULLABLE_TARGET,
        "replacement": _nullable({"type": "string"}),
        "placement": _nullable({"type": "string", "enum": list(PLACEMENTS)}),
        "segmentation_prompt": _nullable({"type": "string"}),
        "source_caption": _nullable({"type": "string"}),
        "edited_caption": _nullable({"type": "string"}),
        "error": _nullable({"type": "string"}),
    }
    return {"type": "object", "additionalProperties": False, "required": list(props), "properties": props,
            "$defs": {"target": target}}  # fmt: skip


# --------------------------------------------------------------------------- answer
class LLMAnswerError(ValueError):
    """The model answered, but not with a usable plan."""


class LLMEndpointError(ValueError):
    """The endpoint cannot be used at all (a base URL the HTTP client cannot parse)."""


_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*(.*?)```", re.DOTALL)


def extract_json(text: str | None) -> dict[str, Any]:
    """The first JSON object in ``text``, tolerating code fences and surrounding prose."""
    if not text or not text.strip():
        raise LLMAnswerError("empty answer")
    if m := _FENCE.search(text):
        text = m.group(1)
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        except RecursionError:
            raise LLMAnswerError("the answer's JSON is nested too deeply") from None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    raise LLMAnswerError(f"no JSON object in the answer: {text.strip()[:80]!r}")


#: the longest text field an answer may hold (the instruction's own limit), and the largest ordinal ("the 1000th")
MAX_FIELD, MAX_ORDINAL = 1000, 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _opt_str(value: Any, what: str) -> str | None:
    """A text field of the answer, stripped (None when empty); a string that no phrase is (control characters,
    a newline that split `parse`'s output lines, a megabyte) is :class:`LLMAnswerError`."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise LLMAnswerError(f"{what} must be a string, got {value!r}")
    value = value.strip()
    if len(value) > MAX_FIELD:
        raise LLMAnswerError(f"{what} is {len(value):,} characters long")
    if _CONTROL.search(value):
        raise LLMAnswerError(f"{what} holds control characters: {value[:60]!r}")
    return value or None


#: how deep relations may nest in an answer ("the dress of the girl left of the standing girl" is 2)
MAX_NESTING = 4


def _relation(data: Any, depth: int) -> Relation | None:
    """A target's relation from the answer (None when absent)."""
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise LLMAnswerError(f"target.relation must be an object or null, got {data!r}")
    if depth >= MAX_NESTING:
        raise LLMAnswerError(f"relations nest deeper than {MAX_NESTING} levels")
    direction = (_opt_str(data.get("direction"), "relation.direction") or "").lower()
    if direction not in DIRECTIONS:
        raise LLMAnswerError(f"unknown relation direction {data.get('direction')!r}; expected one of "
                             f"{', '.join(DIRECTIONS)}")  # fmt: skip
    second = data.get("second")
    try:
        return Relation(direction, _target(data.get("anchor"), depth + 1),  # type: ignore[arg-type]
                        None if second is None else _target(second, depth + 1))  # fmt: skip
    except ValueError as err:
        raise LLMAnswerError(str(err)) from None


def _target(data: Any, depth: int = 0) -> Target:
    if not isinstance(data, Mapping):
        raise LLMAnswerError(f"target must be an object, got {data!r}")
    head = clean_phrase(_opt_str(data.get("head"), "target.head") or "")
    if not head:
        raise LLMAnswerError("target.head is empty")
    expression, quantified = strip_determiners(clean_phrase(_opt_str(data.get("expression"), "target.expression") or ""))
    attributes = data.get("attributes") or []
    if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
        raise LLMAnswerError(f"target.attributes must be a list of strings, got {attributes!r}")
    attributes = [_opt_str(a, "target.attributes") or "" for a in attributes]
    ordinal = data.get("ordinal")
    if isinstance(ordinal, bool) or not (ordinal is None or isinstance(ordinal, int)):
        if isinstance(ordinal, float) and ordinal.is_integer():
            ordinal = int(ordinal)
        else:
            raise LLMAnswerError(f"target.ordinal must be an integer, got {ordinal!r}")
    if ordinal is not None and abs(ordinal) > MAX_ORDINAL:
        raise LLMAnswerError(f"target.ordinal {ordinal} is beyond {MAX_ORDINAL}")
    count = data.get("count")
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    if isinstance(count, bool) or not (count is None or isinstance(count, int)) or (count is not None and count < 1):
        raise LLMAnswerError(f"target.count must be a positive integer or null, got {count!r}")
    if count is not None and count > MAX_ORDINAL:
        raise LLMAnswerError(f"target.count {count} is beyond {MAX_ORDINAL}")
    every = data.get("all", False)
    if not isinstance(every, bool):
        raise LLMAnswerError(f"target.all must be true or false, got {every!r}")
    spatial = _opt_str(data.get("spatial"), "target.spatial")
    size = _opt_str(data.get("size"), "target.size")
    pronoun = _opt_str(data.get("pronoun"), "target.pronoun")
    region = _opt_str(data.get("region"), "target.region")
    relation = _relation(data.get("relation"), depth)
    try:
        return Target(
            expression=expression or head,
            head=head,
            attributes=tuple(clean_phrase(a) for a in attributes if clean_phrase(a)),
            spatial=spatial.lower() if spatial else None,  # type: ignore[arg-type]
            ordinal=ordinal,
            size=size.lower() if size else None,  # type: ignore[arg-type]
            all=every or quantified or (count or 0) > 1,
            count=count if count and count > 1 else None,  # "one": no count
            relation=relation,
            pronoun=pronoun.lower() if pronoun else None,  # type: ignore[arg-type]
            region=region.lower() if region else None,  # type: ignore[arg-type]
        )
    except ValueError as err:
        raise LLMAnswerError(str(err)) from None


def _placement(value: Any, action: str) -> str | None:
    """Where an addition goes relative to its target; a placement on anything but an addition means
    nothing and is dropped."""
    placement = _opt_str(value, "placement")
    if placement is None or action != "add":
        return None
    if placement.lower() not in PLACEMENTS:
        raise LLMAnswerError(f"unknown placement {placement!r}; expected one of {', '.join(PLACEMENTS)}")
    return placement.lower()


def plan_from_answer(instruction: str, data: Mapping[str, Any]) -> EditPlan:
    """Validate the model's JSON answer into an :class:`EditPlan` (``parser="llm"``)."""
    if error := data.get("error"):
        raise LLMAnswerError(f"the model found no edit target: {error}")
    action = _opt_str(data.get("action"), "action")
    if action is None or action.lower() not in ACTIONS:
        raise LLMAnswerError(f"unknown action {data.get('action')!r}; expected one of {', '.join(ACTIONS)}")
    action = action.lower()
    replacement = _opt_str(data.get("replacement"), "replacement")
    if action == "remove":
        replacement = None
    elif replacement is None:
        raise LLMAnswerError(f"action {action!r} needs a replacement")
    target = GLOBAL_TARGET if action == "global" else _target(data.get("target"))
    placement = _placement(data.get("placement"), action)
    if action != "global" and placement != "between" and two_objects(target.expression):
        raise LLMAnswerError(f"the answer's target {target.expression!r} names two objects")  # the rules parser says why
    source, edited = captions(action, target, replacement, placement)
    default_prompt = "image" if action == "global" else segmentation_prompt(target)
    try:
        return EditPlan(
            instruction=instruction,
            action=action,  # type: ignore[arg-type]
            target=target,
            replacement=replacement,
            segmentation_prompt=_opt_str(data.get("segmentation_prompt"), "segmentation_prompt") or default_prompt,
            source_caption=_opt_str(data.get("source_caption"), "source_caption") or source,
            edited_caption=_opt_str(data.get("edited_caption"), "edited_caption") or edited,
            parser="llm",
            placement=placement,  # type: ignore[arg-type]
        )
    except ValueError as err:
        raise LLMAnswerError(str(err)) from None


#: heads the model may give for an object the instruction names otherwise ("the guy", "the bride": a person)
PERSON_HEADS = frozenset("person people man woman men women boy girl child children kid guy lady gentleman baby".split())
#: heads that name no object of the instruction's (a pronoun, a region, the whole image)
UNNAMED_HEADS = frozenset({"object", "region", "image"})


def _close(a: str, b: str) -> bool:
    """The same word, by its singular, a shared stem of 4 letters or more ("blowies", "blowfly"), or a slip of the
    keyboard (two edits at most, in words of 5 letters or more: "tabel", "table")."""
    a, b = singular(a), singular(b)
    if a == b:
        return True
    if min(len(a), len(b)) >= 4 and a[:4] == b[:4] and (a.startswith(b) or b.startswith(a) or a[:5] == b[:5]):
        return True
    if min(len(a), len(b)) < 5 or abs(len(a) - len(b)) > 2:
        return False
    prev = list(range(len(b) + 1))  # Levenshtein distance, row by row
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] <= 2


def names_its_object(head: str, text: str) -> bool:
    """Whether ``text`` (the instruction, and the image description the model was given) names the object ``head``
    (a word of it, :func:`_close`); a person's head where the text names a person or a pronoun stands for one."""
    words = re.findall(r"[a-z]+", text.lower())
    head_words = re.findall(r"[a-z]+", head.lower())
    if not head_words or head.lower() in UNNAMED_HEADS:
        return True
    if head.lower() in PERSON_HEADS and any(w in PERSON_HEADS or w in ("he", "she", "him", "her", "they") for w in words):
        return True
    return any(_close(h, w) for h in head_words if len(h) >= 3 for w in words)


# --------------------------------------------------------------------------- parser
class LLMParser:
    """Instruction parser over an OpenAI-compatible chat endpoint, falling back to ``fallback``."""

    name = "llm"

    def __init__(
        self,
        options: LLMOptions,
        fallback: Any = None,
        describe: Callable[[Any], str] | None = None,
    ) -> None:
        self.options = options
        self.fallback = fallback if fallback is not None else RulesParser()
        self.describe = describe
        self.last_fallback_reason: str | None = None
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import openai

            url = self.options.resolved_base_url()
            try:
                self._client = openai.OpenAI(
                    base_url=url,
                    api_key=self.options.resolved_api_key(),
                    timeout=float(self.options.timeout),
                    max_retries=0,  # retries are ours (bounded, and only on transient failures)
                )
            except Exception as err:  # noqa: BLE001 - "http://[::1": the HTTP client's InvalidURL (whichever httpx)
                raise LLMEndpointError(f"base URL {url!r} is no URL: {err}") from None
        return self._client

    def parse(self, *, instruction: str, image: Any = None) -> EditPlan:
        """Parse ``instruction`` with the chat model; on any failure warn and use the fallback parser."""
        if not isinstance(instruction, str) or not instruction.strip():
            raise UnclearInstruction("the instruction is empty; say what to change, e.g. 'replace the cat with a tiger'")
        self.last_fallback_reason = None
        try:
            description = self._description(image)
            answer = self._complete(build_messages(instruction, description))
            plan = plan_from_answer(instruction, extract_json(answer))
            self._check(plan, f"{instruction} {description or ''}")
            return plan
        except fallback_errors() as err:  # the endpoint or its answer failed: not a bug of ours
            reason = _reason(err)
        self.last_fallback_reason = reason
        warnings.warn(f"LLM parser failed ({reason}); falling back to the rules parser", RefEditWarning, stacklevel=2)
        return self.fallback.parse(instruction=instruction, image=image)

    def _check(self, plan: EditPlan, text: str) -> None:
        """The model's plan against the instruction: :class:`OutOfScope` where the rules parser refuses the
        instruction as more than one edit of one object (a plan doing half of "remove the dog and make the sky blue",
        or the opposite of "make the dog not brown", was used as it was: the prompt asks the model to refuse, nothing
        checked that it did); :class:`LLMAnswerError` (the fallback) when its object is not one the text names while
        the rules parser found one it knows there (a dog for "replace the cat with a tiger")."""
        try:
            rules: EditPlan | None = RulesParser().parse(instruction=plan.instruction)
        except OutOfScope:
            raise
        except UnclearInstruction:  # the rules cannot read it: what the model is for
            rules = None
        if plan.action == "global" or plan.target.pronoun is not None or names_its_object(plan.target.head, text):
            return
        # a noun the text does not hold: slang the model read ("the moggy": a cat) unless the rules found an object
        # noun refedit knows in the instruction, and the model another ("replace the cat ...": a dog)
        if rules is not None and rules.action != "global" and rules.target.head.split()[-1] in object_nouns():
            raise LLMAnswerError(f"its object {plan.target.head!r} is not one the instruction names "
                                 f"({rules.target.head!r})")  # fmt: skip

    def _description(self, image: Any) -> str | None:
        if self.describe is None or image is None:
            return None
        try:
            return self.describe(image) or None
        except RefEditError as err:  # a description is optional context (e.g. the captioner is not downloaded)
            warnings.warn(f"image description failed ({_reason(err)}); parsing without it", RefEditWarning, stacklevel=3)
            return None

    def _complete(self, messages: list[dict[str, str]]) -> str | None:
        import openai

        kwargs: dict[str, Any] = {"model": self.options.model, "messages": messages, "temperature": 0}
        if self.options.json_schema:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "edit_plan", "strict": True, "schema": plan_schema()},
            }
        attempt = 0
        while True:
            try:
                response = within(self.options.timeout, lambda: self.client().chat.completions.create(**kwargs))
                break
            except openai.BadRequestError:
                if "response_format" not in kwargs:
                    raise
                kwargs.pop("response_format")  # the server does not support structured output: ask plainly
            except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError, RequestTimedOut) as err:
                transient = not isinstance(err, openai.APIStatusError) or err.status_code >= 500 or err.status_code == 429
                if not transient or attempt >= self.options.max_retries:
                    raise
                attempt += 1
                time.sleep(min(0.25 * 2 ** (attempt - 1), 2.0))
            except (LLMAnswerError, LLMEndpointError):
                raise
            except (ValueError, RecursionError) as err:  # a 200 whose body is no JSON, no UTF-8, or nested deeply
                raise LLMAnswerError(f"the endpoint's answer is not readable JSON ({type(err).__name__})") from None
        choices = getattr(response, "choices", None)  # a 200 with an HTML page or other text is a str here
        if not isinstance(choices, list):
            raise LLMAnswerError(f"the endpoint did not answer with a chat completion: {str(response).strip()[:80]!r}")
        if not choices:
            raise LLMAnswerError("the answer has no choices")
        content = getattr(getattr(choices[0], "message", None), "content", None)
        if isinstance(content, list):  # content as a list of parts: [{"type": "text", "text": "..."}]
            content = "".join(str(p.get("text", "")) if isinstance(p, dict) else str(getattr(p, "text", "")) for p in content)
        if content is not None and not isinstance(content, str):
            raise LLMAnswerError(f"the answer's content is {type(content).__name__}, not text")
        return content


class RequestTimedOut(LLMEndpointError):
    """The whole request took longer than the timeout (the HTTP client's timeout bounds each read, so a server
    that sends its answer a byte a second was waited for without end)."""


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()``, or :class:`RequestTimedOut` once ``seconds`` have passed (the call goes on in a daemon thread,
    which the process does not wait for, and its result is dropped)."""
    import threading

    done: dict[str, Any] = {}

    def run() -> None:
        try:
            done["value"] = call()
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            done["error"] = err

    thread = threading.Thread(target=run, name="refedit-llm-request", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise RequestTimedOut("request timed out")
    if "error" in done:
        raise done["error"]
    return done["value"]


def fallback_errors() -> tuple[type[BaseException], ...]:
    """What the rules fallback answers: the endpoint's failures (openai's ``APIError``: connection, timeout,
    HTTP status, malformed response; or no openai package) and an unusable answer."""
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a dependency
        return (ImportError, LLMAnswerError, LLMEndpointError)
    return (openai.APIError, LLMAnswerError, LLMEndpointError)


def _reason(err: BaseException) -> str:
    """A one-line reason for the fallback warning."""
    try:
        import openai
    except ImportError:  # pragma: no cover
        openai = None  # type: ignore[assignment]
    if openai is not None:
        if isinstance(err, openai.APITimeoutError):
            return "request timed out"
        if isinstance(err, openai.APIConnectionError):
            return f"cannot connect: {err.__cause__ or err}"
        if isinstance(err, openai.APIStatusError):
            return f"HTTP {err.status_code}: {str(err.message)[:120]}"
    if isinstance(err, json.JSONDecodeError):
        return f"malformed JSON: {err}"
    if isinstance(err, LLMAnswerError):
        return f"unusable answer: {err}"
    if isinstance(err, LLMEndpointError):
        return str(err)
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}"[:200]
