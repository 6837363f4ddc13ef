"""The LLM parser against a real OpenAI-compatible HTTP server on loopback: valid answers become plans,
every failure (bad JSON, wrong schema, 5xx, timeout) falls back to the rules parser with a warning."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Iterator

import pytest

from refedit.errors import UnclearInstruction
from refedit.pipeline.parse.llm import LLMOptions, LLMParser, load_examples

VALID = {
    "action": "replace",
    "target": {
        "expression": "left cat",
        "head": "cat",
        "attributes": [],
        "spatial": "left",
        "ordinal": None,
        "size": None,
        "all": False,
    },
    "replacement": "tiger",
    "segmentation_prompt": "cat",
    "source_caption": "a photo of a cat",
    "edited_caption": "a photo of a tiger",
    "error": None,
}
INSTRUCTION = "Replace the left cat with a tiger"


class FakeOpenAI:
    """A chat-completions server; ``mode`` picks the canned behaviour, ``requests`` records the bodies."""

    def __init__(self) -> None:
        self.mode = "valid"
        self.content: str | None = None
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.requests.append({"path": self.path, "body": body})
                try:
                    fake.respond(self, body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # type: ignore[attr-defined]
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def raw(handler: BaseHTTPRequestHandler, data: bytes, ctype: str = "application/json", pause: float = 0.0) -> None:
        """A 200 with ``data`` as its body, sent at once or a byte every ``pause`` seconds."""
        handler.send_response(200)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if not pause:
            handler.wfile.write(data)
            return
        for i in range(len(data)):
            handler.wfile.write(data[i : i + 1])
            handler.wfile.flush()
            time.sleep(pause)

    def completion(self, body: dict[str, Any], content: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "test-model"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }

    def respond(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        mode = self.mode
        if handler.path != "/v1/chat/completions":
            return self.send(handler, 404, {"error": {"message": "not found", "type": "invalid_request_error"}})
        if mode == "500":
            return self.send(handler, 500, {"error": {"message": "boom", "type": "server_error"}})
        if mode == "slow":
            time.sleep(2.0)
            return self.send(handler, 200, self.completion(body, json.dumps(VALID)))
        if mode == "html":  # a 200 that is no completion (a proxy's login page)
            return self.raw(handler, b"<html><body>Sign in</body></html>", "text/html")
        if mode == "drip":  # headers at once, then the answer a byte at a time (each read within the timeout)
            return self.raw(handler, json.dumps(self.completion(body, json.dumps(VALID))).encode(), pause=0.1)
        if mode in ("notjson", "badbytes", "deep"):  # a 200 whose body is not a readable completion
            return self.raw(handler, {"notjson": b"this is not json", "badbytes": b'{"id": "\xff\xfe"}',
                                      "deep": b"[" * 100_000 + b"]" * 100_000}[mode])  # fmt: skip
        if mode == "parts":  # content as a list of text parts
            answer = self.completion(body, "")
            answer["choices"][0]["message"]["content"] = [{"type": "text", "text": json.dumps(VALID)}]
            return self.send(handler, 200, answer)
        if mode == "reject_format" and "response_format" in body:
            error = {"message": "response_format is not supported", "type": "invalid_request_error"}
            return self.send(handler, 400, {"error": error})
        content = {
            "valid": json.dumps(VALID),
            "reject_format": json.dumps(VALID),
            "fenced": "Here is the plan:\n```json\n" + json.dumps(VALID, indent=2) + "\n```\nDone.",
            "malformed": '{"action": "replace", "target": {"head": "cat"',
            "wrong_schema": json.dumps({**VALID, "action": "explode"}),
            "empty_head": json.dumps({**VALID, "target": {**VALID["target"], "head": " "}}),
            "no_target": json.dumps({"error": "the instruction names no object"}),
            "custom": self.content or "",
        }[mode]
        return self.send(handler, 200, self.completion(body, content))


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    yield fake
    fake.close()


def make_parser(server: FakeOpenAI, timeout: float = 5.0, **kwargs: Any) -> LLMParser:
    options = LLMOptions(
        base_url=f"http://127.0.0.1:{server.port}/v1", api_key="test", model="test-model", timeout=timeout, max_retries=1
    )
    return LLMParser(options, **kwargs)


def test_valid_answer_becomes_llm_plan(server: FakeOpenAI) -> None:
    parser = make_parser(server)
    plan = parser.parse(instruction=INSTRUCTION)
    assert plan.parser == "llm"
    assert plan.action == "replace" and plan.replacement == "tiger"
    assert plan.target.head == "cat" and plan.target.spatial == "left"
    assert plan.segmentation_prompt == "cat"
    assert (plan.source_caption, plan.edited_caption) == ("a photo of a cat", "a photo of a tiger")
    assert plan.instruction == INSTRUCTION
    assert parser.last_fallback_reason is None


def test_request_carries_prompt_examples_and_instruction(server: FakeOpenAI) -> None:
    make_parser(server).parse(instruction=INSTRUCTION)
    assert len(server.requests) == 1
    body = server.requests[0]["body"]
    assert body["model"] == "test-model" and body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"
    messages = body["messages"]
    system = resources.files("refedit.prompts").joinpath("parse_system.txt").read_text(encoding="utf-8")
    assert messages[0] == {"role": "system", "content": system.strip()}
    examples = load_examples()
    assert len(examples) >= 6
    assert len(messages) == 1 + 2 * len(examples) + 1
    for i, ex in enumerate(examples):
        user, assistant = messages[1 + 2 * i], messages[2 + 2 * i]
        assert user["role"] == "user" and ex["instruction"] in user["content"]
        assert assistant["role"] == "assistant" and json.loads(assistant["content"]) == ex["answer"]
    assert messages[-1]["role"] == "user" and INSTRUCTION in messages[-1]["content"]
    assert "Image description" not in messages[-1]["content"]


def test_image_description_is_passed_when_describer_given(server: FakeOpenAI) -> None:
    from PIL import Image

    parser = make_parser(server, describe=lambda image: "a photo of two cats on a sofa")
    parser.parse(instruction=INSTRUCTION, image=Image.new("RGB", (8, 8)))
    assert "Image description: a photo of two cats on a sofa" in server.requests[0]["body"]["messages"][-1]["content"]


def test_fenced_answer_is_accepted(server: FakeOpenAI) -> None:
    server.mode = "fenced"
    plan = make_parser(server).parse(instruction=INSTRUCTION)
    assert plan.parser == "llm" and plan.replacement == "tiger"


def test_missing_captions_are_filled(server: FakeOpenAI) -> None:
    server.mode = "custom"
    answer = {k: v for k, v in VALID.items() if k not in ("source_caption", "edited_caption", "segmentation_prompt")}
    server.content = json.dumps({**answer, "target": {"expression": "all the red cars", "head": "car", "attributes": ["red"]}})
    plan = make_parser(server).parse(instruction="replace the red cars with tigers")
    assert plan.parser == "llm"
    assert plan.target.expression == "red cars" and plan.target.all
    assert plan.segmentation_prompt == "red car"
    assert plan.source_caption == "a photo of red cars" and plan.edited_caption == "a photo of a tiger"


def test_rejected_response_format_is_retried_without_it(server: FakeOpenAI) -> None:
    server.mode = "reject_format"
    plan = make_parser(server).parse(instruction=INSTRUCTION)
    assert plan.parser == "llm"
    assert len(server.requests) == 2
    assert "response_format" in server.requests[0]["body"]
    assert "response_format" not in server.requests[1]["body"]


@pytest.mark.parametrize("mode", ["malformed", "wrong_schema", "empty_head", "no_target"])
def test_bad_answers_fall_back_to_rules(server: FakeOpenAI, mode: str) -> None:
    server.mode = mode
    parser = make_parser(server)
    with pytest.warns(RuntimeWarning, match="falling back to the rules parser"):
        plan = parser.parse(instruction=INSTRUCTION)
    assert plan.parser == "rules"
    assert plan.action == "replace" and plan.target.head == "cat"
    assert parser.last_fallback_reason
    assert len(server.requests) == 1  # a bad answer is not a transient failure


def test_wrong_schema_reason_names_the_action(server: FakeOpenAI) -> None:
    server.mode = "wrong_schema"
    parser = make_parser(server)
    with pytest.warns(RuntimeWarning, match="explode"):
        parser.parse(instruction=INSTRUCTION)


def test_http_500_retries_then_falls_back(server: FakeOpenAI) -> None:
    server.mode = "500"
    parser = make_parser(server)
    with pytest.warns(RuntimeWarning, match=r"HTTP 500"):
        plan = parser.parse(instruction=INSTRUCTION)
    assert plan.parser == "rules"
    assert len(server.requests) == 2  # one try + max_retries=1


def test_slow_server_times_out_and_falls_back(server: FakeOpenAI) -> None:
    server.mode = "slow"
    parser = make_parser(server, timeout=0.5)
    start = time.monotonic()
    with pytest.warns(RuntimeWarning, match="timed out"):
        plan = parser.parse(instruction=INSTRUCTION)
    assert time.monotonic() - start < 5.0
    assert plan.parser == "rules"
    assert len(server.requests) == 2


def test_a_server_that_drips_its_answer_is_given_the_timeout_for_the_whole_request(server: FakeOpenAI) -> None:
    """The HTTP client's timeout bounds each read: a server sending a byte every 0.1 s was waited for to the end
    (a byte a second, without end)."""
    server.mode = "drip"
    parser = make_parser(server, timeout=0.5)
    start = time.monotonic()
    with pytest.warns(RuntimeWarning, match="timed out"):
        plan = parser.parse(instruction=INSTRUCTION)
    assert time.monotonic() - start < 3.0  # two tries of 0.5 s and the pause between them
    assert plan.parser == "rules" and len(server.requests) == 2


@pytest.mark.parametrize("mode", ["notjson", "badbytes", "deep"])
def test_a_body_that_is_no_readable_json_falls_back(server: FakeOpenAI, mode: str) -> None:
    """These were internal errors (JSONDecodeError, UnicodeDecodeError, RecursionError), not the fallback."""
    server.mode = mode
    parser = make_parser(server)
    with pytest.warns(RuntimeWarning, match="falling back to the rules parser"):
        plan = parser.parse(instruction=INSTRUCTION)
    assert plan.parser == "rules" and plan.target.head == "cat"


def test_an_answer_nested_too_deeply_falls_back(server: FakeOpenAI) -> None:
    server.mode, server.content = "custom", '{"a": ' * 100_000 + "1" + "}" * 100_000
    parser = make_parser(server)
    with pytest.warns(RuntimeWarning, match="nested too deeply"):
        plan = parser.parse(instruction=INSTRUCTION)
    assert plan.parser == "rules"


def test_connection_refused_falls_back() -> None:
    fake = FakeOpenAI()
    port = fake.port
    fake.close()
    options = LLMOptions(base_url=f"http://127.0.0.1:{port}/v1", api_key="test", model="m", timeout=1.0, max_retries=0)
    parser = LLMParser(options)
    with pytest.warns(RuntimeWarning, match="falling back"):
        plan = parser.parse(instruction=INSTRUCTION)
    assert plan.parser == "rules"


def test_vague_answer_falls_back_and_rules_reject_it(server: FakeOpenAI) -> None:
    server.mode = "no_target"
    with pytest.warns(RuntimeWarning), pytest.raises(UnclearInstruction):
        make_parser(server).parse(instruction="make it nicer")


@pytest.mark.parametrize("instruction", ["", "   \n"])
def test_empty_instruction_does_not_call_the_server(server: FakeOpenAI, instruction: str) -> None:
    with pytest.raises(UnclearInstruction):
        make_parser(server).parse(instruction=instruction)
    assert server.requests == []


def test_options_from_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    from refedit.errors import BadInput

    opts = LLMOptions.from_mapping(
        {"llm_base_url": "http://x/v1", "llm_api_key": "k", "llm_timeout": "2.5", "llm_retries": 0, "steps": 3},
        model="my-model",
    )
    assert (opts.base_url, opts.api_key, opts.timeout, opts.max_retries, opts.model) == ("http://x/v1", "k", 2.5, 0, "my-model")
    defaults = LLMOptions.from_mapping({"llm_timeout": None}, model="m")
    # a server that hangs costs at most about 20 s by default (issue 10), every try included
    assert defaults.timeout * (1 + defaults.max_retries) <= 20.0 and defaults.base_url is None
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert defaults.resolved_base_url() == "http://env/v1" and defaults.resolved_api_key() == "not-needed"
    with pytest.raises(BadInput):
        LLMOptions.from_mapping({"llm_timeout": 0}, model="m")
    with pytest.raises(BadInput):
        LLMOptions.from_mapping({"llm_retries": -1}, model="m")
    with pytest.raises(BadInput, match="llm_timeout must be a number"):
        LLMOptions.from_mapping({"llm_timeout": "soon"}, model="m")


def test_a_bug_in_the_describer_surfaces_but_a_missing_captioner_falls_back(server: FakeOpenAI) -> None:
    """Only the endpoint's and the answer's failures are answered by a fallback: an exception of refedit's
    own code is not hidden behind a warning."""
    from PIL import Image

    from refedit.errors import ModelUnavailable, RefEditWarning

    def buggy(image: Any) -> str:
        raise TypeError("unsupported operand")

    with pytest.raises(TypeError, match="unsupported operand"):
        make_parser(server, describe=buggy).parse(instruction=INSTRUCTION, image=Image.new("RGB", (8, 8)))

    def unavailable(image: Any) -> str:
        raise ModelUnavailable("cannot load the captioner model")

    with pytest.warns(RefEditWarning, match="image description failed"):
        plan = make_parser(server, describe=unavailable).parse(instruction=INSTRUCTION, image=Image.new("RGB", (8, 8)))
    assert plan.parser == "llm"


def test_cli_parse_and_edit_with_llm_and_describer(server: FakeOpenAI, tiny_env: dict[str, str], tmp_path) -> None:
    """`refedit parse/edit --parser llm --llm-base-url URL [--describe]` go through the same stage."""
    from click.testing import CliRunner

    from refedit.cli import main
    from tests.conftest import EXAMPLES

    url = f"http://127.0.0.1:{server.port}/v1"
    env = {**tiny_env, "OPENAI_API_KEY": "test"}
    r = CliRunner().invoke(main, ["parse", INSTRUCTION, "--parser", "llm", "--llm-base-url", url, "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["parser"] == "llm" and len(server.requests) == 1
    out = tmp_path / "o.png"
    r = CliRunner().invoke(main, ["edit", str(EXAMPLES / "cat.jpg"), INSTRUCTION, "--parser", "llm", "--llm-base-url",
                                  url, "--describe", "--box-threshold", "0", "--steps", "2", "--resolution", "64",
                                  "-o", str(out), "--json"], env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["plan"]["parser"] == "llm" and out.exists()
    assert "Image description:" in json.dumps(server.requests[-1]["body"]["messages"][-1])


# --------------------------------------------------------------------------- issue 18: relations, pronouns,
# regions and placements in the prompt, the schema and the answer
def _conforms(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    """Whether ``value`` meets ``schema`` (the subset of JSON schema that :func:`plan_schema` uses)."""
    if "$ref" in schema:
        return _conforms(value, root["$defs"][schema["$ref"].rsplit("/", 1)[-1]], root)
    if "anyOf" in schema:
        return any(_conforms(value, option, root) for option in schema["anyOf"])
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    python = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool, "null": type(None)}
    if not any(isinstance(value, python[t]) and not (t == "integer" and isinstance(value, bool)) for t in types):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if isinstance(value, dict):
        props = schema["properties"]
        return set(value) == set(schema["required"]) == set(props) and all(
            _conforms(v, props[k], root) for k, v in value.items())  # fmt: skip
    if isinstance(value, list):
        return all(_conforms(v, schema["items"], root) for v in value)
    return True


def test_schema_carries_relation_pronoun_region_and_placement() -> None:
    from refedit.pipeline.artifacts import DIRECTIONS, PRONOUNS, REGIONS
    from refedit.pipeline.parse.llm import plan_schema

    schema = plan_schema()
    target = schema["$defs"]["target"]["properties"]
    relation = target["relation"]["anyOf"][0]["properties"]
    assert relation["direction"]["enum"] == list(DIRECTIONS)
    assert relation["anchor"] == {"$ref": "#/$defs/target"}  # relations nest
    assert set(target["pronoun"]["enum"]) == {*PRONOUNS, None} and set(target["region"]["enum"]) == {*REGIONS, None}
    assert set(schema["properties"]["placement"]["enum"]) == {*DIRECTIONS, None} - {"with"}  # "with" places nothing


def test_every_few_shot_answer_meets_the_strict_schema() -> None:
    """The examples teach the answer the schema enforces: every key present, nested anchors included."""
    from refedit.pipeline.parse.llm import plan_schema

    schema = plan_schema()
    answers = [ex["answer"] for ex in load_examples() if ex["answer"].get("action")]
    assert answers and all(_conforms(a, schema, schema) for a in answers)
    assert any(a["target"]["relation"] for a in answers) and any(a["placement"] for a in answers)
    assert any(a["target"]["pronoun"] for a in answers) and any(a["target"]["region"] for a in answers)
    assert not _conforms({**answers[0], "placement": "sideways"}, schema, schema)  # the check can fail


def test_few_shot_examples_agree_with_the_rules_parser() -> None:
    """The prompt teaches the conventions the rules parser follows (expression, head, relation, pronoun,
    region, placement), so the two parsers give one plan for one instruction."""
    from refedit.pipeline.parse.llm import plan_from_answer
    from refedit.pipeline.parse.rules import RulesParser

    examples = [ex for ex in load_examples() if ex["answer"].get("action") and "image_description" not in ex]
    assert len(examples) >= 10
    for ex in examples:
        llm, rules = plan_from_answer(ex["instruction"], ex["answer"]), RulesParser().parse(instruction=ex["instruction"])
        assert (llm.action, llm.target, llm.replacement, llm.placement, llm.segmentation_prompt) == (
            rules.action, rules.target, rules.replacement, rules.placement, rules.segmentation_prompt), ex["instruction"]


def _target(expression: str, head: str, **fields: Any) -> dict[str, Any]:
    return {"expression": expression, "head": head, "attributes": [], "spatial": None, "ordinal": None, "size": None,
            "all": False, "relation": None, "pronoun": None, "region": None, **fields}  # fmt: skip


NESTED = {
    **VALID,
    "action": "modify",
    "target": _target("dress of the girl to the left of the standing girl", "dress", relation={
        "direction": "of", "second": None,
        "anchor": _target("girl to the left of the standing girl", "girl", relation={
            "direction": "left-of", "second": None, "anchor": _target("standing girl", "girl", attributes=["standing"])})}),
    "replacement": "red",
    "segmentation_prompt": None, "source_caption": None, "edited_caption": None,
}  # fmt: skip


def test_nested_relation_answer_becomes_a_nested_plan(server: FakeOpenAI) -> None:
    from refedit.pipeline.artifacts import EditPlan, Relation, Target

    server.mode, server.content = "custom", json.dumps(NESTED)
    plan = make_parser(server).parse(instruction="Make the dress of the girl to the left of the standing girl red")
    assert plan.parser == "llm" and plan.target.head == "dress" and plan.segmentation_prompt == "dress"
    girl = plan.target.relation.anchor
    assert plan.target.relation.direction == "of" and girl.head == "girl"
    assert girl.relation == Relation("left-of", Target("standing girl", "girl", ("standing",)))
    assert EditPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


@pytest.mark.parametrize(
    "answer,check",
    [
        ({"action": "replace", "target": _target("them", "object", all=True, pronoun="them"), "replacement": "zebras"},
         lambda p: p.target.pronoun == "them" and p.target.all and p.segmentation_prompt == "object"),
        ({"action": "add", "target": _target("book", "book"), "replacement": "coffee cup", "placement": "left-of"},
         lambda p: p.placement == "left-of" and p.edited_caption == "a photo of a book and a coffee cup"),
        ({"action": "modify", "target": _target("right side", "region", region="right"), "replacement": "snowy"},
         lambda p: p.target.region == "right" and p.segmentation_prompt == "right side" and p.source_caption == "a photo"),
        ({"action": "modify", "target": _target("bench", "bench"), "replacement": "red", "placement": "left-of"},
         lambda p: p.placement is None),  # a placement only means something for an addition
        ({"action": "remove", "target": _target("vase between the candles", "vase", relation={
            "direction": "between", "anchor": _target("candles", "candle", all=True), "second": None}),
          "replacement": None},
         lambda p: p.target.relation.anchor.all and p.target.relation.second is None),
    ],
    ids=["pronoun", "placement", "region", "placement-on-modify", "between-plural"],
)
def test_new_fields_of_an_answer(server: FakeOpenAI, answer: dict[str, Any], check: Any) -> None:
    server.mode, server.content = "custom", json.dumps(answer)
    plan = make_parser(server).parse(instruction=f"an instruction about the {answer['target']['expression']}")
    assert plan.parser == "llm" and check(plan)


@pytest.mark.parametrize(
    "target,reason",
    [
        (_target("chair", "chair", relation={"direction": "sideways", "anchor": _target("sofa", "sofa"), "second": None}),
         "sideways"),
        (_target("chair", "chair", relation={"direction": "between", "anchor": _target("sofa", "sofa"), "second": None}),
         "between"),
        (_target("chair", "chair", relation={"direction": "left-of", "anchor": "the sofa", "second": None}),
         "target must be an object"),
        (_target("him", "person", pronoun="he"), "pronoun"),
        (_target("left", "region", region="left side"), "region"),
        (_target("cat", "cat", spatial="left", ordinal=10**30), "beyond 1000"),  # "the 1000...000th from the left"
        (_target("cat", "cat\nrm -rf"), "control characters"),  # split `parse`'s output lines
        (_target("cat", "cat", attributes=["gr\x1bey"]), "control characters"),
        (_target("c" * 2000, "cat"), "2,000 characters long"),
    ],
    ids=["direction", "between-one-anchor", "anchor-not-object", "pronoun", "region", "huge-ordinal", "newline",
         "escape", "megabyte"],
)
def test_bad_new_fields_fall_back_to_rules(server: FakeOpenAI, target: dict[str, Any], reason: str) -> None:
    server.mode, server.content = "custom", json.dumps({**VALID, "target": target})
    parser = make_parser(server)
    with pytest.warns(RuntimeWarning, match=reason):
        plan = parser.parse(instruction="Color the chair on the left of the sofa red")
    assert plan.parser == "rules" and plan.target.relation.anchor.head == "sofa"


def test_too_deep_nesting_falls_back(server: FakeOpenAI) -> None:
    from refedit.pipeline.parse.llm import MAX_NESTING

    target = _target("cup", "cup")
    for _ in range(MAX_NESTING + 1):
        target = _target("cup", "cup", relation={"direction": "on", "anchor": target, "second": None})
    server.mode, server.content = "custom", json.dumps({**VALID, "target": target})
    with pytest.warns(RuntimeWarning, match="nest deeper"):
        assert make_parser(server).parse(instruction=INSTRUCTION).parser == "rules"


def test_prompt_describes_the_new_fields() -> None:
    system = resources.files("refedit.prompts").joinpath("parse_system.txt").read_text(encoding="utf-8")
    for key in ('"relation"', '"pronoun"', '"region"', '"placement"', '"left-of"', '"between"', '"of"'):
        assert key in system, key


def test_an_answer_whose_target_names_two_objects_falls_back_to_the_refusal() -> None:
    """A model that ignores the prompt and answers 'remove the cat and the dog' with one target naming both gets no
    plan of it (one of the two would be edited silently): the answer is refused, and the rules parser then refuses
    the instruction with its message."""
    from refedit.pipeline.parse.llm import LLMAnswerError, plan_from_answer

    both = {**VALID, "action": "remove", "replacement": None, "target": _target("cat and the dog", "dog")}
    with pytest.raises(LLMAnswerError, match="names two objects"):
        plan_from_answer("remove the cat and the dog", both)
    between = {**VALID, "action": "add", "replacement": "lamp", "placement": "between",
               "target": _target("sofa and the chair", "sofa")}  # fmt: skip
    assert plan_from_answer("add a lamp between the sofa and the chair", between).placement == "between"


def test_an_endpoint_that_answers_no_completion_falls_back_and_text_parts_are_read(server: FakeOpenAI) -> None:
    """A 200 with an HTML page, and a base URL the HTTP client cannot parse, were internal errors (exit 1) instead
    of the documented warning and rules fallback; content given as a list of text parts was one too."""
    server.mode = "html"
    with pytest.warns(RuntimeWarning, match="did not answer with a chat completion"):
        assert make_parser(server).parse(instruction=INSTRUCTION).parser == "rules"
    server.mode = "parts"
    assert make_parser(server).parse(instruction=INSTRUCTION).parser == "llm"
    bad = LLMParser(LLMOptions(base_url="http://[::1", api_key="test", model="test-model", timeout=1.0, max_retries=0))
    with pytest.warns(RuntimeWarning, match="is no URL"):
        assert bad.parse(instruction=INSTRUCTION).parser == "rules"


def test_an_answer_naming_an_object_the_instruction_does_not_falls_back(server: FakeOpenAI) -> None:
    """A plan for a dog from "replace the left cat with a tiger" edited a dog, without a word."""
    server.mode = "custom"
    server.content = json.dumps({**VALID, "target": {**VALID["target"], "expression": "dog", "head": "dog"},
                                 "segmentation_prompt": "dog"})  # fmt: skip
    parser = make_parser(server)
    with pytest.warns(RuntimeWarning, match="its object 'dog' is not one the instruction names \\('cat'\\)"):
        plan = parser.parse(instruction=INSTRUCTION)
    assert plan.parser == "rules" and plan.target.head == "cat"


def test_an_object_the_model_read_from_slang_is_kept(server: FakeOpenAI) -> None:
    """"the moggy" is a cat: the rules parser's head, "moggy", is no object noun refedit knows, so the model's cat
    stands (a detector looking for "moggy" would find less)."""
    server.mode = "custom"
    server.content = json.dumps({**VALID, "target": {**VALID["target"], "expression": "cat", "head": "cat", "spatial": None},
                                 "segmentation_prompt": "cat"})  # fmt: skip
    plan = make_parser(server).parse(instruction="swap the moggy for a tiger, cheers")
    assert plan.parser == "llm" and plan.target.head == "cat"


@pytest.mark.parametrize("instruction,head", [
    ("remove the dog and make the sky blue", "dog"),  # two edits: the plan did one
    ("make the dog not brown", "dog"),  # a look by what it is not: a plan makes it brown
    ("remove the cat that is not on the sofa", "cat"),  # picked by what it is not: a plan removes the one on it
])  # fmt: skip
def test_an_answer_doing_half_or_the_opposite_of_the_instruction_is_refused(server: FakeOpenAI, instruction: str,
                                                                             head: str) -> None:  # fmt: skip
    server.mode = "custom"
    server.content = json.dumps({**VALID, "action": "modify", "replacement": "black",
                                 "target": {**VALID["target"], "expression": head, "head": head, "spatial": None}})  # fmt: skip
    with pytest.raises(UnclearInstruction, match="two edits|should not be|what it is not"):
        make_parser(server).parse(instruction=instruction)


@pytest.mark.parametrize("head,text,named", [
    ("cat", "replace the left cat with a tiger", True), ("dog", "replace the left cat with a tiger", False),
    ("table", "remove the tabel on the rigth", True),  # slips of the keyboard the prompt asks it to read
    ("blowfly", "get rid of all the blowies on me hat", True), ("thong", "me thongs are filthy", True),
    ("wine glass", "remove the glasses", True), ("mould line", "theres a mould line on the helmet", True),
    ("person", "remove the guy on the left", True), ("woman", "could she have a red hat", True),
    ("object", "make it blue", True), ("sofa", "remove the couch", False),  # a synonym: the rules parser reads it
])  # fmt: skip
def test_names_its_object(head: str, text: str, named: bool) -> None:
    from refedit.pipeline.parse.llm import names_its_object

    assert names_its_object(head, text) is named
