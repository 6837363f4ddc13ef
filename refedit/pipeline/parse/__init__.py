"""Instruction parsers: turn an instruction into an :class:`~refedit.pipeline.artifacts.EditPlan`."""
