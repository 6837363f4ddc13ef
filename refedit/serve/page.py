"""The Gradio page of ``refedit serve`` (the only module importing Gradio). Every handler turns a
:class:`~refedit.errors.RefEditError` into a message in the status box and anything else into one
"internal error" line (the traceback goes to the server's log, never to the page), so the server keeps serving.
Parse, Find and Edit share one queue slot (``concurrency_id="device"``): one job at a time, the others wait
with their position shown; Cancel stops the session's running job at its next progress step (it then says so)."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr

from refedit.errors import RefEditError
from refedit.pipeline.artifacts import ACTIONS, SIZES, SPATIALS, EditPlan
from refedit.pipeline.imageio import save_image
from refedit.serve import session as S
from refedit.serve.jobs import Cancelled, EditServer

log = logging.getLogger("refedit.serve")
DEVICE = "device"


def _error(err: BaseException) -> str:
    if isinstance(err, Cancelled):
        return f"**Cancelled** ({_first_line(err)})."
    if isinstance(err, RefEditError):
        return f"**Error:** {_first_line(err)}"
    log.exception("internal error in a page handler")
    return f"**Internal error:** {type(err).__name__}: {err} (the server's log has the details)"


def _first_line(err: BaseException) -> str:
    """The message of ``err`` without the "ambiguous: " its class already says, and with the page's way to choose
    in place of the command line's (``--pick N``, ``--point X,Y``)."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return S.for_the_page(text.removeprefix("ambiguous: "))


def _skips(n: int) -> list[Any]:
    return [gr.skip() for _ in range(n)]


def _session(request: gr.Request | None) -> str:
    """The browser session's id, as a folder name: the client chooses it, so anything but letters, digits, ``-`` and
    ``_`` (``../../elsewhere``, an absolute path) is replaced by its hash and the results stay in the work folder."""
    given = str(getattr(request, "session_hash", None) or "local")
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", given):
        return given
    return "s" + hashlib.sha256(given.encode()).hexdigest()[:32]


def _reporter(progress: gr.Progress) -> Callable[[str, int, int], None]:
    def report(task: str, done: int, total: int) -> None:
        progress((done, max(total, 1)), desc=task)

    return report


def _hints(size: tuple[int, int], clicked: list, drawn: dict | None, kind: str) -> Any:
    """The hints on the page: the click, and the strokes of the hint editor as a free shape or a box."""
    return S.page_hints(size, points=clicked or (), layers=(drawn or {}).get("layers"), as_box=kind == "box")


def _given_plan(plan_state: dict | None, instruction: str, values: Sequence[Any]) -> EditPlan | None:
    """The plan on the page when it belongs to this instruction (its fields as edited), else None (parse again).
    Fields that are all blank were sent before any plan was shown (a second Edit clicked while the first ran,
    whose plan the state holds since): the state's plan as it is (they read as a plan edited to nothing: "target
    head noun must not be empty")."""
    if not plan_state or plan_state.get("instruction", "").strip() != (instruction or "").strip():
        return None
    if all(S.is_unset(v) or v is False for v in values):
        return EditPlan.from_dict(plan_state)
    return S.plan_from_fields(EditPlan.from_dict(plan_state), dict(zip(S.PLAN_FIELDS, values, strict=True)))


def _plan_outputs(plan: EditPlan) -> list[Any]:
    fields = S.plan_to_fields(plan)
    return [plan.to_dict(), *(fields[name] for name in S.PLAN_FIELDS)]


