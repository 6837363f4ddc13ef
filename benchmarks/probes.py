"""The rules parser against the probe rounds: instructions that helpers wrote, with their plans, without reading the
parser (sessions 7 to 9; ``tests/data/probes/round*.json``). Prints, per round, how many plans are wrong in the
fields the round labels (action, replacement, placement, and the target's head, attributes, qualifiers, pronoun,
region and relations; not the expression's wording); "unclear" rows want the instruction refused. Rows of a
``followup-*`` group were written after a round's failures were seen and are not counted. A label may be a list
of the answers a round accepts.

Rounds 1-4's rows that parse were added to the development set (``tests/data/instructions.jsonl``); rounds 5-9
stay rounds (``tests/test_parser.py`` keeps each round's count from rising). What is left is what the parser still
gets wrong or judgement calls (each row's ``note``/``judgement`` says which). To measure a new round blind, or to
compare with an older commit, run this file with that commit's ``refedit`` first on ``PYTHONPATH`` (a git worktree
of it, with the new round copied in).

Run: ``python benchmarks/probes.py [-v] [--core] [--groups G1,G2] [--save FILE] [--compare FILE]`` (``--save`` on one commit, ``--compare`` with
that file on another: the rows one got right and the other gets wrong).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from refedit.errors import UnclearInstruction  # noqa: E402
from refedit.pipeline.parse.rules import RulesParser  # noqa: E402

DEFAULTS: dict[str, Any] = {"attributes": [], "spatial": None, "ordinal": None, "size": None, "all": False,
                            "relation": None, "pronoun": None, "region": None}  # fmt: skip


def target_diffs(want: dict[str, Any] | None, got: dict[str, Any] | None, path: str = "target") -> list[str]:
    if want is None or got is None:
        return [] if want is got else [f"{path}: want {want and want.get('head')!r} got {got and got.get('head')!r}"]
    out = []
    for key in ("head", *DEFAULTS):
        w, g = want.get(key, DEFAULTS.get(key)), got.get(key)
        if key == "relation":
            out += relation_diffs(w, g, f"{path}.relation")
        elif key == "attributes" and w is not None:
            out += [] if list(w) == list(g or []) else [f"{path}.attributes: want {w!r} got {g!r}"]
        elif w != g:
            out.append(f"{path}.{key}: want {w!r} got {g!r}")
    return out


def relation_diffs(want: Any, got: dict[str, Any] | None, path: str) -> list[str]:
    if isinstance(want, list):  # alternatives the round accepts
        tries = [relation_diffs(w, got, path) for w in want]
        return [] if any(not t for t in tries) else tries[0]
    if want is None or got is None:
        return [] if want is got else [f"{path}: want {want and want['direction']!r} got {got and got['direction']!r}"]
    out = [] if want["direction"] == got["direction"] else [f"{path}.direction: want {want['direction']} got {got['direction']}"]
    return out + target_diffs(want["anchor"], got["anchor"], f"{path}.anchor")


#: round 20's groups that no rule looked at before its blind measure (session 16's control)
HELD_OUT_20 = ("australian-slang", "equestrians", "knitters-and-crafters", "miniature-painters", "tattoo-artists",
               "vets-and-animal-clinics")  # fmt: skip


def diffs(parser: RulesParser, case: dict[str, Any]) -> list[str]:
    try:
        plan = parser.parse(instruction=case["instruction"]).to_dict()
    except UnclearInstruction as err:
        return [] if case["action"] == "unclear" else [f"refused: {err}"]
    if case["action"] == "unclear":
        return [f"want it refused, got {plan['action']}"]
    out = [f"{k}: want {case.get(k)!r} got {plan.get(k)!r}" for k in ("action", "replacement", "placement")
           if plan.get(k) not in alternatives(case.get(k))]  # fmt: skip
    if plan["action"] == "global" and "global" in alternatives(case["action"]):
        return out  # a whole-image edit has no target to compare
    return out + target_diffs(case["target"], plan["target"])


#: the fields that decide what is edited and how: wrong there, the edit goes to the wrong object or does the wrong thing
CORE = ("refused", "want it refused", "action", "target.head", "target.relation.anchor.head")


def core_wrong(found: list[str]) -> bool:
    """True when a wrong plan is wrong in a :data:`CORE` field (not only in a qualifier, attribute or wording)."""
    return any(f.split(":")[0] in CORE or f.startswith(("refused", "want it refused")) for f in found)


def alternatives(value: Any) -> list[Any]:
    """A label, or the list of labels a round accepts (round 1: "replace" or "modify" for "change the sky to a
    sunset")."""
    return value if isinstance(value, list) else [value]


def out_of_scope(parser: RulesParser) -> int:
    """Every probe row (follow-ups included) the rules parser refuses as :class:`OutOfScope`: the wanted refusals
    and the rows that had a plan (which the LLM parser would then refuse too)."""
    from refedit.errors import OutOfScope

    rows = [c for path in sorted((ROOT / "tests" / "data" / "probes").glob("round*.json")) for c in json.loads(path.read_text())]
    wanted, unwanted = 0, []
    for case in rows:
        try:
            parser.parse(instruction=case["instruction"])
        except OutOfScope:
            if case["action"] == "unclear":
                wanted += 1
            else:
                unwanted.append(case["instruction"])
        except UnclearInstruction:
            pass
    print(f"{len(rows)} probe rows: refused as more than one edit {wanted + len(unwanted)}, of which wanted {wanted}, "
          f"had a plan {len(unwanted)}" + "".join(f"\n  {t!r}" for t in unwanted))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="list the wrong rows")
    ap.add_argument("--core", action="store_true",
                    help="also count the plans wrong in what decides the edit (action, the object's and its anchor's "
                         "noun, a refusal) and the refusals of instructions that had a plan")  # fmt: skip
    ap.add_argument("--save", type=Path, help="write {instruction: wrong?} of every counted row to this JSON file")
    ap.add_argument("--compare", type=Path,
                    help="a --save file of another commit: list the rows right there and wrong here")  # fmt: skip
    ap.add_argument("--groups", type=lambda v: set(v.split(",")), default=None,
                    help="count only the rows of these groups (comma-separated; round 20's held-out half: "
                         + ",".join(HELD_OUT_20) + ")")  # fmt: skip
    ap.add_argument("--out-of-scope", action="store_true",
                    help="count the rows the rules refuse as more than one edit (OutOfScope: the refusals the LLM "
                         "parser's plans are checked against), wanted (an 'unclear' row) or not")  # fmt: skip
    args = ap.parse_args()
    parser = RulesParser()
    if args.out_of_scope:
        return out_of_scope(parser)
    verdicts: dict[str, bool] = {}
    for path in sorted((ROOT / "tests" / "data" / "probes").glob("round*.json")):
        cases = [c for c in json.loads(path.read_text()) if not str(c.get("group", "")).startswith("followup")
                 and (args.groups is None or c.get("group") in args.groups)]  # fmt: skip
        if not cases:
            continue
        wrong = [(c, d) for c in cases if (d := diffs(parser, c))]
        core = sum(core_wrong(d) for _, d in wrong)
        refused = sum(d[0].startswith("refused") for _, d in wrong)
        print(f"{path.stem}: {len(cases)} instructions, {len(wrong)} wrong"
              + (f" (action, object or refusal wrong: {core}; refused though a plan was wanted: {refused})" if args.core else ""))
        for case, found in wrong if args.verbose else ():
            print(f"  {case['instruction']!r}: {'; '.join(found)}")
        failed = {c["instruction"] for c, _ in wrong}
        verdicts.update({c["instruction"]: c["instruction"] in failed for c in cases})
    if args.save:
        args.save.write_text(json.dumps(verdicts))
    if args.compare:
        before = json.loads(args.compare.read_text())
        worse = [t for t, bad in verdicts.items() if bad and before.get(t) is False]
        print(f"{sum(before.values())} wrong there, {sum(verdicts.values())} here; right there and wrong here: {len(worse)}")
        for text in worse:
            print(f"  {text!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
