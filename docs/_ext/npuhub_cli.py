"""Sphinx directive that prints the ``npuhub`` command's help, taken from its parser at build time."""

from __future__ import annotations

import argparse
import os

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from npuhub.cli import build_parser

#: Help is wrapped at this width whatever terminal runs the build, so pages do not change with it.
HELP_WIDTH = "88"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse offers no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help(parser: argparse.ArgumentParser) -> str:
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        return parser.format_help().rstrip()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


class NPUHubHelp(SphinxDirective):
    """``npuhub-help``: the command's help, then each subcommand's (and theirs) under its own heading.

    With a subcommand name as argument, only that subcommand's help.
    """

    optional_arguments = 1

    def run(self):
        parser = build_parser()
        commands = _subcommands(parser)
        if self.arguments:
            name = self.arguments[0]
            if name not in commands:
                known = ", ".join(sorted(commands))
                raise self.error(f"npuhub has no subcommand {name!r} (it has: {known})")
            return [_help_block(commands[name])]
        result = [_help_block(parser)]
        for name, sub in commands.items():
            result += _section(sub, [name])
        return result


def _section(parser: argparse.ArgumentParser, path: list[str]) -> list[nodes.Node]:
    """A subcommand's heading and help, then those of its own subcommands (``npuhub quota adjust``)."""
    result = [nodes.rubric("", "", nodes.literal(parser.prog, parser.prog), ids=["npuhub-" + "-".join(path)]),
              _help_block(parser)]
    for name, sub in _subcommands(parser).items():
        result += _section(sub, [*path, name])
    return result


def _help_block(parser: argparse.ArgumentParser) -> nodes.literal_block:
    text = f"$ {parser.prog} --help\n{_help(parser)}"
    return nodes.literal_block(text, text, language="text")


def setup(app):
    app.add_directive("npuhub-help", NPUHubHelp)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