def build_page(server: EditServer, workdir: Path, *, steps: int = 50, encode_ratio: float = 0.5) -> gr.Blocks:
    """The page over ``server``; result files go to ``workdir`` (one folder per browser session)."""
    from refedit.pipeline.stages import registry

    editors = list(registry.entries("editor"))
    with gr.Blocks(title="refedit") as page:
        gr.Markdown("# refedit\nUpload a photo, say what to change, **Find** the object (click another candidate "
                    "or brush a rough hint if it is the wrong one), then **Edit**.")  # fmt: skip
        status = gr.Markdown("", elem_id="status")
        plan_state = gr.State(None)
        points = gr.State([])
        history = gr.State([])
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="Image", elem_id="upload", type="filepath")
                hint = gr.ImageEditor(label="Hint: brush over or around the object (optional)", elem_id="hint",
                                      type="numpy", sources=(), transforms=(), layers=False,
                                      brush=gr.Brush(colors=["#ff3030"], color_mode="fixed"))  # fmt: skip
                hint_kind = gr.Radio(["free shape", "box"], value="free shape", label="Use the drawing as")
            with gr.Column():
                overlay = gr.Image(label="Candidates: click one to choose it", elem_id="overlay", type="pil",
                                   interactive=False)  # fmt: skip
                found = gr.Markdown("", elem_id="found")
                clear = gr.Button("Clear the click", size="sm")
        instruction = gr.Textbox(label="Instruction", elem_id="instruction",
                                 placeholder="replace the cat with a tiger")  # fmt: skip
        with gr.Row():
            parse_btn = gr.Button("Parse", elem_id="parse")
            find_btn = gr.Button("Find", elem_id="find")
            edit_btn = gr.Button("Edit", elem_id="edit", variant="primary")
            cancel_btn = gr.Button("Cancel", elem_id="cancel", variant="stop")
        with gr.Accordion("Plan (editable)", open=False) as plan_box:
            with gr.Row():
                f_action = gr.Dropdown(list(ACTIONS), label="action")
                f_expr = gr.Textbox(label="target")
                f_head = gr.Textbox(label="head noun")
                f_attrs = gr.Textbox(label="attributes (comma-separated)")
            with gr.Row():
                f_spatial = gr.Dropdown(["(none)", *SPATIALS], value="(none)", label="spatial")
                f_ordinal = gr.Number(0, precision=0, label="ordinal (0 none, -1 last, -2 second last)")
                f_size = gr.Dropdown(["(none)", *SIZES], value="(none)", label="size")
                f_all = gr.Checkbox(label="all of them")
                f_count = gr.Number(0, precision=0, label="how many (0: as the words say)")
            with gr.Row():
                f_repl = gr.Textbox(label="replacement")
                f_prompt = gr.Textbox(label="segmentation prompt")
                f_src = gr.Textbox(label="source caption")
                f_dst = gr.Textbox(label="edited caption")
        fields = [f_action, f_expr, f_head, f_attrs, f_spatial, f_ordinal, f_size, f_all, f_count, f_repl, f_prompt,
                  f_src, f_dst]  # fmt: skip
        with gr.Row():
            editor = gr.Dropdown(editors, value=server.editor, label="editor", elem_id="editor")
            takes = S.editor_controls(server.editor)
            n_steps = gr.Slider(1, max(100, steps), value=steps, step=1, label="steps", elem_id="steps")
            ratio = gr.Slider(0.05, 1.0, value=encode_ratio, step=0.05, label="encoding ratio", elem_id="ratio",
                              visible="encode_ratio" in takes)  # fmt: skip
            ratios = gr.Textbox(label="several ratios (a grid), e.g. 0.3,0.5,0.7", elem_id="ratios",
                                visible="encode_ratios" in takes)  # fmt: skip
            seed = gr.Number(0, precision=0, minimum=0, label="seed", elem_id="seed")
        with gr.Row():
            result = gr.ImageSlider(label="Before / after", elem_id="result", type="filepath", interactive=False)
            variants = gr.Gallery(label="Several ratios", elem_id="variants", columns=4, height=320, visible=False)
        downloads = gr.File(label="Downloads: image, mask, JSON record", elem_id="downloads", file_count="multiple",
                            interactive=False)  # fmt: skip
        gallery = gr.Gallery(label="This session's edits", elem_id="history", columns=6, height=220, preview=False,
                             object_fit="contain")  # fmt: skip

        hint_in = [upload, instruction, plan_state, points, hint, hint_kind]
        edit_in = [editor, n_steps, ratio, ratios, seed, history]

        # ---------------------------------------------------------------- handlers
        def on_upload(path: str | None) -> list[Any]:
            if path is None:
                return ["", None, None, [], None]
            try:
                src = S.load_upload(path)
            except RefEditError as err:
                return [_error(err), None, None, [], None]
            w, h = src.rgb.size
            editor_value = {"background": src.rgb, "layers": [], "composite": None}
            return [f"Loaded {Path(path).name} ({w}x{h}).", editor_value, src.rgb, [], None]

        def on_editor(name: str) -> list[Any]:
            takes = S.editor_controls(name)
            return [gr.update(visible=c in takes) for c in ("steps", "encode_ratio", "encode_ratios")]

        def on_parse(path: str | None, text: str, request: gr.Request, progress: gr.Progress = gr.Progress()
                     ) -> list[Any]:  # fmt: skip
            try:
                src = S.load_upload(path)
                plan = server.parse(src.rgb, text, session=_session(request), report=_reporter(progress))
            except Exception as err:  # noqa: BLE001 - every failure is a message on the page
                return [_error(err), *_skips(2 + len(fields))]
            return [f"Parsed: {plan.action} '{plan.target.expression}'.", gr.update(open=True), *_plan_outputs(plan)]

        def on_find(data: dict, request: gr.Request, progress: gr.Progress = gr.Progress()) -> list[Any]:
            path, text, plan_state, clicked, drawn, kind = (data[c] for c in hint_in)
            values = [data[c] for c in fields]
            try:
                src = S.load_upload(path)
                hints = _hints(src.rgb.size, clicked, drawn, kind)
                out = server.find(src.rgb, text, _given_plan(plan_state, text, values), hints,
                                  session=_session(request), report=_reporter(progress))  # fmt: skip
            except Exception as err:  # noqa: BLE001
                return [_error(err), *_skips(3 + len(fields))]
            if out.ambiguous is not None:
                amb, msg = out.ambiguous.ambiguity, _first_line(out.ambiguous)
                return [f"**Ambiguous:** {msg}", S.ambiguity_overlay(src.rgb, amb), S.ambiguity_text(amb, msg),
                        *_plan_outputs(out.plan)]  # fmt: skip
            seg = out.segmentation
            assert seg is not None
            at = f" (clicked at {clicked[0][0]:.0f}, {clicked[0][1]:.0f})" if clicked else ""
            return [f"Found{at}: {seg.reason}", S.candidate_overlay(src.rgb, seg), S.segmentation_text(seg),
                    *_plan_outputs(out.plan)]  # fmt: skip

        def on_click(evt: gr.SelectData) -> list[Any]:
            x, y = (float(v) for v in evt.index[:2])
            return [[(x + 0.5, y + 0.5)], f"Clicked at ({x:.0f}, {y:.0f}); finding what is there..."]

        def on_edit(data: dict, request: gr.Request, progress: gr.Progress = gr.Progress()) -> list[Any]:
            path, text, plan_state, clicked, drawn, kind = (data[c] for c in hint_in)
            values = [data[c] for c in fields]
            editor_name, steps_v, ratio_v, ratios_v, seed_v, past = (data[c] for c in edit_in)
            n_out = 9 + len(fields)
            try:
                src = S.load_upload(path)
                hints = _hints(src.rgb.size, clicked, drawn, kind)
                page_opts = {"steps": int(steps_v), "encode_ratio": float(ratio_v), "encode_ratios": ratios_v}
                seed_i = int(seed_v or 0)
                res = server.edit(src.rgb, text, _given_plan(plan_state, text, values), hints, seed=seed_i,
                                  editor=editor_name, page=page_opts, session=_session(request),
                                  report=_reporter(progress))  # fmt: skip
                folder = workdir / _session(request)
                stem = f"edit{len(past) + 1:03d}_{Path(path or 'image').stem}"
                files = S.write_result(res, src, folder, stem, instruction=text, seed=seed_i)
                before = save_image(src.rgb, folder / f"{stem}_input.png")
            except Exception as err:  # noqa: BLE001
                from refedit.pipeline.artifacts import AmbiguousTarget

                if isinstance(err, AmbiguousTarget):
                    msg = _first_line(err)
                    return [f"**Ambiguous:** {msg}", *_skips(5), S.ambiguity_overlay(src.rgb, err.ambiguity),
                            S.ambiguity_text(err.ambiguity, msg), *_skips(1 + len(fields))]  # fmt: skip
                return [_error(err), *_skips(n_out - 1)]
            from refedit.outputs import sheet_label

            past = [*past, (str(files.image), S.history_caption(text, editor_name, seed_i, res.parameters))]
            grid = [(str(p), sheet_label(v)) for p, v in zip(files.variants, res.variants, strict=True)]
            took = res.timings.get("total", 0.0)
            return [f"Edited in {took:.1f}s: {res.segmentation.reason}", (str(before), str(files.image)),
                    gr.update(value=grid, visible=bool(grid)),
                    [str(p) for p in files.all()], past, past, S.candidate_overlay(src.rgb, res.segmentation),
                    S.segmentation_text(res.segmentation), *_plan_outputs(res.plan)]  # fmt: skip

        def on_cancel(request: gr.Request) -> None:  # a toast: the status box is the job's, which says "Cancelled"
            stopped = server.cancel(_session(request))
            gr.Info("Cancelling at the next step..." if stopped else "Nothing of yours is running: nothing to cancel.")

        # ---------------------------------------------------------------- wiring
        upload.change(on_upload, [upload], [status, hint, overlay, points, plan_state])
        editor.change(on_editor, [editor], [n_steps, ratio, ratios])
        plan_out = [plan_state, *fields]
        device = {"concurrency_limit": 1, "concurrency_id": DEVICE}
        parse_btn.click(on_parse, [upload, instruction], [status, plan_box, *plan_out], **device)
        find_btn.click(on_find, {*hint_in, *fields}, [status, overlay, found, *plan_out], **device)
        overlay.select(on_click, None, [points, status]).then(
            on_find, {*hint_in, *fields}, [status, overlay, found, *plan_out], **device)  # fmt: skip
        clear.click(lambda: ([], "Click cleared."), None, [points, status])
        edit_btn.click(
            on_edit, {*hint_in, *edit_in, *fields},
            [status, result, variants, downloads, history, gallery, overlay, found, *plan_out], **device)  # fmt: skip
        cancel_btn.click(on_cancel, None, None, queue=False)
    return page
